use supervisor::prelude::*;

#[runnable]
async fn work(ctx: &Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    Ok(())
}

fn main() {}
