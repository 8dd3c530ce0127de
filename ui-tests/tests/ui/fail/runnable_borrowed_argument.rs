use supervisor::prelude::*;

#[runnable]
async fn work(ctx: Context, name: &str) -> Result<(), std::io::Error> {
    let _ = name;
    ctx.healthy();
    Ok(())
}

fn main() {}
