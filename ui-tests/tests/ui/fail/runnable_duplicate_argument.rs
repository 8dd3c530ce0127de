use supervisor::prelude::*;

#[runnable(restart = transient, restart = temporary)]
async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    Ok(())
}

fn main() {}
