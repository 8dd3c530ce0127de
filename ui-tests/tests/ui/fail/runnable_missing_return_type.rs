use supervisor::prelude::*;

#[runnable]
async fn work(ctx: Context) {
    ctx.healthy();
}

fn main() {}
