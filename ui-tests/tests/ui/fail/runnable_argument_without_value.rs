use supervisor::prelude::*;

#[runnable(restart)]
async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {}
