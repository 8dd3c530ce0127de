use supervisor::prelude::*;

#[runnable(shutdown = forever)]
async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {}
