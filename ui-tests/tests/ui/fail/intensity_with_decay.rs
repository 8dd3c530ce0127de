use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        #[intensity(max = 5, within = 10s)]
        #[decay(half_life = 30s, threshold = 3, pause = 10s)]
        parallel app {
            a: work,
        }
    };
}
