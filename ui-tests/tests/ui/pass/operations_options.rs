// `watchdog`, `significant` and `auto_shutdown` where they are valid, and
// the checks that see `#[runnable]` defaults accepting what they should:
// a tree option overriding a runnable's restart type, `significant` on a
// runnable declared transient or temporary. The tree is started and shut
// down.
use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

/// Feeds its watchdog until asked to stop.
#[runnable]
async fn heartbeat(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    while !ctx.sleep(std::time::Duration::from_millis(100)).await {
        ctx.alive();
    }
    Ok(())
}

#[runnable(restart = temporary)]
async fn cleanup(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

#[runnable(restart = transient, ready = on_start)]
async fn job(ctx: Context, n: u32) -> Result<(), std::io::Error> {
    let _ = n;
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let cleanup_later = cleanup();
    let tree = supervision_tree! {
        #[auto_shutdown(all_significant)]
        parallel app {
            #[watchdog(timeout = 10s)]
            beat: heartbeat(),
            #[watchdog(timeout = 1.5s), restart(transient), significant]
            closure: |ctx| async move {
                ctx.healthy();
                ctx.alive();
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            },
            // Temporary by its `#[runnable]`, overridden by the tree.
            #[restart(transient), backoff(fixed = 1s)]
            retried: cleanup(),
            // Transient and temporary by their `#[runnable]`s.
            #[significant, backoff(initial = 50ms)]
            first: job(1),
            #[significant]
            second: cleanup_later,
            // Only one child is declared temporary: `intensity` applies.
            #[intensity(max = 2, within = 1s), restart(temporary), significant]
            #[auto_shutdown(any_significant)]
            sequential inner {
                once: cleanup(),
                again: job(2),
                #[significant, restart(temporary)]
                last: work,
            },
            #[auto_shutdown(never)]
            parallel plain {
                p: work,
            },
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let handle = tree.start();
        let _report = handle.shutdown().await;
    });
}
