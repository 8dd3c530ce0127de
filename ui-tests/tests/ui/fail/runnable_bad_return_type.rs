use supervisor::prelude::*;

#[runnable]
async fn work(ctx: Context) -> u32 {
    ctx.healthy();
    0
}

fn main() {}
