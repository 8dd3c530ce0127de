use supervisor::prelude::*;

struct Config {
    port: u16,
}

#[runnable]
async fn work(ctx: Context, config: Config) -> Result<(), std::io::Error> {
    let _ = config.port;
    ctx.healthy();
    Ok(())
}

fn main() {}
