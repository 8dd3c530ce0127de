use supervisor::prelude::*;

#[runnable(restart = transient shutdown = 5s)]
async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {}
