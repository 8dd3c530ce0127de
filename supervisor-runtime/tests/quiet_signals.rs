//! Without a subscriber, a child's `healthy` does not wake its group unless
//! something waits for it: the group applies it at its next turn. Nothing
//! of that may be visible: snapshots show the state at once, a group still
//! reports healthy when its last child is, and a sibling that waits for a
//! child still starts at once.

use std::time::Duration;

use supervisor_runtime::{Child, Context, Group, NodeState, Shutdown};
use tokio::sync::{mpsc, oneshot};

fn healthy_then_wait() -> impl Fn(
    Context,
)
    -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), std::io::Error>> + Send>>
       + Send
       + Sync
       + 'static {
    |ctx: Context| {
        Box::pin(async move {
            ctx.healthy();
            ctx.cancelled().await;
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn snapshots_show_signals_the_group_has_not_taken_yet() {
    let (tx, mut rx) = mpsc::unbounded_channel::<Context>();
    let tree = Group::parallel("app")
        .child(Child::new("quick", healthy_then_wait()))
        .child(Child::new("slow", move |ctx: Context| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(ctx.clone());
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            }
        }))
        .build()
        .unwrap();
    let h = tree.start(); // no subscriber
    let slow = rx.recv().await.unwrap();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let snap = h.snapshot();
    assert_eq!(
        snap.node("app.quick").unwrap().state,
        NodeState::Healthy,
        "{snap}"
    );
    assert_eq!(snap.node("app.slow").unwrap().state, NodeState::Starting);
    assert_eq!(snap.node("app").unwrap().state, NodeState::Starting);
    // The last child's signal wakes the group: it is healthy now.
    slow.healthy();
    // (Yielding lets the group's task run; paused time does not move.)
    let t0 = tokio::time::Instant::now();
    let mut turns = 0;
    while h.snapshot().node("app").unwrap().state != NodeState::Healthy {
        turns += 1;
        assert!(
            turns < 1000,
            "the group never reported healthy:\n{}",
            h.snapshot()
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        t0.elapsed(),
        Duration::ZERO,
        "at once, not at some later turn"
    );
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_group_of_quiet_children_is_healthy_and_its_next_sibling_starts_at_once() {
    let (tx, rx) = oneshot::channel::<()>();
    let tx = std::sync::Mutex::new(Some(tx));
    let mut inner = Group::parallel("workers");
    for k in 0..100 {
        inner = inner.child(Child::new(format!("w{k}"), healthy_then_wait()));
    }
    let tree = Group::sequential("app")
        .group(inner)
        .child(Child::new("after", move |ctx: Context| {
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            async move {
                ctx.healthy();
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            }
        }))
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let h = tree.start(); // no subscriber
    tokio::time::timeout(Duration::from_secs(3600), rx)
        .await
        .expect("`after` starts once every worker is healthy")
        .unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO);
    let snap = h.snapshot();
    assert!(
        snap.nodes().iter().all(|n| n.state == NodeState::Healthy),
        "{snap}"
    );
    assert!(h.shutdown().await.is_clean());
}

/// The same on several worker threads, many times over: the workers' signals
/// and endings race each other into their group's mailbox. Whichever of them
/// is counted last must also be the last to post, or the group wakes before
/// the others' notes are in and never sees them: a group that is never
/// healthy (`after` never starts), or a stop that waits for a timer (with
/// `Shutdown::Infinity`, for ever). Each wait is bounded; nothing sleeps.
#[test]
fn racing_signals_and_endings_never_leave_a_note_unseen() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for round in 0..40 {
            let (tx, rx) = oneshot::channel::<()>();
            let tx = std::sync::Mutex::new(Some(tx));
            let mut inner = Group::parallel("workers").shutdown(Shutdown::Infinity);
            for k in 0..1000 {
                inner = inner.child(
                    Child::new(format!("w{k}"), healthy_then_wait()).shutdown(Shutdown::Infinity),
                );
            }
            let tree = Group::sequential("app")
                .group(inner)
                .child(Child::new("after", move |ctx: Context| {
                    if let Some(tx) = tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                    async move {
                        ctx.healthy();
                        ctx.cancelled().await;
                        Ok::<(), std::io::Error>(())
                    }
                }))
                .build()
                .unwrap();
            let h = tree.start(); // no subscriber
            tokio::time::timeout(Duration::from_secs(60), rx)
                .await
                .unwrap_or_else(|_| panic!("round {round}: `workers` never became healthy"))
                .unwrap();
            let report = tokio::time::timeout(Duration::from_secs(60), h.shutdown())
                .await
                .unwrap_or_else(|_| panic!("round {round}: the stop missed an ending"));
            assert!(report.is_clean(), "{report:?}");
        }
    });
}
