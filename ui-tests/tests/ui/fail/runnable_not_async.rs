use supervisor::prelude::*;

#[runnable]
fn work(ctx: Context) -> Result<(), std::io::Error> {
    let _ = ctx;
    Ok(())
}

fn main() {}
