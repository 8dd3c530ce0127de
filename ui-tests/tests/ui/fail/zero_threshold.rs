use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        #[decay(half_life = 30s, threshold = 0, pause = 10s)]
        parallel app {
            a: work,
        }
    };
}
