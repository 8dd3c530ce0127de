use supervisor::prelude::*;

#[runnable(restart = permanent)]
async fn server(ctx: Context, port: u16) -> Result<(), std::io::Error> {
    let _ = port;
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        #[auto_shutdown(any_significant)]
        parallel app {
            #[significant]
            http: server(8080),
        }
    };
}
