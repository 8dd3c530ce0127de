use supervisor::prelude::*;

#[runnable(restrat = transient)]
async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    Ok(())
}

fn main() {}
