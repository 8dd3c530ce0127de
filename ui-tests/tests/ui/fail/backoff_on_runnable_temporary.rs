use supervisor::prelude::*;

#[runnable(restart = temporary)]
async fn cleanup(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        parallel app {
            #[backoff(fixed = 1s)]
            cleanup: cleanup(),
        }
    };
}
