//! The expansions pass clippy with every lint group denied: run
//! `cargo clippy -p ui-tests --all-targets -- -D warnings`.
#![deny(clippy::all, clippy::pedantic, clippy::nursery)]

use supervisor::prelude::*;

/// A documented runnable with every attribute argument.
#[runnable(restart = transient, shutdown = 5s, ready = on_start)]
async fn server(ctx: Context, port: u16, name: String) -> Result<(), std::io::Error> {
    let _ = (port, name);
    ctx.cancelled().await;
    Ok(())
}

/// A runnable that declares a restart type, probed by the tree's checks.
#[runnable(restart = transient)]
async fn job(ctx: Context, n: u32) -> Result<(), std::io::Error> {
    let _ = n;
    ctx.healthy();
    ctx.alive();
    ctx.cancelled().await;
    Ok(())
}

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

#[test]
fn expansion_is_clippy_clean() {
    let name = String::from("x");
    let tree = supervision_tree! {
        #[strategy(one_for_all), intensity(max = 5, within = 10s), auto_shutdown(all_significant)]
        #[backoff(initial = 250ms, max = 1m, multiplier = 1.5, jitter = 0.1)]
        sequential app {
            #[restart(temporary), shutdown(brutal)]
            a: work,
            #[start_timeout(1s)]
            b: server(8080, name),
            #[auto_shutdown(any_significant), intensity(max = 1, within = 1s)]
            #[restart(transient), significant]
            parallel jobs {
                #[significant, backoff(fixed = 1s), watchdog(timeout = 10s)]
                first: job(1),
                second: job(2),
            },
            #[decay(half_life = 30s, threshold = 3, pause = 10s)]
            parallel web {
                http: |ctx| async move {
                    ctx.healthy();
                    ctx.cancelled().await;
                    Ok::<(), std::io::Error>(())
                },
                #[after(http), backoff(fixed = 1s), ready(on_start)]
                admin: work,
            }
        }
    };
    drop(tree);
}
