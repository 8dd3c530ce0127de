use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

async fn run() -> Result<(), supervisor::Error> {
    let tree = supervision_tree! {
        parallel app {
            #[restart(sometimes)]
            a: work,
        }
    };
    let handle = tree.start();
    handle.join().await
}

fn main() {
    let _ = run();
}
