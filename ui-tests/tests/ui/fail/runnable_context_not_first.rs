use supervisor::prelude::*;

#[runnable]
async fn work(port: u16, ctx: Context) -> Result<(), std::io::Error> {
    let _ = port;
    ctx.cancelled().await;
    Ok(())
}

fn main() {}
