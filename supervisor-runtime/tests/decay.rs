//! Failure decay (suptree/suture): `f = f·0.5^(Δt/half_life) + 1`; above the
//! threshold, restarts wait out the pause; running siblings are untouched;
//! the group never gives up.

use std::time::Duration;

use supervisor_runtime::{Backoff, Child, Decay, Group, NodeState, TreeHandle};
use supervisor_testkit::{join, start, Cmd, End, Events, Lab};
use tokio::time::Instant;

const PAUSE: Duration = Duration::from_secs(10);

fn tree(lab: &Lab) -> (TreeHandle, Events) {
    start(
        Group::parallel("app")
            .decay(Decay::new(Duration::from_secs(30), 3.5, PAUSE))
            .backoff(Backoff::None)
            .child(Child::new("a", lab.child()))
            .child(Child::new("b", lab.child()))
            .child(Child::new("c", lab.child()))
            .build()
            .unwrap(),
    )
}

/// Fails `name` once healthy; returns the Backoff event's delay and the time
/// of the failure.
async fn fail(lab: &Lab, ev: &mut Events, h: &TreeHandle, name: &str) -> (Duration, Instant) {
    // The state and its event change together: not healthy yet means the
    // event is still to come.
    if h.snapshot().node(name).map(|n| n.state) != Some(NodeState::Healthy) {
        ev.wait(name, NodeState::Healthy).await;
    }
    let t = Instant::now();
    lab.send(name, Cmd::End(End::err("boom"))).await;
    let e = ev.wait(name, NodeState::Backoff).await;
    (e.delay.expect("a Backoff event carries its delay"), t)
}

#[tokio::test(start_paused = true)]
async fn the_worked_example_pauses_on_the_fifth_failure() {
    let lab = Lab::new();
    let (h, mut ev) = tree(&lab);
    // t0, t0: f = 1, 2
    let (d1, t0) = fail(&lab, &mut ev, &h, "app.a").await;
    let (d2, _) = fail(&lab, &mut ev, &h, "app.a").await;
    // t0+30s ×3: f = 2·½ + 1 = 2, 3, 4 > 3.5
    tokio::time::sleep_until(t0 + Duration::from_secs(30)).await;
    let (d3, _) = fail(&lab, &mut ev, &h, "app.a").await;
    let (d4, _) = fail(&lab, &mut ev, &h, "app.a").await;
    assert_eq!(
        [d1, d2, d3, d4],
        [Duration::ZERO; 4],
        "f ≤ 3.5: no pause yet"
    );
    let (d5, t5) = fail(&lab, &mut ev, &h, "app.a").await;
    assert!(
        d5 >= PAUSE,
        "the fifth failure's restart waits the pause: {d5:?}"
    );
    assert_eq!(d5, PAUSE);

    // During the pause: a waits, its running siblings are untouched.
    tokio::time::sleep(PAUSE / 2).await;
    let snap = h.snapshot();
    assert_eq!(
        snap.node("app.a").unwrap().state,
        NodeState::Backoff,
        "{snap}"
    );
    assert_eq!(
        snap.node("app.b").unwrap().state,
        NodeState::Healthy,
        "{snap}"
    );
    assert_eq!(lab.starts("app.a"), 5);
    // Another child failing during the pause waits for its end too.
    let (dc, tc) = fail(&lab, &mut ev, &h, "app.c").await;
    assert_eq!(tc + dc, t5 + PAUSE, "c restarts when the pause ends");

    let (_, started) = ev.wait_at("app.a", NodeState::Starting).await;
    assert!(
        started >= t5 + PAUSE,
        "a restarted {:?} after its failure",
        started - t5
    );
    assert!(
        started - t5 < PAUSE + Duration::from_millis(5),
        "{:?}",
        started - t5
    );
    ev.wait("app.c", NodeState::Starting).await;
    assert_eq!(lab.starts("app.b"), 1, "b never restarted");
    assert_eq!(lab.starts("app.c"), 2);

    // It never gives up: after the pause the count starts again from 0, so
    // every fourth failure in a burst pauses again.
    let mut pauses = 0;
    for _ in 0..20 {
        let (d, _) = fail(&lab, &mut ev, &h, "app.a").await;
        if d >= PAUSE {
            pauses += 1;
        }
    }
    assert_eq!(pauses, 5, "f = 1, 2, 3, 4 (pause) after every reset");
    tokio::time::sleep(PAUSE * 2).await;
    assert_eq!(
        h.snapshot().node("app.a").unwrap().state,
        NodeState::Healthy
    );
    assert_eq!(h.snapshot().node("app").unwrap().state, NodeState::Healthy);
    assert!(h.shutdown().await.is_clean());
    join(&h).await.expect("a decaying group never gives up");
    assert_eq!(lab.overlaps(), 0);
}

/// With one failure per half-life, f converges to 2 and never crosses 3.5
/// (a plain counter would have paused at the fourth).
#[tokio::test(start_paused = true)]
async fn failures_one_half_life_apart_decay_and_never_pause() {
    let lab = Lab::new();
    let (h, mut ev) = tree(&lab);
    for _ in 0..20 {
        let (d, t) = fail(&lab, &mut ev, &h, "app.a").await;
        assert_eq!(d, Duration::ZERO);
        tokio::time::sleep_until(t + Duration::from_secs(30)).await;
    }
    assert_eq!(h.snapshot().node("app.a").unwrap().restarts, 20);
    h.shutdown().await;
}

/// Failures just under the threshold, then half a half-life: f = 3·2^-½ + 1
/// ≈ 3.12 — no pause; one more right away: ≈ 4.12 — pause.
#[tokio::test(start_paused = true)]
async fn the_count_decays_continuously() {
    let lab = Lab::new();
    let (h, mut ev) = tree(&lab);
    let (_, t0) = fail(&lab, &mut ev, &h, "app.a").await;
    fail(&lab, &mut ev, &h, "app.b").await;
    fail(&lab, &mut ev, &h, "app.c").await;
    tokio::time::sleep_until(t0 + Duration::from_secs(15)).await;
    let (d, _) = fail(&lab, &mut ev, &h, "app.a").await;
    assert_eq!(d, Duration::ZERO);
    let (d, _) = fail(&lab, &mut ev, &h, "app.b").await;
    assert_eq!(d, PAUSE);
    h.shutdown().await;
}
