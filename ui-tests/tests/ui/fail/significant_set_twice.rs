use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        #[auto_shutdown(any_significant)]
        parallel app {
            #[restart(transient), significant, significant]
            a: work,
        }
    };
}
