//! The DSL end to end: trees written with `supervision_tree!` and
//! `#[runnable]` run with the semantics of the runtime.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use supervisor::prelude::*;
use supervisor::{ErrorKind, NodeState};
use supervisor_testkit::{shutdown, start, start_real_time, within, PAUSED_LIMIT, REAL_LIMIT};

type Log = Arc<Mutex<Vec<String>>>;

#[runnable]
async fn service(ctx: Context, log: Log) -> Result<(), std::io::Error> {
    log.lock().unwrap().push(format!("start {}", ctx.name()));
    ctx.healthy();
    ctx.cancelled().await;
    log.lock().unwrap().push(format!("stop {}", ctx.name()));
    Ok(())
}

#[runnable]
async fn once(ctx: Context, log: Log) -> Result<(), std::io::Error> {
    log.lock().unwrap().push(format!("once {}", ctx.name()));
    ctx.healthy();
    ctx.done();
    Ok(())
}

#[runnable(restart = transient)]
async fn exits(ctx: Context, runs: Arc<AtomicU32>) -> Result<(), std::io::Error> {
    runs.fetch_add(1, Ordering::SeqCst);
    ctx.healthy();
    Ok(())
}

#[runnable]
async fn fails_then_serves(ctx: Context, runs: Arc<AtomicU32>) -> Result<(), std::io::Error> {
    if runs.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(std::io::Error::other("not yet"));
    }
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

// Real time: the tree supervises a real process, whose exit paused time
// would not wait for.
#[tokio::test]
async fn the_design_example_runs_starts_in_order_and_stops_in_reverse() {
    let log = log();
    let tree = supervision_tree! {
        #[strategy(rest_for_one)]
        #[intensity(max = 5, within = 10s)]
        sequential app {
            db: service(log.clone()),
            #[restart(transient)]
            migrate: once(log.clone()),
            #[strategy(one_for_all)]
            parallel web {
                http: service(log.clone()),
                #[after(http)]
                admin: service(log.clone()),
            },
            #[shutdown(timeout = 30s)]
            sleeper: Command::new("sleep").arg("1000"),
        }
    };
    let (handle, mut ev) = start_real_time(tree);
    ev.until(&handle, "app", NodeState::Healthy).await;
    let snap = handle.snapshot();
    assert_eq!(snap.node("app.migrate").unwrap().state, NodeState::Done);
    assert_eq!(
        snap.node("app.web.admin").unwrap().state,
        NodeState::Healthy
    );
    let report = shutdown(&handle, REAL_LIMIT).await;
    assert!(report.is_clean(), "{report:?}");
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "start app.db",
            "once app.migrate",
            "start app.web.http",
            "start app.web.admin",
            "stop app.web.admin",
            "stop app.web.http",
            "stop app.db",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn runnable_defaults_apply_and_tree_options_override_them() {
    let by_default = Arc::new(AtomicU32::new(0));
    let overridden = Arc::new(AtomicU32::new(0));
    let tree = supervision_tree! {
        #[intensity(unlimited)]
        parallel app {
            // `#[runnable(restart = transient)]`: a plain exit is final.
            a: exits(by_default.clone()),
            // The tree makes it permanent: it reruns after each exit.
            #[restart(permanent), backoff(fixed = 1s)]
            b: exits(overridden.clone()),
        }
    };
    let handle = tree.start();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(by_default.load(Ordering::SeqCst), 1);
    assert_eq!(
        overridden.load(Ordering::SeqCst),
        4,
        "start at 0s, restarts at 1s, 2s, 3s"
    );
    shutdown(&handle, PAUSED_LIMIT).await;
}

#[tokio::test(start_paused = true)]
async fn closures_nested_trees_and_scope_variables_are_children() {
    let log = log();
    let inner = supervision_tree! {
        parallel ignored_root_name {
            x: service(log.clone()),
        }
    };
    let prefix = String::from("closure");
    let tree = supervision_tree! {
        sequential app {
            sub: inner,
            c: {
                let log = log.clone();
                let prefix = prefix.clone();
                move |ctx: Context| {
                    let log = log.clone();
                    let prefix = prefix.clone();
                    async move {
                        log.lock().unwrap().push(format!("{prefix} {}", ctx.name()));
                        ctx.healthy();
                        ctx.cancelled().await;
                        Ok::<(), std::io::Error>(())
                    }
                }
            },
        }
    };
    let (handle, mut ev) = start(tree);
    ev.until(&handle, "app", NodeState::Healthy).await;
    shutdown(&handle, PAUSED_LIMIT).await;
    let log = log.lock().unwrap().clone();
    assert!(log.contains(&"start app.sub.x".to_string()), "{log:?}");
    assert!(log.contains(&"closure app.c".to_string()), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failing_child_restarts_with_its_backoff_and_the_root_gives_up_past_its_intensity() {
    let runs = Arc::new(AtomicU32::new(0));
    let tree = supervision_tree! {
        #[intensity(max = 5, within = 10s), backoff(fixed = 100ms)]
        parallel app {
            flaky: fails_then_serves(runs.clone()),
        }
    };
    let (handle, mut ev) = start(tree);
    ev.until(&handle, "app.flaky", NodeState::Healthy).await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(handle.snapshot().node("app.flaky").unwrap().restarts, 2);
    shutdown(&handle, PAUSED_LIMIT).await;

    let always = Arc::new(AtomicU32::new(0));
    let tree = supervision_tree! {
        #[intensity(max = 1, within = 10s), backoff(none)]
        parallel app {
            #[restart(permanent)]
            worse: {
                let always = always.clone();
                move |_ctx: Context| {
                    always.fetch_add(1, Ordering::SeqCst);
                    async { Err::<(), _>(std::io::Error::other("down")) }
                }
            },
        }
    };
    let err = within(PAUSED_LIMIT, "the root to give up", tree.run())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GaveUp);
    assert_eq!(err.node(), Some("app.worse"));
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "down");
    assert_eq!(always.load(Ordering::SeqCst), 2);
}
