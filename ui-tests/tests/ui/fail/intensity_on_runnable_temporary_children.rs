use supervisor::prelude::*;

#[runnable(restart = temporary)]
async fn cleanup(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    Ok(())
}

#[runnable(restart = temporary)]
async fn flush(ctx: Context, path: String) -> Result<(), std::io::Error> {
    let _ = path;
    ctx.healthy();
    Ok(())
}

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        #[intensity(max = 1, within = 1s)]
        parallel app {
            cleanup: cleanup(),
            flush: flush(String::from("/tmp/x")),
            #[restart(temporary)]
            c: work,
        }
    };
}
