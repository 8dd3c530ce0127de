//! Liveness: a leaf with a watchdog must call `ctx.alive()` at least every
//! timeout once healthy; silence is a failure, restarted like any other.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use supervisor_runtime::{Backoff, Child, Context, ErrorKind, Group, Intensity, NodeState};
use supervisor_testkit::start;
use tokio::time::Instant;

const S: Duration = Duration::from_secs(1);

/// A child that becomes healthy after `warmup`, then calls `ctx.alive()`
/// every `every` for `beats` times and goes silent (still running).
fn beating(
    warmup: Duration,
    every: Duration,
    beats: u32,
    starts: Arc<AtomicU32>,
) -> impl Fn(Context) -> futures_like::Fut + Send + Sync + 'static {
    move |ctx: Context| {
        let starts = starts.clone();
        Box::pin(async move {
            starts.fetch_add(1, Ordering::SeqCst);
            if ctx.sleep(warmup).await {
                return Ok(());
            }
            ctx.healthy();
            for _ in 0..beats {
                if ctx.sleep(every).await {
                    return Ok(());
                }
                ctx.alive();
            }
            ctx.cancelled().await;
            Ok(())
        })
    }
}

mod futures_like {
    pub type Fut =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), std::io::Error>> + Send>>;
}

#[tokio::test(start_paused = true)]
async fn a_child_that_keeps_beating_stays_healthy() {
    let starts = Arc::new(AtomicU32::new(0));
    let tree = Group::parallel("app")
        .child(
            Child::new("w", beating(S, S, u32::MAX, starts.clone()))
                .watchdog(Duration::from_secs(2)),
        )
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    ev.wait("app.w", NodeState::Healthy).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1, "{:?}", ev.trace());
    assert_eq!(
        h.snapshot().node("app.w").unwrap().state,
        NodeState::Healthy
    );
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn silence_for_the_timeout_is_a_failure_restarted_after_the_backoff() {
    let starts = Arc::new(AtomicU32::new(0));
    let tree = Group::parallel("app")
        .intensity(Intensity::new(10, Duration::from_secs(3600)))
        .child(
            Child::new("w", beating(S, S, 3, starts.clone()))
                .watchdog(Duration::from_secs(10))
                .backoff(Backoff::Fixed(Duration::from_secs(5))),
        )
        .build()
        .unwrap();
    let t0 = Instant::now();
    let (h, mut ev) = start(tree);
    // Healthy at 1 s, beats at 2, 3 and 4 s, then silence: failed at 14 s.
    let (failed, at) = ev.wait_at("app.w", NodeState::Backoff).await;
    assert_eq!(at - t0, Duration::from_secs(14));
    let err = failed.error.expect("the failure's error");
    assert_eq!(err.to_string(), "no heartbeat for 10s");
    assert_eq!(failed.delay, Some(Duration::from_secs(5)));
    let (_, again) = ev.wait_at("app.w", NodeState::Healthy).await;
    assert_eq!(
        again - t0,
        Duration::from_secs(20),
        "after the backoff and its warm-up"
    );
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    let snap = h.snapshot();
    let w = snap.node("app.w").unwrap();
    assert_eq!(
        (w.restarts, w.last_error.as_deref()),
        (1, Some("no heartbeat for 10s"))
    );
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn lost_heartbeats_count_against_the_intensity() {
    let starts = Arc::new(AtomicU32::new(0));
    let tree = Group::parallel("app")
        .intensity(Intensity::new(2, Duration::from_secs(3600)))
        .backoff(Backoff::None)
        .child(
            Child::new("w", beating(S, S, 0, starts.clone())).watchdog(Duration::from_millis(500)),
        )
        .build()
        .unwrap();
    let h = tree.start();
    let e = tokio::time::timeout(Duration::from_secs(3600), h.join())
        .await
        .expect("the group gives up")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::GaveUp, "{e}");
    assert_eq!(e.node(), Some("app.w"));
    assert_eq!(starts.load(Ordering::SeqCst), 3);
    let source = std::error::Error::source(&e).unwrap().to_string();
    assert_eq!(source, "no heartbeat for 500ms");
}

#[tokio::test(start_paused = true)]
async fn only_a_healthy_child_is_watched() {
    let starts = Arc::new(AtomicU32::new(0));
    // Ten seconds to become healthy, with a one-second watchdog.
    let tree = Group::sequential("app")
        .child(
            Child::new(
                "slow",
                beating(Duration::from_secs(10), S / 2, u32::MAX, starts.clone()),
            )
            .watchdog(S),
        )
        .child(
            Child::new("done", |ctx: Context| async move {
                ctx.healthy();
                ctx.done();
                Ok::<(), std::io::Error>(())
            })
            .watchdog(S),
        )
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    ev.wait("app.slow", NodeState::Healthy).await;
    ev.wait("app.done", NodeState::Done).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    assert_eq!(
        h.snapshot().node("app.done").unwrap().state,
        NodeState::Done,
        "done: not watched"
    );
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn alive_without_a_watchdog_does_nothing() {
    let tree = Group::parallel("app")
        .child(Child::new("w", |ctx: Context| async move {
            ctx.healthy();
            for _ in 0..1000 {
                ctx.alive();
            }
            ctx.cancelled().await;
            Ok::<(), std::io::Error>(())
        }))
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    ev.wait("app.w", NodeState::Healthy).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(h.snapshot().node("app.w").unwrap().restarts, 0);
    assert!(h.shutdown().await.is_clean());
}

/// A child healthy from its start (`ready_on_start`) is watched from its
/// start: silent from the first moment, it fails one timeout later.
#[tokio::test(start_paused = true)]
async fn a_child_healthy_from_its_start_is_watched_from_its_start() {
    let tree = Group::parallel("app")
        .child(
            Child::new("w", |ctx: Context| async move {
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .ready_on_start()
            .watchdog(Duration::from_secs(10))
            .backoff(Backoff::Fixed(Duration::from_secs(3600))),
        )
        .build()
        .unwrap();
    let t0 = Instant::now();
    let (h, mut ev) = start(tree);
    let (failed, at) = ev.wait_at("app.w", NodeState::Backoff).await;
    assert_eq!(at - t0, Duration::from_secs(10));
    assert_eq!(
        failed.error.expect("the failure's error").to_string(),
        "no heartbeat for 10s"
    );
    h.shutdown().await;
}
