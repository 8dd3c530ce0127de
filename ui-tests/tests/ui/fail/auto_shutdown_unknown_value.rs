use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        #[auto_shutdown(any_signifcant)]
        parallel app {
            #[restart(transient), significant]
            a: work,
        }
    };
}
