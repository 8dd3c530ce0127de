use supervisor::prelude::*;

#[runnable(shutdown = 5)]
async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    Ok(())
}

fn main() {}
