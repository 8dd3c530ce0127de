// A full example tree as a user would write it, except that `main` is renamed (it
// would run until a signal) and the functions it calls are defined below.
use supervisor::prelude::*;

#[derive(Debug)]
struct DbError;
impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("db error")
    }
}
impl std::error::Error for DbError {}
struct Pool;
impl Pool {
    async fn close(self) {}
}
async fn connect(_url: &str) -> Result<Pool, DbError> {
    Ok(Pool)
}

#[runnable]
async fn migrate(ctx: Context) -> Result<(), DbError> {
    ctx.healthy();
    Ok(())
}

#[runnable]
async fn http_server(ctx: Context, port: u16) -> Result<(), std::io::Error> {
    let _ = port;
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

#[runnable(ready = on_start)]
async fn admin_server(ctx: Context, port: u16) -> Result<(), std::io::Error> {
    let _ = port;
    ctx.cancelled().await;
    Ok(())
}

#[runnable]
async fn database(ctx: Context, url: String) -> Result<(), DbError> {
    let pool = connect(&url).await?;
    ctx.healthy();                  // sequential siblings after this one may start now
    ctx.cancelled().await;          // run until asked to stop
    pool.close().await;
    Ok(())
}

#[allow(dead_code)]
async fn design_main() -> Result<(), supervisor::Error> {
    let url = std::env::var("DB").unwrap_or_default();
    let tree = supervision_tree! {
        #[strategy(rest_for_one)]
        #[intensity(max = 5, within = 10s)]
        sequential app {
            db: database(url),
            #[restart(transient)]
            migrate: migrate(),
            #[strategy(one_for_all)]
            parallel web {
                http: http_server(8080),
                #[after(http)]
                admin: admin_server(8081),
            },
            #[shutdown(timeout = 30s)]
            redis: Command::new("redis-server").arg("--port").arg("6380"),
        }
    };
    tree.run_until_signal().await
}

fn main() {}
