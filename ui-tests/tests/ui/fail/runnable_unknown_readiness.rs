use supervisor::prelude::*;

#[runnable(ready = later)]
async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {}
