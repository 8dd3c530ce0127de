//! A first look: a sequential group starts in order and stops in reverse;
//! a failed child restarts after its backoff.

use std::time::Duration;

use supervisor_runtime::{Backoff, Child, Group, NodeState};
use supervisor_testkit::{start, Cmd, End, Lab};

#[tokio::test(start_paused = true)]
async fn sequential_start_and_reverse_stop() {
    let lab = Lab::new();
    let tree = Group::sequential("app")
        .child(Child::new("a", lab.waiting_child()))
        .child(Child::new("b", lab.child()))
        .child(Child::new("c", lab.child()))
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    ev.wait("app.a", NodeState::Starting).await;
    // However long `a` stays unhealthy, nothing after it starts.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        (lab.starts("app.b"), lab.starts("app.c")),
        (0, 0),
        "b and c must wait for a to be healthy"
    );
    assert!(!ev.saw("app", NodeState::Healthy));
    lab.send("app.a", Cmd::Healthy).await;
    ev.wait("app", NodeState::Healthy).await;
    assert_eq!(
        lab.lines(" start"),
        ["app.a start", "app.b start", "app.c start"]
    );
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    let log = lab.log();
    let stops: Vec<_> = log
        .iter()
        .filter(|l| l.ends_with("stopping"))
        .cloned()
        .collect();
    assert_eq!(
        stops,
        ["app.c stopping", "app.b stopping", "app.a stopping"]
    );
    assert_eq!(lab.live_guards(), 0);
    h.join().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn failed_child_restarts_after_backoff() {
    let lab = Lab::new();
    let tree = Group::parallel("app")
        .backoff(Backoff::Fixed(Duration::from_secs(1)))
        .child(Child::new("a", lab.child()))
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    let e = ev.wait("app.a", NodeState::Backoff).await;
    assert_eq!(e.delay, Some(Duration::from_secs(1)));
    assert_eq!(e.error.unwrap().to_string(), "boom");
    ev.wait("app.a", NodeState::Healthy).await;
    assert_eq!(lab.starts("app.a"), 2);
    let snap = h.snapshot();
    assert_eq!(snap.node("app.a").unwrap().restarts, 1);
    assert_eq!(
        snap.node("app.a").unwrap().last_error.as_deref(),
        Some("boom")
    );
    println!("{snap}");
    h.shutdown().await;
    assert_eq!(lab.overlaps(), 0);
}
