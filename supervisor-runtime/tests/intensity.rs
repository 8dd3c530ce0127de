//! Restart intensity: the exact window boundary, `max = 0`, unlimited, and
//! escalation through three levels of groups.

use std::error::Error as _;
use std::time::Duration;

use supervisor_runtime::{
    Backoff, Child, Error, ErrorKind, Group, Intensity, NodeState, TreeHandle,
};
use supervisor_testkit::{join, start, Cmd, End, Events, Lab};
use tokio::time::Instant;

fn one_child(lab: &Lab, intensity: Option<Intensity>) -> (TreeHandle, Events) {
    let mut g = Group::parallel("app").backoff(Backoff::None);
    if let Some(i) = intensity {
        g = g.intensity(i);
    }
    start(
        g.child(Child::new("a", lab.child()))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap(),
    )
}

/// Fails `app.a` once it is healthy; returns the time of the failure.
async fn fail(lab: &Lab, ev: &mut Events) -> Instant {
    ev.wait("app.a", NodeState::Healthy).await;
    let t = Instant::now();
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    t
}

async fn advance_to(t: Instant) {
    let now = Instant::now();
    assert!(t >= now, "already {:?} past the target", now - t);
    tokio::time::advance(t - now).await;
    assert_eq!(Instant::now(), t);
}

fn assert_gave_up(e: &Error, node: &str, cause: &str) {
    assert_eq!(e.kind(), ErrorKind::GaveUp, "{e:?}");
    assert_eq!(e.node(), Some(node), "{e:?}");
    let mut chain = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(c) = cur {
        chain.push(c.to_string());
        cur = c.source();
    }
    assert!(
        chain.iter().any(|c| c == cause),
        "source chain {chain:?} lacks {cause:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn three_restarts_within_the_window_are_fine_the_fourth_gives_up() {
    let lab = Lab::new();
    let (h, mut ev) = one_child(&lab, Some(Intensity::new(3, Duration::from_secs(5))));
    for _ in 0..3 {
        fail(&lab, &mut ev).await;
        ev.wait("app.a", NodeState::Backoff).await;
    }
    ev.wait("app.a", NodeState::Healthy).await;
    let snap = h.snapshot();
    assert_eq!(snap.node("app.a").unwrap().restarts, 3);
    assert_eq!(
        snap.node("app").unwrap().state,
        NodeState::Healthy,
        "{snap}"
    );
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    let e = join(&h)
        .await
        .expect_err("the fourth restart exceeds max = 3");
    assert_gave_up(&e, "app.a", "boom");
    assert_eq!(lab.starts("app.a"), 4);
    // Giving up stops every child.
    assert!(lab.log().contains(&"app.b stopping".to_string()));
    assert_eq!(lab.live_guards(), 0);
    assert!(h.token().is_cancelled());
    let snap = h.snapshot();
    assert_eq!(snap.node("app").unwrap().state, NodeState::Failed, "{snap}");
    assert_eq!(
        snap.node("app.a").unwrap().state,
        NodeState::Failed,
        "{snap}"
    );
}

/// Fails `app.a` at `t`, once it is healthy again.
async fn fail_at(lab: &Lab, ev: &mut Events, t: Instant) {
    ev.wait("app.a", NodeState::Healthy).await;
    advance_to(t).await;
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
}

/// Failures spaced so that only a window of (nearly exactly) five seconds
/// and a limit of three give this outcome: at 0, 1.5, 3 and 5 s the first
/// has just left a 5 s window (a longer one would give up here), and at
/// 6.4 s four failures lie within 5 s (a window under 4.9 s would hold only
/// three).
#[tokio::test(start_paused = true)]
async fn the_default_intensity_is_three_within_five_seconds() {
    let lab = Lab::new();
    let (h, mut ev) = one_child(&lab, None);
    let t0 = fail(&lab, &mut ev).await;
    for ms in [1500, 3000, 5000] {
        fail_at(&lab, &mut ev, t0 + Duration::from_millis(ms)).await;
    }
    ev.wait("app.a", NodeState::Backoff).await;
    ev.wait("app.a", NodeState::Healthy).await;
    let snap = h.snapshot();
    assert_eq!(
        snap.node("app").unwrap().state,
        NodeState::Healthy,
        "{snap}"
    );
    assert_eq!(snap.node("app.a").unwrap().restarts, 4, "{snap}");
    advance_to(t0 + Duration::from_millis(6400)).await;
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    let e = join(&h).await.unwrap_err();
    assert_gave_up(&e, "app.a", "boom");
    assert_eq!(lab.starts("app.a"), 5);
}

#[tokio::test(start_paused = true)]
async fn a_failure_leaves_the_window_exactly_at_within() {
    let lab = Lab::new();
    let (h, mut ev) = one_child(&lab, Some(Intensity::new(3, Duration::from_secs(5))));
    let f1 = fail(&lab, &mut ev).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    fail(&lab, &mut ev).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    fail(&lab, &mut ev).await;
    ev.wait("app.a", NodeState::Healthy).await;
    // Exactly `within` after the first: it has left the window.
    advance_to(f1 + Duration::from_secs(5)).await;
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    ev.wait("app.a", NodeState::Backoff).await;
    ev.wait("app.a", NodeState::Healthy).await;
    assert_eq!(h.snapshot().node("app.a").unwrap().restarts, 4);
    assert_eq!(h.snapshot().node("app").unwrap().state, NodeState::Healthy);
    // The second and third are still inside: one more is one too many.
    lab.send("app.a", Cmd::End(End::err("again"))).await;
    let e = join(&h).await.unwrap_err();
    assert_gave_up(&e, "app.a", "again");
    assert_eq!(lab.starts("app.a"), 5);
}

#[tokio::test(start_paused = true)]
async fn a_failure_just_inside_the_window_still_counts() {
    let lab = Lab::new();
    let (h, mut ev) = one_child(&lab, Some(Intensity::new(3, Duration::from_secs(5))));
    let f1 = fail(&lab, &mut ev).await;
    fail(&lab, &mut ev).await;
    fail(&lab, &mut ev).await;
    ev.wait("app.a", NodeState::Healthy).await;
    advance_to(f1 + Duration::from_secs(5) - Duration::from_millis(1)).await;
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    let e = join(&h).await.unwrap_err();
    assert_gave_up(&e, "app.a", "boom");
    assert_eq!(lab.starts("app.a"), 4);
}

#[tokio::test(start_paused = true)]
async fn spread_out_failures_never_give_up() {
    let lab = Lab::new();
    let (h, mut ev) = one_child(&lab, Some(Intensity::new(3, Duration::from_secs(5))));
    for _ in 0..20 {
        fail(&lab, &mut ev).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    ev.wait("app.a", NodeState::Healthy).await;
    assert_eq!(h.snapshot().node("app.a").unwrap().restarts, 20);
    assert!(h.shutdown().await.is_clean());
    join(&h).await.expect("never gave up");
}

#[tokio::test(start_paused = true)]
async fn max_zero_gives_up_on_the_first_failure() {
    let lab = Lab::new();
    let (h, mut ev) = one_child(&lab, Some(Intensity::new(0, Duration::from_secs(5))));
    fail(&lab, &mut ev).await;
    let e = join(&h).await.unwrap_err();
    assert_gave_up(&e, "app.a", "boom");
    assert_eq!(lab.starts("app.a"), 1);
    assert!(
        !ev.saw("app.a", NodeState::Backoff),
        "no restart was attempted"
    );
}

#[tokio::test(start_paused = true)]
async fn unlimited_never_gives_up() {
    let lab = Lab::new();
    let (h, mut ev) = one_child(&lab, Some(Intensity::Unlimited));
    for _ in 0..50 {
        fail(&lab, &mut ev).await;
    }
    ev.wait("app.a", NodeState::Healthy).await;
    assert_eq!(h.snapshot().node("app.a").unwrap().restarts, 50);
    assert_eq!(lab.starts("app.b"), 1);
    assert!(h.shutdown().await.is_clean());
    join(&h).await.unwrap();
}

/// A plain `Ok` exit of a permanent child counts as a restart too.
#[tokio::test(start_paused = true)]
async fn exits_of_permanent_children_count() {
    let lab = Lab::new();
    let (h, mut ev) = one_child(&lab, Some(Intensity::new(1, Duration::from_secs(5))));
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::End(End::Ok)).await;
    ev.wait("app.a", NodeState::Backoff).await;
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::End(End::Ok)).await;
    let e = join(&h).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::GaveUp);
    assert_eq!(e.node(), Some("app.a"));
    assert!(e.source().unwrap().to_string().contains("app.a"), "{e:?}");
}

