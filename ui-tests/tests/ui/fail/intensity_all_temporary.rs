use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        #[intensity(max = 1, within = 1s)]
        parallel app {
            #[restart(temporary)]
            a: work,
            #[restart(temporary)]
            b: work,
        }
    };
}
