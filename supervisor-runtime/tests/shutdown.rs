//! Shutdown: per-node timeouts then abort, brutal, infinity, tasks blocked
//! in synchronous code, idempotence, no new children once it began, and
//! dropping every handle.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use supervisor_runtime::{Child, Context, ErrorKind, Group, NodeState, Shutdown};
use supervisor_testkit::{
    join, shutdown, start, start_real_time, within, Cmd, End, Lab, OnStart, REAL_LIMIT,
};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn an_overrunning_child_is_aborted_after_its_timeout() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("a", lab.child()))
            .child(Child::new("b", lab.child()).shutdown(Shutdown::Timeout(Duration::from_secs(2))))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.a", Cmd::SlowStop(Duration::from_secs(1)))
        .await;
    lab.send("app.b", Cmd::Hang).await;
    let t0 = Instant::now();
    let report = h.shutdown().await;
    // b: 2s then aborted; then a: 1s of slow but graceful stop.
    assert_eq!(Instant::now() - t0, Duration::from_secs(3));
    assert_eq!(report.aborted(), ["app.b"]);
    assert!(report.unstopped().is_empty());
    assert!(!report.is_clean());
    let b = report.node("app.b").unwrap();
    assert!(b.aborted && !b.unstopped);
    assert_eq!(b.state, NodeState::Stopped);
    assert!(!report.node("app.a").unwrap().aborted);
    // The aborted task's future was dropped: its guard ran.
    assert_eq!(lab.live_guards(), 0);
    assert!(
        !lab.log().contains(&"app.b stopping".to_string()),
        "b ignored cancellation"
    );
    assert_eq!(
        lab.pos("app.b end").unwrap() + 1,
        lab.pos("app.a stopping").unwrap()
    );
    join(&h)
        .await
        .expect("a requested shutdown is not an error for join()");
}

#[tokio::test(start_paused = true)]
async fn the_default_leaf_timeout_is_five_seconds() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .child(Child::new("a", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::Hang).await;
    let t0 = Instant::now();
    let report = h.shutdown().await;
    assert_eq!(Instant::now() - t0, Duration::from_secs(5));
    assert_eq!(report.aborted(), ["app.a"]);
    assert_eq!(lab.live_guards(), 0);
}

