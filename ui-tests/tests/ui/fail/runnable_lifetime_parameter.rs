use supervisor::prelude::*;

#[runnable]
async fn work<'a>(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {}
