//! Restart delays: exponential with jitter and a cap, fixed, none; the count
//! resets once the child stayed healthy for `max` (at least one second).

use std::time::Duration;

use supervisor_runtime::{Backoff, Child, Group, Intensity, NodeState, TreeHandle};
use supervisor_testkit::{start, Cmd, End, Events, Lab};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

fn tree(lab: &Lab, group: Option<Backoff>, child: Option<Backoff>) -> (TreeHandle, Events) {
    let mut c = Child::new("a", lab.child());
    if let Some(b) = child {
        c = c.backoff(b);
    }
    let mut g = Group::parallel("app").intensity(Intensity::Unlimited);
    if let Some(b) = group {
        g = g.backoff(b);
    }
    start(g.child(c).build().unwrap())
}

struct Restart {
    delay: Duration,
    /// From the failure to the next incarnation's start.
    took: Duration,
}

/// Fails `app.a` once healthy and waits for the next incarnation to start.
async fn fail(lab: &Lab, ev: &mut Events, h: &TreeHandle) -> Restart {
    if h.snapshot().node("app.a").map(|n| n.state) != Some(NodeState::Healthy) {
        ev.wait("app.a", NodeState::Healthy).await;
    }
    let t = Instant::now();
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    let delay = ev
        .wait("app.a", NodeState::Backoff)
        .await
        .delay
        .expect("delay");
    let (_, started) = ev.wait_at("app.a", NodeState::Starting).await;
    Restart {
        delay,
        took: started - t,
    }
}

fn assert_within(d: Duration, base: Duration, jitter: f64, what: &str) {
    let lo = base.as_secs_f64() * (1.0 - jitter) - 1e-9;
    let hi = base.as_secs_f64() * (1.0 + jitter) + 1e-9;
    let s = d.as_secs_f64();
    assert!(lo <= s && s <= hi, "{what}: {d:?} not in [{lo}, {hi}] s");
}

fn assert_took(r: &Restart, what: &str) {
    // Timers have millisecond resolution.
    assert!(
        r.took >= r.delay && r.took <= r.delay + MS,
        "{what}: delay {:?}, took {:?}",
        r.delay,
        r.took
    );
}