#[tokio::test(start_paused = true)]
async fn brutal_aborts_at_once_without_cancelling() {
    for policy in [Shutdown::Brutal, Shutdown::Timeout(Duration::ZERO)] {
        let lab = Lab::new();
        let (h, mut ev) = start(
            Group::parallel("app")
                .child(Child::new("a", lab.child()).shutdown(policy))
                .child(Child::new("b", lab.child()))
                .build()
                .unwrap(),
        );
        ev.wait("app", NodeState::Healthy).await;
        lab.send("app.b", Cmd::SlowStop(Duration::from_secs(1)))
            .await;
        let t0 = Instant::now();
        let report = h.shutdown().await;
        assert_eq!(
            Instant::now() - t0,
            Duration::from_secs(1),
            "{policy:?}: b's slow stop"
        );
        assert_eq!(report.aborted(), ["app.a"], "{policy:?}");
        let log = lab.log();
        assert!(
            !log.contains(&"app.a stopping".to_string()),
            "{policy:?}: {log:?}"
        );
        assert!(log.contains(&"app.a end".to_string()));
        // a ended at once, long before b.
        let ends = lab.times("app.a end");
        assert_eq!(ends, [t0], "{policy:?}");
        assert_eq!(lab.live_guards(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn infinity_waits_as_long_as_it_takes() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .child(Child::new("a", lab.child()).shutdown(Shutdown::Infinity))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::SlowStop(Duration::from_secs(3600)))
        .await;
    let t0 = Instant::now();
    let report = h.shutdown().await;
    assert_eq!(Instant::now() - t0, Duration::from_secs(3600));
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(lab.lines(" end"), ["app.a end"]);
}

#[tokio::test(start_paused = true)]
async fn groups_wait_for_their_children_by_default() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .group(
                Group::parallel("g")
                    .child(Child::new("x", lab.child()).shutdown(Shutdown::Infinity)),
            )
            .child(Child::new("z", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.g.x", Cmd::SlowStop(Duration::from_secs(600)))
        .await;
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    // Reverse order across levels: z, then g's children.
    assert!(lab.pos("app.z end").unwrap() < lab.pos("app.g.x stopping").unwrap());
    assert_eq!(report.node("app.g").unwrap().state, NodeState::Stopped);
    assert_eq!(report.node("app.g.x").unwrap().state, NodeState::Stopped);
}

/// Stop order stays the reverse of start order when a child in the middle
/// has already ended.
#[tokio::test(start_paused = true)]
async fn sequential_shutdown_looks_through_ended_children() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("a", lab.child()))
            .child(Child::new("b", lab.child()))
            .child(Child::new("c", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.b", Cmd::Done).await;
    lab.send("app.b", Cmd::End(End::Ok)).await;
    ev.wait("app.b", NodeState::Done).await;
    lab.send("app.c", Cmd::SlowStop(Duration::from_secs(1)))
        .await;
    let report = h.shutdown().await;
    assert!(report.is_clean());
    assert!(
        lab.pos("app.c end").unwrap() < lab.pos("app.a stopping").unwrap(),
        "{:#?}",
        lab.log()
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_waiting_out_a_backoff_is_not_restarted_by_a_shutdown() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .backoff(supervisor_runtime::Backoff::Fixed(Duration::from_secs(
                3600,
            )))
            .child(Child::new("a", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    ev.wait("app.a", NodeState::Backoff).await;
    let t0 = Instant::now();
    let report = h.shutdown().await;
    assert_eq!(Instant::now(), t0, "nothing to wait for");
    assert!(report.is_clean());
    assert_eq!(report.node("app.a").unwrap().state, NodeState::Stopped);
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert_eq!(lab.starts("app.a"), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_idempotent_and_concurrent_callers_get_the_same_report() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .child(Child::new("a", lab.child()).shutdown(Shutdown::Timeout(Duration::from_secs(1))))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.a", Cmd::Hang).await;
    let h2 = h.clone();
    let (r1, r2) = tokio::join!(h.shutdown(), h2.shutdown());
    assert_eq!(r1, r2);
    assert_eq!(r1.aborted(), ["app.a"]);
    let r3 = h.shutdown().await;
    assert_eq!(r1, r3);
    let t0 = Instant::now();
    let r4 = h2.shutdown().await;
    assert_eq!(Instant::now(), t0);
    assert_eq!(r1, r4);
    assert_eq!(lab.starts("app.a"), 1);
    join(&h).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn nothing_is_spawned_once_shutdown_began() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("a", lab.child()))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.b", Cmd::SlowStop(Duration::from_secs(2)))
        .await;
    let h2 = h.clone();
    let shutdown = tokio::spawn(async move { h2.shutdown().await });
    ev.wait("app.b", NodeState::Stopping).await;
    // a is not asked to stop yet, but the tree is shutting down.
    assert!(!lab.log().contains(&"app.a stopping".to_string()));
    lab.send("app.a", Cmd::Spawn("late")).await;
    lab.send("app.a", Cmd::SpawnGroup(vec!["late1", "late2"]))
        .await;
    let report = shutdown.await.unwrap();
    assert!(report.is_clean());
    let results = lab.spawn_results();
    assert_eq!(results.len(), 2);
    for (name, r) in results {
        let e = r.expect_err(&name);
        assert_eq!(e.kind(), ErrorKind::ShuttingDown, "{name}: {e}");
    }
    assert_eq!(lab.starts("app.a.late") + lab.starts("app.a.late1"), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_stops_the_tree() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("a", lab.child()))
            .child(Child::new(
                "b",
                lab.child_with(OnStart::SpawnThenHealthy(&["w"])),
            ))
            .build()
            .unwrap(),
    );
    let token = h.token();
    ev.wait("app", NodeState::Healthy).await;
    assert_eq!(lab.live_guards(), 3);
    let h2 = h.clone();
    drop(h);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!token.is_cancelled(), "a clone still holds the tree");
    drop(h2);
    assert!(token.is_cancelled());
    ev.wait("app", NodeState::Stopped).await;
    assert_eq!(lab.live_guards(), 0);
    // Gracefully, in order (b and the child it spawned first, then a).
    let stops = lab.lines(" stopping");
    assert_eq!(stops.len(), 3, "{stops:?}");
    assert_eq!(stops[2], "app.a stopping", "{stops:?}");
    assert!(lab.pos("app.b.w end").unwrap() < lab.pos("app.a stopping").unwrap());
}

/// A task blocked in synchronous code cannot be aborted: it is listed in
/// `unstopped()` and the shutdown still returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_blocked_in_sync_code_is_reported_unstopped() {
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = Arc::new(Mutex::new(Some(blocked)));
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let go_rx = Arc::new(Mutex::new(Some(go_rx)));
    let (in_tx, in_rx) = tokio::sync::oneshot::channel::<()>();
    let in_tx = Arc::new(Mutex::new(Some(in_tx)));
    let child = move |ctx: Context| {
        let blocked = blocked.clone();
        let go = go_rx.lock().unwrap().take();
        let inside = in_tx.lock().unwrap().take();
        async move {
            ctx.healthy();
            if let Some(go) = go {
                let _ = go.await;
            }
            let rx = blocked.lock().unwrap().take();
            if let Some(rx) = rx {
                if let Some(i) = inside {
                    let _ = i.send(());
                }
                // Blocks this worker thread; cancellation and abort cannot reach it.
                let _ = rx.recv();
            }
            Ok::<(), std::io::Error>(())
        }
    };
    let lab = Lab::new();
    // Subscribed before the start: on two worker threads the tree can be
    // healthy before the next line runs, and the wait must still see it.
    let (h, mut ev) = start_real_time(
        Group::parallel("app")
            .child(
                Child::new("blocker", child).shutdown(Shutdown::Timeout(Duration::from_millis(50))),
            )
            .child(Child::new("fine", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    go_tx.send(()).unwrap();
    within(REAL_LIMIT, "the blocker to block its thread", in_rx)
        .await
        .unwrap();
    let report = shutdown(&h, REAL_LIMIT).await;
    release.send(()).unwrap();
    assert_eq!(report.unstopped(), ["app.blocker"], "{report:?}");
    assert!(report.node("app.blocker").unwrap().unstopped);
    assert!(!report.node("app.fine").unwrap().aborted);
    assert!(!report.node("app.fine").unwrap().unstopped);
    assert!(!report.is_clean());
    assert_eq!(lab.live_guards(), 0);
}
