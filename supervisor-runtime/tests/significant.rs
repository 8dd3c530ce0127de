//! Significant children and `auto_shutdown` (OTP 24): when the significant
//! children have ended for good, the group stops its other children in
//! order and ends, and its parent treats that as a normal exit.

use std::time::Duration;

use supervisor_runtime::{AutoShutdown, Backoff, Child, Group, NodeState, Restart, Tree};
use supervisor_testkit::{start, Cmd, End, Lab};

/// `app` (sequential) runs `batch` (parallel, with `auto_shutdown`) then `after`.
fn tree(lab: &Lab, auto: AutoShutdown, batch_restart: Restart) -> Tree {
    assert_ne!(
        auto,
        AutoShutdown::Never,
        "refused with significant children"
    );
    Group::sequential("app")
        .child(Child::new("db", lab.child()))
        .group(
            Group::sequential("batch")
                .restart(batch_restart)
                .auto_shutdown(auto)
                .backoff(Backoff::None)
                .child(Child::new("cache", lab.child()))
                .child(
                    Child::new("job", lab.child())
                        .restart(Restart::Transient)
                        .significant(),
                )
                .child(
                    Child::new("report", lab.child())
                        .restart(Restart::Temporary)
                        .significant(),
                )
                .child(Child::new("watcher", lab.child())),
        )
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn any_significant_ends_the_group_in_order_and_its_parent_sees_an_exit() {
    let lab = Lab::new();
    let (h, mut ev) = start(tree(&lab, AutoShutdown::AnySignificant, Restart::Transient));
    ev.wait("app.batch", NodeState::Healthy).await;
    lab.send("app.batch.job", Cmd::End(End::Ok)).await;
    // The rest stop in reverse start order, then the group ends: a
    // transient group that exited is not restarted.
    ev.wait("app.batch", NodeState::Stopped).await;
    let order: Vec<String> = ev
        .trace()
        .into_iter()
        .filter(|l| l.ends_with(" stopping") || l == "app.batch stopped")
        .collect();
    assert_eq!(
        order,
        [
            "app.batch.watcher stopping",
            "app.batch.report stopping",
            "app.batch.cache stopping",
            "app.batch stopped"
        ]
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(lab.starts("app.batch.cache"), 1, "not restarted");
    assert_eq!(
        h.snapshot().node("app.db").unwrap().state,
        NodeState::Healthy
    );
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_permanent_group_that_ends_by_auto_shutdown_is_restarted() {
    let lab = Lab::new();
    let (h, mut ev) = start(tree(&lab, AutoShutdown::AnySignificant, Restart::Permanent));
    ev.wait("app.batch", NodeState::Healthy).await;
    lab.send("app.batch.report", Cmd::End(End::err("boom")))
        .await;
    ev.wait("app.batch", NodeState::Backoff).await;
    ev.wait("app.batch", NodeState::Healthy).await;
    assert_eq!(lab.starts("app.batch.cache"), 2);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn all_significant_waits_for_every_significant_child() {
    let lab = Lab::new();
    let (h, mut ev) = start(tree(&lab, AutoShutdown::AllSignificant, Restart::Transient));
    ev.wait("app.batch", NodeState::Healthy).await;
    lab.send("app.batch.job", Cmd::End(End::Ok)).await;
    ev.wait("app.batch.job", NodeState::Stopped).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        h.snapshot().node("app.batch").unwrap().state,
        NodeState::Healthy
    );
    // The other one finishes its job: now every significant child is over.
    lab.send("app.batch.report", Cmd::Done).await;
    lab.send("app.batch.report", Cmd::End(End::Ok)).await;
    ev.wait("app.batch", NodeState::Stopped).await;
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_significant_child_that_restarts_or_is_stopped_does_not_end_the_group() {
    let lab = Lab::new();
    let (h, mut ev) = start(tree(&lab, AutoShutdown::AnySignificant, Restart::Transient));
    ev.wait("app.batch", NodeState::Healthy).await;
    // Transient and failed: restarted, so not ended for good.
    lab.send("app.batch.job", Cmd::End(End::err("boom"))).await;
    ev.wait("app.batch.job", NodeState::Backoff).await;
    ev.wait("app.batch.job", NodeState::Healthy).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        h.snapshot().node("app.batch").unwrap().state,
        NodeState::Healthy
    );
    // With auto_shutdown never, a significant child is refused (as in OTP).
    let e = Group::parallel("app")
        .child(
            Child::new("job", Lab::new().child())
                .restart(Restart::Transient)
                .significant(),
        )
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("auto_shutdown"), "{e}");
    // The shutdown itself stops significant children: no auto_shutdown then.
    let report = h.shutdown().await;
    assert!(report.is_clean());
    assert_eq!(report.node("app.batch").unwrap().state, NodeState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_root_with_auto_shutdown_completes_the_tree() {
    let lab = Lab::new();
    let tree = Group::parallel("app")
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(Child::new("server", lab.child()))
        .child(
            Child::new("main", lab.child())
                .restart(Restart::Temporary)
                .significant(),
        )
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.main", Cmd::End(End::Ok)).await;
    tokio::time::timeout(Duration::from_secs(60), h.join())
        .await
        .expect("the tree completes")
        .expect("normally");
    assert!(h.token().is_cancelled());
    assert_eq!(lab.live_guards(), 0);
}
