use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let shared = std::rc::Rc::new(5);
    let _tree = supervision_tree! {
        parallel app {
            a: move |ctx: Context| {
                let _ = &shared;
                async move {
                    ctx.cancelled().await;
                    Ok::<(), std::io::Error>(())
                }
            },
        }
    };
}
