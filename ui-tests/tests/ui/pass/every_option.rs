// Every option of the DSL, at every level where it is valid, in single and
// multi-option attributes; the tree is started and shut down.
use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let tree = supervision_tree! {
        #[strategy(one_for_all), intensity(max = 0, within = 250ms)]
        #[backoff(initial = 10ms, max = 2m, multiplier = 1.5, jitter = 0)]
        #[shutdown(infinity)]
        sequential app {
            #[restart(permanent)]
            #[backoff(fixed = 1s)]
            #[shutdown(timeout = 5s)]
            #[start_timeout(1h)]
            a: work,
            #[restart(transient), backoff(none), shutdown(brutal), ready(on_start)]
            b: work,
            #[restart(temporary), shutdown(timeout = 0s)]
            c: work,
            #[strategy(rest_for_one)]
            #[decay(half_life = 30s, threshold = 3, pause = 10s)]
            #[restart(transient), start_timeout(2m), shutdown(timeout = 1m)]
            #[backoff(multiplier = 2, jitter = 0.5)]
            parallel web {
                #[backoff(initial = 1.5s)]
                http: work,
                #[after(http, db)]
                admin: work,
                #[after(db)]
                #[strategy(one_for_one), intensity(unlimited)]
                parallel inner {
                    x: work,
                },
                db: work,
            },
            #[decay(half_life = 1m, threshold = 2.5, pause = 1s)]
            parallel decayed {
                y: work,
            }
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
