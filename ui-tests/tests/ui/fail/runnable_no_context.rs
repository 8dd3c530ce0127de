use supervisor::prelude::*;

#[runnable]
async fn work(port: u16) -> Result<(), std::io::Error> {
    let _ = port;
    Ok(())
}

fn main() {}
