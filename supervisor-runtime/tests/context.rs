//! `Context`: wrong-order signals, spawned children and their lifetime,
//! spawn errors, `spawn_group`, `on_cancel`, `sleep`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use supervisor_runtime::{
    Backoff, Child, Context, ErrorKind, Group, Intensity, NodeState, Strategy, TreeHandle,
};
use supervisor_testkit::{start, Cmd, End, Events, Lab, OnStart};

fn two(lab: &Lab, a: impl supervisor_runtime::Runnable) -> (TreeHandle, Events) {
    start(
        Group::parallel("app")
            .intensity(Intensity::Unlimited)
            .backoff(Backoff::Fixed(Duration::from_secs(1)))
            .child(Child::new("a", a))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap(),
    )
}

async fn misuse(lab: &Lab, start: OnStart, cmds: &[Cmd], needle: &str) {
    let (h, mut ev) = two(lab, lab.child_with(start));
    ev.wait("app.b", NodeState::Healthy).await;
    for c in cmds {
        lab.send("app.a", c.clone()).await;
    }
    let e = ev.wait("app.a", NodeState::Backoff).await;
    let err = e.error.expect("the misuse is the failure").to_string();
    assert!(err.contains(needle), "{err}");
    ev.wait("app.a", NodeState::Starting).await;
    assert_eq!(lab.starts("app.a"), 2);
    let snap = h.snapshot();
    assert!(
        snap.node("app.a")
            .unwrap()
            .last_error
            .as_deref()
            .unwrap()
            .contains(needle),
        "{snap}"
    );
    // The rest of the tree is sound.
    assert_eq!(snap.node("app.b").unwrap().state, NodeState::Healthy);
    assert_eq!(lab.starts("app.b"), 1);
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(lab.live_guards(), 0);
    assert_eq!(lab.overlaps(), 0);
}

