use supervisor::prelude::*;

struct Server;

impl Server {
    #[runnable]
    async fn serve(&self, ctx: Context) -> Result<(), std::io::Error> {
        ctx.healthy();
        Ok(())
    }
}

fn main() {}
