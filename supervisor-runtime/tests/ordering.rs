//! Start ordering: sequential groups gate on health, parallel `after` edges,
//! `start_timeout`, `ready_on_start`, and when a group is healthy.

use std::time::Duration;

use supervisor_runtime::{Backoff, Child, Group, Intensity, NodeState};
use supervisor_testkit::{start, Cmd, End, Lab};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn sequential_waits_for_each_child_to_be_healthy() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("a", lab.waiting_child()))
            .child(Child::new("b", lab.waiting_child()))
            .child(Child::new("c", lab.waiting_child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Starting).await;
    // However long a child stays unhealthy (no start timeout is set), the
    // next one does not start.
    tokio::time::sleep(HOUR).await;
    assert_eq!((lab.starts("app.b"), lab.starts("app.c")), (0, 0));
    lab.send("app.a", Cmd::Healthy).await;
    ev.wait("app.b", NodeState::Starting).await;
    tokio::time::sleep(HOUR).await;
    assert_eq!(lab.starts("app.c"), 0, "c waits for b");
    lab.send("app.b", Cmd::Healthy).await;
    ev.wait("app.c", NodeState::Starting).await;
    tokio::time::sleep(HOUR).await;
    assert!(
        !ev.saw("app", NodeState::Healthy),
        "not every child is healthy yet"
    );
    assert_eq!(h.snapshot().node("app").unwrap().state, NodeState::Starting);
    lab.send("app.c", Cmd::Healthy).await;
    ev.wait("app", NodeState::Healthy).await;
    assert_eq!(
        lab.lines(" start"),
        ["app.a start", "app.b start", "app.c start"]
    );
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_child_that_ends_done_lets_the_next_start() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("a", lab.waiting_child()))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Starting).await;
    // Not healthy, but done for good.
    lab.send("app.a", Cmd::End(End::DoNotRestart)).await;
    ev.wait("app.a", NodeState::Done).await;
    ev.wait("app.b", NodeState::Healthy).await;
    ev.wait("app", NodeState::Healthy).await;
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_child_that_signals_done_and_keeps_running_lets_the_next_start() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("a", lab.waiting_child()))
            .child(Child::new("b", lab.waiting_child()))
            .build()
            .unwrap(),
    );
    lab.send("app.a", Cmd::Healthy).await;
    lab.send("app.a", Cmd::Done).await;
    ev.wait("app.a", NodeState::Done).await;
    ev.wait("app.b", NodeState::Starting).await;
    lab.send("app.b", Cmd::Healthy).await;
    // Healthy or done counts: the group is healthy.
    ev.wait("app", NodeState::Healthy).await;
    assert!(lab.is_live("app.a"), "done does not end it");
    assert!(h.shutdown().await.is_clean());
    assert_eq!(lab.lines(" stopping"), ["app.b stopping", "app.a stopping"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_keeps_the_rest_of_a_sequential_group_waiting() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .backoff(Backoff::Fixed(Duration::from_secs(1)))
            .child(Child::new("a", lab.waiting_child()))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Starting).await;
    lab.send("app.a", Cmd::End(End::err("no db"))).await;
    ev.wait("app.a", NodeState::Backoff).await;
    ev.wait("app.a", NodeState::Starting).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(lab.starts("app.b"), 0);
    lab.send("app.a", Cmd::Healthy).await;
    ev.wait("app.b", NodeState::Healthy).await;
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn parallel_after_edges_gate_starts() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            // Forward references are allowed.
            .child(Child::new("z", lab.waiting_child()).after(["x", "y"]))
            .child(Child::new("x", lab.waiting_child()))
            .child(Child::new("y", lab.waiting_child()).after(["x"]))
            .child(Child::new("w", lab.waiting_child()))
            .build()
            .unwrap(),
    );
    ev.wait_all(&["app.x", "app.w"], NodeState::Starting).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!((lab.starts("app.y"), lab.starts("app.z")), (0, 0));
    lab.send("app.x", Cmd::Healthy).await;
    ev.wait("app.y", NodeState::Starting).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(lab.starts("app.z"), 0, "z also waits for y");
    lab.send("app.y", Cmd::Healthy).await;
    ev.wait("app.z", NodeState::Starting).await;
    lab.send("app.z", Cmd::Healthy).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!ev.saw("app", NodeState::Healthy), "w is not healthy yet");
    lab.send("app.w", Cmd::Healthy).await;
    ev.wait("app", NodeState::Healthy).await;
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn start_timeout_fails_a_slow_start_and_restarts_it() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .backoff(Backoff::Fixed(Duration::from_secs(1)))
            .child(Child::new("a", lab.waiting_child()).start_timeout(Duration::from_secs(2)))
            .build()
            .unwrap(),
    );
    let (_, t0) = ev.wait_at("app.a", NodeState::Starting).await;
    let (e, t1) = ev.wait_at("app.a", NodeState::Backoff).await;
    assert_eq!(t1 - t0, Duration::from_secs(2));
    let err = e.error.expect("the failure is reported").to_string();
    assert!(err.contains("start_timeout"), "{err}");
    assert!(
        lab.log().contains(&"app.a stopping".to_string()),
        "it was asked to stop first"
    );
    let (_, t2) = ev.wait_at("app.a", NodeState::Starting).await;
    assert_eq!(t2 - t1, Duration::from_secs(1));
    // Healthy in time this time: it stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    lab.send("app.a", Cmd::Healthy).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(lab.starts("app.a"), 2);
    let snap = h.snapshot();
    let a = snap.node("app.a").unwrap();
    assert_eq!(a.state, NodeState::Healthy);
    assert_eq!(a.restarts, 1);
    assert!(
        a.last_error.as_deref().unwrap().contains("start_timeout"),
        "{snap}"
    );
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn start_timeout_applies_to_a_nested_group() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .intensity(Intensity::Unlimited)
            .backoff(Backoff::Fixed(Duration::from_secs(1)))
            .group(
                Group::parallel("inner")
                    .start_timeout(Duration::from_secs(3))
                    .child(Child::new("ok", lab.child()))
                    .child(Child::new("slow", lab.waiting_child())),
            )
            .build()
            .unwrap(),
    );
    let (_, t0) = ev.wait_at("app.inner", NodeState::Starting).await;
    let (e, t1) = ev.wait_at("app.inner", NodeState::Backoff).await;
    assert_eq!(t1 - t0, Duration::from_secs(3));
    assert!(e.error.unwrap().to_string().contains("start_timeout"));
    // Its children were stopped before it restarted.
    assert!(lab.log().contains(&"app.inner.ok stopping".to_string()));
    ev.wait("app.inner.slow", NodeState::Starting).await;
    lab.send("app.inner.slow", Cmd::Healthy).await;
    ev.wait("app.inner", NodeState::Healthy).await;
    assert_eq!(lab.starts("app.inner.ok"), 2);
    assert_eq!(lab.overlaps(), 0);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ready_on_start_is_healthy_at_once() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("a", lab.waiting_child()).ready_on_start())
            // Also signals healthy itself: harmless.
            .child(Child::new("b", lab.child()).ready_on_start())
            .child(Child::new("c", lab.waiting_child()))
            .build()
            .unwrap(),
    );
    let first = ev.wait_for(|e| e.name == "app.a").await;
    assert_eq!(first.state, NodeState::Healthy, "no Starting phase");
    ev.wait("app.b", NodeState::Healthy).await;
    ev.wait("app.c", NodeState::Starting).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        lab.starts("app.b"),
        1,
        "an explicit healthy() under ready_on_start is no misuse"
    );
    assert!(!ev.saw("app.b", NodeState::Backoff));
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_group_is_healthy_when_every_child_is_healthy_or_done() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .group(
                Group::parallel("grp")
                    .child(Child::new("x", lab.waiting_child()))
                    .child(Child::new("y", lab.waiting_child()))
                    .child(Child::new("d", lab.waiting_child())),
            )
            .child(Child::new("z", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait_all(
        &["app.grp.x", "app.grp.y", "app.grp.d"],
        NodeState::Starting,
    )
    .await;
    lab.send("app.grp.x", Cmd::Healthy).await;
    lab.send("app.grp.d", Cmd::Healthy).await;
    lab.send("app.grp.d", Cmd::Done).await;
    lab.send("app.grp.d", Cmd::End(End::Ok)).await;
    ev.wait("app.grp.d", NodeState::Done).await;
    tokio::time::sleep(HOUR).await;
    assert!(!ev.saw("app.grp", NodeState::Healthy), "y is not healthy");
    assert_eq!(lab.starts("app.z"), 0, "z waits for the group");
    lab.send("app.grp.y", Cmd::Healthy).await;
    ev.wait("app.grp", NodeState::Healthy).await;
    ev.wait("app.z", NodeState::Healthy).await;
    ev.wait("app", NodeState::Healthy).await;
    assert!(h.shutdown().await.is_clean());
}