#[tokio::test(start_paused = true)]
async fn healthy_twice_fails_the_incarnation() {
    misuse(
        &Lab::new(),
        OnStart::Healthy,
        &[Cmd::Healthy],
        "healthy()` called twice",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn done_before_healthy_fails_the_incarnation() {
    misuse(
        &Lab::new(),
        OnStart::Wait,
        &[Cmd::Done],
        "before `ctx.healthy()`",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn done_twice_fails_the_incarnation() {
    misuse(
        &Lab::new(),
        OnStart::Healthy,
        &[Cmd::Done, Cmd::Done],
        "done()` called twice",
    )
    .await;
}

/// The misuse stands even if the incarnation then returns `Ok(())` after `done()`.
#[tokio::test(start_paused = true)]
async fn a_misused_incarnation_that_returns_ok_is_still_a_failure() {
    misuse(
        &Lab::new(),
        OnStart::Healthy,
        &[Cmd::Done, Cmd::Healthy, Cmd::End(End::Ok)],
        "healthy()` called twice",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn done_then_ok_keeps_spawned_children_until_the_node_is_stopped() {
    let lab = Lab::new();
    let (h, mut ev) = two(&lab, lab.child_with(OnStart::SpawnThenHealthy(&["w"])));
    ev.wait("app.a.w", NodeState::Healthy).await;
    lab.send("app.a", Cmd::Done).await;
    lab.send("app.a", Cmd::End(End::Ok)).await;
    ev.wait("app.a", NodeState::Done).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(lab.is_live("app.a.w"), "{:#?}", lab.log());
    assert!(!lab.is_live("app.a"));
    let snap = h.snapshot();
    assert_eq!(snap.node("app.a").unwrap().state, NodeState::Done, "{snap}");
    assert_eq!(
        snap.node("app.a.w").unwrap().state,
        NodeState::Healthy,
        "{snap}"
    );
    // Its children still restart on their own.
    lab.send("app.a.w", Cmd::End(End::err("w broke"))).await;
    ev.wait("app.a.w", NodeState::Backoff).await;
    ev.wait("app.a.w", NodeState::Healthy).await;
    assert_eq!(lab.starts("app.a"), 1);
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert!(lab.log().contains(&"app.a.w stopping".to_string()));
    assert_eq!(lab.live_guards(), 0);
}

#[tokio::test(start_paused = true)]
async fn done_then_ok_keeps_spawned_children_until_the_node_is_restarted() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .strategy(Strategy::OneForAll)
            .backoff(Backoff::None)
            .child(Child::new(
                "a",
                lab.child_with(OnStart::SpawnThenHealthy(&["w"])),
            ))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.a.w", NodeState::Healthy).await;
    lab.send("app.a.w", Cmd::SlowStop(Duration::from_secs(2)))
        .await;
    lab.send("app.a", Cmd::Done).await;
    lab.send("app.a", Cmd::End(End::Ok)).await;
    ev.wait("app.a", NodeState::Done).await;
    lab.send("app.b", Cmd::End(End::err("boom"))).await;
    // The done node reruns with its group, once its children have ended.
    ev.wait("app.a.w", NodeState::Healthy).await;
    let w_end = lab.times("app.a.w end")[0];
    let a_start = lab.times("app.a start")[1];
    assert!(a_start >= w_end, "{:#?}", lab.log_at());
    assert!(lab.pos("app.a.w end").unwrap() < lab.positions("app.a start")[1]);
    assert_eq!(lab.starts("app.a"), 2);
    assert_eq!(lab.starts("app.a.w"), 2);
    assert_eq!(lab.overlaps(), 0);
    h.shutdown().await;
    assert_eq!(lab.live_guards(), 0);
}

#[tokio::test(start_paused = true)]
async fn without_done_spawned_children_end_with_the_incarnation() {
    let lab = Lab::new();
    let (h, mut ev) = two(&lab, lab.child_with(OnStart::SpawnThenHealthy(&["w"])));
    ev.wait("app.a.w", NodeState::Healthy).await;
    lab.send("app.a.w", Cmd::SlowStop(Duration::from_secs(3)))
        .await;
    lab.send("app.a", Cmd::End(End::Ok)).await;
    ev.wait("app.a", NodeState::Backoff).await;
    // a's ending is reported only once w has ended.
    let a_end = lab.times("app.a end")[0];
    let w_end = lab.times("app.a.w end")[0];
    assert_eq!(w_end - a_end, Duration::from_secs(3));
    ev.wait("app.a.w", NodeState::Healthy).await;
    assert_eq!(lab.starts("app.a.w"), 2);
    assert_eq!(lab.overlaps(), 0);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn spawn_rejects_bad_and_duplicate_names_and_starts_nothing() {
    let lab = Lab::new();
    let (h, mut ev) = two(&lab, lab.child_with(OnStart::SpawnThenHealthy(&["w"])));
    ev.wait("app.a.w", NodeState::Healthy).await;
    lab.send("app.a", Cmd::Spawn("Bad.Name")).await;
    lab.send("app.a", Cmd::Spawn("")).await;
    lab.send("app.a", Cmd::Spawn("w")).await;
    lab.send("app.a", Cmd::SpawnGroup(vec!["x", "NOPE"])).await;
    lab.send("app.a", Cmd::SpawnGroup(vec!["x", "x"])).await;
    lab.send("app.a", Cmd::SpawnGroup(vec!["x", "w"])).await;
    lab.send("app.a", Cmd::Spawn("ok-1")).await;
    ev.wait("app.a.ok-1", NodeState::Healthy).await;
    let kinds: Vec<_> = lab
        .spawn_results()
        .into_iter()
        .map(|(n, r)| (n, r.err().map(|e| e.kind())))
        .collect();
    assert_eq!(
        kinds,
        [
            ("w".to_string(), None),
            ("Bad.Name".to_string(), Some(ErrorKind::InvalidName)),
            ("".to_string(), Some(ErrorKind::InvalidName)),
            ("w".to_string(), Some(ErrorKind::DuplicateName)),
            ("x,NOPE".to_string(), Some(ErrorKind::InvalidName)),
            ("x,x".to_string(), Some(ErrorKind::DuplicateName)),
            ("x,w".to_string(), Some(ErrorKind::DuplicateName)),
            ("ok-1".to_string(), None),
        ]
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        lab.starts("app.a.x"),
        0,
        "a group with one bad name starts nothing"
    );
    assert_eq!(lab.starts("app.a.w"), 1);
    assert_eq!(lab.starts("app.a"), 1, "errors are returned, not failures");
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_name_is_free_again_once_its_child_ended_for_good() {
    let lab = Lab::new();
    let (h, mut ev) = two(&lab, lab.child_with(OnStart::SpawnThenHealthy(&["w"])));
    ev.wait("app.a.w", NodeState::Healthy).await;
    lab.send("app.a.w", Cmd::End(End::DoNotRestart)).await;
    ev.wait("app.a.w", NodeState::Done).await;
    lab.send("app.a", Cmd::Spawn("w")).await;
    ev.wait("app.a.w", NodeState::Healthy).await;
    assert!(lab.spawn_results().iter().all(|(_, r)| r.is_ok()));
    assert_eq!(lab.starts("app.a.w"), 2);
    assert_eq!(lab.overlaps(), 0);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn spawn_group_children_restart_together() {
    let lab = Lab::new();
    let (h, mut ev) = two(&lab, lab.child());
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::SpawnGroup(vec!["x", "y", "z"]))
        .await;
    ev.wait_all(&["app.a.x", "app.a.y", "app.a.z"], NodeState::Healthy)
        .await;
    lab.clear_log();
    lab.send("app.a.y", Cmd::End(End::err("y broke"))).await;
    ev.wait_all(&["app.a.x", "app.a.y", "app.a.z"], NodeState::Healthy)
        .await;
    for n in ["app.a.x", "app.a.y", "app.a.z"] {
        assert_eq!(lab.starts(n), 2, "{n}");
    }
    let log = lab.log();
    let last_end = log.iter().rposition(|l| l.ends_with(" end")).unwrap();
    let first_start = log.iter().position(|l| l.ends_with(" start")).unwrap();
    assert!(
        last_end < first_start,
        "all stopped before any starts: {log:#?}"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.ends_with(" start"))
            .cloned()
            .collect::<Vec<_>>(),
        ["app.a.x start", "app.a.y start", "app.a.z start"]
    );
    assert_eq!(lab.starts("app.a"), 1, "the owner is untouched");
    assert_eq!(lab.overlaps(), 0);
    h.shutdown().await;
    assert_eq!(lab.live_guards(), 0);
}

type Calls = Arc<Mutex<Vec<String>>>;

fn recorder(calls: &Calls) -> impl supervisor_runtime::Runnable {
    let calls = calls.clone();
    move |ctx: Context| {
        let calls = calls.clone();
        async move {
            let n = ctx.incarnation();
            let c = calls.clone();
            ctx.on_cancel(move || c.lock().unwrap().push(format!("on_cancel {n}")));
            ctx.healthy();
            ctx.cancelled().await;
            assert!(ctx.is_cancelled());
            // Registered after cancellation: called at once.
            let c = calls.clone();
            ctx.on_cancel(move || c.lock().unwrap().push(format!("late {n}")));
            calls.lock().unwrap().push(format!("end {n}"));
            Ok::<(), std::io::Error>(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn on_cancel_is_called_once_per_incarnation() {
    let calls = Calls::default();
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .strategy(Strategy::OneForAll)
            .backoff(Backoff::None)
            .child(Child::new("a", recorder(&calls)))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    assert!(calls.lock().unwrap().is_empty(), "not before a stop");
    lab.send("app.b", Cmd::End(End::err("boom"))).await;
    ev.wait_all(&["app.a", "app.b"], NodeState::Healthy).await;
    assert_eq!(*calls.lock().unwrap(), ["on_cancel 1", "late 1", "end 1"]);
    assert!(h.shutdown().await.is_clean());
    assert_eq!(
        *calls.lock().unwrap(),
        [
            "on_cancel 1",
            "late 1",
            "end 1",
            "on_cancel 2",
            "late 2",
            "end 2"
        ]
    );
}

/// `on_cancel` for something that does not watch cancellation itself.
#[tokio::test(start_paused = true)]
async fn on_cancel_can_stop_what_ignores_cancellation() {
    let child = |ctx: Context| async move {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        ctx.on_cancel(move || {
            let _ = tx.send(());
        });
        ctx.healthy();
        let _ = rx.await;
        Ok::<(), std::io::Error>(())
    };
    let (h, mut ev) = start(
        Group::parallel("app")
            .child(Child::new("a", child))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Healthy).await;
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test(start_paused = true)]
async fn sleep_returns_true_when_cut_short_by_cancellation() {
    let calls = Calls::default();
    let c = calls.clone();
    let child = move |ctx: Context| {
        let calls = c.clone();
        async move {
            ctx.healthy();
            let t = tokio::time::Instant::now();
            let cut = ctx.sleep(Duration::from_secs(10)).await;
            calls
                .lock()
                .unwrap()
                .push(format!("{cut} {:?}", t.elapsed()));
            let t = tokio::time::Instant::now();
            let cut = ctx.sleep(Duration::from_secs(3600)).await;
            calls
                .lock()
                .unwrap()
                .push(format!("{cut} {:?}", t.elapsed()));
            // Already cancelled: returns at once.
            let cut = ctx.sleep(Duration::from_secs(3600)).await;
            calls.lock().unwrap().push(format!("{cut}"));
            Ok::<(), std::io::Error>(())
        }
    };
    let (h, mut ev) = start(
        Group::parallel("app")
            .child(Child::new("a", child))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Healthy).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(*calls.lock().unwrap(), ["false 10s", "true 50s", "true"]);
}

#[tokio::test(start_paused = true)]
async fn context_knows_its_name_and_incarnation() {
    let calls = Calls::default();
    let c = calls.clone();
    let child = move |ctx: Context| {
        let calls = c.clone();
        async move {
            calls
                .lock()
                .unwrap()
                .push(format!("{} {}", ctx.name(), ctx.incarnation()));
            let clone = ctx.clone();
            clone.healthy();
            if ctx.incarnation() < 3 {
                return Err("again");
            }
            ctx.cancelled().await;
            Ok(())
        }
    };
    let (h, mut ev) = start(
        Group::sequential("app")
            .backoff(Backoff::None)
            .group(
                Group::parallel("web")
                    .backoff(Backoff::None)
                    .child(Child::new("http", child)),
            )
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    assert_eq!(
        *calls.lock().unwrap(),
        ["app.web.http 1", "app.web.http 2", "app.web.http 3"]
    );
    h.shutdown().await;
}
