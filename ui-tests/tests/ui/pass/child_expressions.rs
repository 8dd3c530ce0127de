// Child expressions: `#[runnable]` calls, closures (with and without a
// `Context` annotation), fn items, a boxed runnable, a nested `Tree`, a
// `DynamicGroup`, variables of the enclosing scope.
use std::sync::Arc;
use supervisor::prelude::*;

#[runnable]
async fn named(ctx: Context, name: String) -> Result<(), std::io::Error> {
    let _ = name;
    ctx.cancelled().await;
    Ok(())
}

async fn plain(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let name = String::from("x");
    let counter = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let sub = supervision_tree! {
        parallel sub {
            leaf: plain,
        }
    };
    let dynamic = DynamicGroup::new();
    let _tree = supervision_tree! {
        parallel app {
            call: named(name.clone()),
            moved: named(name),
            annotated: |ctx: Context| async move {
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            },
            inferred: move |ctx| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    ctx.healthy();
                    ctx.cancelled().await;
                    Ok::<(), String>(())
                }
            },
            item: plain,
            boxed: plain.boxed(),
            nested: sub,
            jobs: dynamic.clone(),
            block: {
                let n = 3;
                named(format!("n{n}"))
            },
        }
    };
}
