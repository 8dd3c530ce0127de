use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        parallel app {
            #[after(c)]
            a: work,
            #[after(a)]
            b: work,
            #[after(b)]
            c: work,
        }
    };
}
