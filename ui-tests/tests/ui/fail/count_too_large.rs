use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        #[intensity(max = 99999999999, within = 10s)]
        parallel app {
            a: work,
        }
    };
}
