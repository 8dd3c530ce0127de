//! `Tree::run_until_signal`: real signals sent to this test process (its own
//! binary, so no other test sees them).
#![cfg(unix)]

use std::sync::Arc;

use supervisor_runtime::{Child, Context, ErrorKind, Group, Shutdown};
use supervisor_testkit::{within, REAL_LIMIT};
use tokio::sync::Notify;

fn signal_self(sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(std::process::id().to_string())
        .status()
        .expect("`kill` runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_stops_gracefully_and_a_second_one_aborts() {
    // 1. SIGTERM: every child stops by itself; Ok.
    let up = Arc::new(Notify::new());
    let up2 = up.clone();
    let tree = Group::parallel("app")
        .child(Child::new("a", move |ctx: Context| {
            let up = up2.clone();
            async move {
                ctx.healthy();
                up.notify_one();
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            }
        }))
        .build()
        .unwrap();
    let run = tokio::spawn(tree.run_until_signal());
    within(REAL_LIMIT, "the child to be up", up.notified()).await;
    signal_self("TERM");
    let r = within(REAL_LIMIT, "the tree to stop", run).await.unwrap();
    assert!(r.is_ok(), "{r:?}");

    // 2. A child that ignores cancellation and may take forever: the first
    // SIGINT starts the shutdown, the second aborts what is left.
    let cancelled = Arc::new(Notify::new());
    let (up2, cancelled2) = (up.clone(), cancelled.clone());
    let tree = Group::parallel("app")
        .child(
            Child::new("stuck", move |ctx: Context| {
                let (up, cancelled) = (up2.clone(), cancelled2.clone());
                async move {
                    ctx.healthy();
                    up.notify_one();
                    ctx.cancelled().await;
                    cancelled.notify_one();
                    std::future::pending::<()>().await;
                    Ok::<(), std::io::Error>(())
                }
            })
            .shutdown(Shutdown::Infinity),
        )
        .build()
        .unwrap();
    let run = tokio::spawn(tree.run_until_signal());
    within(REAL_LIMIT, "the child to be up", up.notified()).await;
    signal_self("INT");
    within(
        REAL_LIMIT,
        "the first signal cancels the child",
        cancelled.notified(),
    )
    .await;
    signal_self("INT");
    let err = within(REAL_LIMIT, "the second signal ends it", run)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unclean);
    let report = err.report().expect("the report rides on the error");
    assert!(
        report.aborted().contains(&"app.stuck".to_string()),
        "{report:?}"
    );
}