#[tokio::test(start_paused = true)]
async fn exponential_delays_grow_within_their_jitter_and_are_capped() {
    let lab = Lab::new();
    let b = Backoff::exponential().max(Duration::from_secs(1));
    let (h, mut ev) = tree(&lab, None, Some(b));
    let bases = [100, 200, 400, 800, 1000, 1000];
    for (n, base) in bases.into_iter().enumerate() {
        let r = fail(&lab, &mut ev, &h).await;
        let what = format!("restart n = {n}");
        assert_within(r.delay, base * MS, 0.2, &what);
        assert_took(&r, &what);
    }
    // Capped at max: jitter spreads around the cap, and it does spread.
    let mut seen = Vec::new();
    for n in 6..36 {
        let r = fail(&lab, &mut ev, &h).await;
        assert_within(
            r.delay,
            Duration::from_secs(1),
            0.2,
            &format!("restart n = {n}"),
        );
        assert_took(&r, &format!("restart n = {n}"));
        seen.push(r.delay);
    }
    let (min, max) = (seen.iter().min().unwrap(), seen.iter().max().unwrap());
    assert!(
        *min < Duration::from_secs(1) && *max > Duration::from_secs(1),
        "no jitter? {seen:?}"
    );
    assert_eq!(lab.starts("app.a"), 37);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_default_backoff_starts_at_100ms_doubling_with_20_percent_jitter() {
    let lab = Lab::new();
    let (h, mut ev) = tree(&lab, None, None);
    for (n, base) in [100u32, 200, 400, 800, 1600].into_iter().enumerate() {
        let r = fail(&lab, &mut ev, &h).await;
        assert_within(r.delay, base * MS, 0.2, &format!("n = {n}"));
        assert_took(&r, &format!("n = {n}"));
    }
    h.shutdown().await;

    // The jitter is there and it is 20 %: the first delays of many trees
    // spread over more than ±10 % of 100 ms and stay within ±20 %. (With
    // uniform jitter of ±20 %, 64 draws all above 90 ms, or all below
    // 110 ms, have a chance of 2·0.75⁶⁴ ≈ 2·10⁻⁸.)
    let mut firsts = Vec::new();
    for _ in 0..64 {
        let lab = Lab::new();
        let (h, mut ev) = tree(&lab, None, None);
        let r = fail(&lab, &mut ev, &h).await;
        assert_within(r.delay, 100 * MS, 0.2, "first delay");
        firsts.push(r.delay);
        h.shutdown().await;
    }
    let (min, max) = (firsts.iter().min().unwrap(), firsts.iter().max().unwrap());
    assert!(
        *min < 90 * MS && *max > 110 * MS,
        "first delays from {min:?} to {max:?}: not a jitter of 20 %"
    );
}

#[tokio::test(start_paused = true)]
async fn fixed_backoff_always_waits_the_same() {
    let lab = Lab::new();
    let (h, mut ev) = tree(&lab, None, Some(Backoff::Fixed(Duration::from_millis(750))));
    for n in 0..6 {
        let r = fail(&lab, &mut ev, &h).await;
        assert_eq!(r.delay, Duration::from_millis(750), "n = {n}");
        assert_took(&r, &format!("n = {n}"));
    }
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn no_backoff_restarts_at_once() {
    let lab = Lab::new();
    let (h, mut ev) = tree(&lab, None, Some(Backoff::None));
    for n in 0..6 {
        let r = fail(&lab, &mut ev, &h).await;
        assert_eq!(r.delay, Duration::ZERO, "n = {n}");
        assert!(r.took <= MS, "n = {n}: {:?}", r.took);
    }
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_childs_backoff_overrides_its_groups() {
    let lab = Lab::new();
    let (h, mut ev) = tree(
        &lab,
        Some(Backoff::Fixed(Duration::from_secs(1))),
        Some(Backoff::Fixed(Duration::from_secs(2))),
    );
    assert_eq!(fail(&lab, &mut ev, &h).await.delay, Duration::from_secs(2));
    h.shutdown().await;

    let lab = Lab::new();
    let (h, mut ev) = tree(&lab, Some(Backoff::Fixed(Duration::from_secs(1))), None);
    assert_eq!(fail(&lab, &mut ev, &h).await.delay, Duration::from_secs(1));
    h.shutdown().await;
}

/// Fails `app.a` after it stayed healthy for `healthy_for`.
async fn fail_after(lab: &Lab, ev: &mut Events, h: &TreeHandle, healthy_for: Duration) -> Duration {
    let (_, at) = ev.wait_at("app.a", NodeState::Healthy).await;
    tokio::time::sleep_until(at + healthy_for).await;
    fail(lab, ev, h).await.delay
}

#[tokio::test(start_paused = true)]
async fn the_count_resets_once_healthy_for_max() {
    let lab = Lab::new();
    let b = Backoff::exponential()
        .max(Duration::from_secs(2))
        .jitter(0.0);
    let (h, mut ev) = tree(&lab, None, Some(b));
    let quick = Duration::ZERO;
    assert_eq!(fail_after(&lab, &mut ev, &h, quick).await, 100 * MS);
    assert_eq!(fail_after(&lab, &mut ev, &h, quick).await, 200 * MS);
    assert_eq!(fail_after(&lab, &mut ev, &h, quick).await, 400 * MS);
    // Healthy for a bit less than max: the count goes on.
    assert_eq!(fail_after(&lab, &mut ev, &h, 1900 * MS).await, 800 * MS);
    // Healthy for max: back to the first delay.
    assert_eq!(fail_after(&lab, &mut ev, &h, 2000 * MS).await, 100 * MS);
    assert_eq!(fail_after(&lab, &mut ev, &h, quick).await, 200 * MS);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_reset_needs_at_least_one_second_of_health() {
    let lab = Lab::new();
    let b = Backoff::exponential().max(500 * MS).jitter(0.0);
    let (h, mut ev) = tree(&lab, None, Some(b));
    assert_eq!(
        fail_after(&lab, &mut ev, &h, Duration::ZERO).await,
        100 * MS
    );
    assert_eq!(
        fail_after(&lab, &mut ev, &h, Duration::ZERO).await,
        200 * MS
    );
    // Longer than max (500ms) but below one second: no reset.
    assert_eq!(fail_after(&lab, &mut ev, &h, 900 * MS).await, 400 * MS);
    assert_eq!(fail_after(&lab, &mut ev, &h, 1000 * MS).await, 100 * MS);
    h.shutdown().await;
}