/// leaf fails → `inner` gives up after 2 failures → `mid` restarts it (a
/// fresh count) → … → `mid` gives up → `app` restarts `mid` → … → `app`
/// gives up. With max = 1 everywhere the limits multiply: 2·2·2 leaf starts.
#[tokio::test(start_paused = true)]
async fn giving_up_escalates_through_three_levels() {
    let lab = Lab::new();
    let limit = Intensity::new(1, Duration::from_secs(60));
    let tree = Group::parallel("app")
        .intensity(limit)
        .backoff(Backoff::None)
        .child(Child::new("bystander", lab.child()))
        .group(
            Group::parallel("mid")
                .intensity(limit)
                .backoff(Backoff::None)
                .group(
                    Group::parallel("inner")
                        .intensity(limit)
                        .backoff(Backoff::None)
                        .child(Child::new("leaf", lab.child())),
                ),
        )
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    for k in 0..8 {
        ev.wait("app.mid.inner.leaf", NodeState::Healthy).await;
        assert_eq!(lab.starts("app.mid.inner.leaf"), k + 1);
        lab.send("app.mid.inner.leaf", Cmd::End(End::err("leaf broke")))
            .await;
    }
    let e = join(&h).await.expect_err("the root gives up");
    // The node whose failure exceeded the root's limit is `mid`.
    assert_gave_up(&e, "app.mid", "leaf broke");
    // Each level names its own culprit along the chain.
    let mid = e
        .source()
        .unwrap()
        .downcast_ref::<Error>()
        .expect("mid's error");
    assert_eq!(mid.kind(), ErrorKind::GaveUp);
    assert_eq!(mid.node(), Some("app.mid.inner"));
    let inner = mid
        .source()
        .unwrap()
        .downcast_ref::<Error>()
        .expect("inner's error");
    assert_eq!(inner.node(), Some("app.mid.inner.leaf"));
    assert_eq!(inner.source().unwrap().to_string(), "leaf broke");
    assert_eq!(lab.starts("app.mid.inner.leaf"), 8);
    assert_eq!(lab.starts("app.bystander"), 1, "one_for_one at the root");
    assert_eq!(lab.live_guards(), 0);
    assert_eq!(lab.overlaps(), 0);
    // The restarts of the groups were visible as events.
    let mid_restarts = ev
        .of("app.mid")
        .iter()
        .filter(|e| e.state == NodeState::Backoff)
        .count();
    assert_eq!(mid_restarts, 1);
}
