use supervisor::prelude::*;

struct NotAnError;

#[runnable]
async fn work(ctx: Context) -> Result<(), NotAnError> {
    ctx.healthy();
    Ok(())
}

fn main() {}
