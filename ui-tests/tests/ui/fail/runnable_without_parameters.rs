use supervisor::prelude::*;

#[runnable]
async fn work() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
