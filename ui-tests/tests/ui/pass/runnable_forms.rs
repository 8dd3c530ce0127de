// `#[runnable]`: arguments of the attribute, visibility, doc comments,
// generics, result aliases and error types.
#![deny(missing_docs)]
//! Test crate.
use std::fmt::Display;
use supervisor::prelude::*;

/// Public, documented, with every attribute argument.
#[runnable(restart = transient, shutdown = 5s, ready = on_start)]
pub async fn documented(ctx: Context, port: u16, label: String) -> Result<(), std::io::Error> {
    let _ = (port, label);
    ctx.cancelled().await;
    Ok(())
}

#[runnable(restart = temporary, shutdown = brutal)]
async fn brutal(ctx: Context) -> std::io::Result<()> {
    ctx.healthy();
    Ok(())
}

#[runnable(shutdown = infinity, restart = permanent)]
async fn boxed_error(ctx: Context) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    ctx.healthy();
    Err("boxed".into())
}

#[runnable(shutdown = 250ms)]
async fn string_error(ctx: Context, attempts: Vec<u32>) -> Result<(), String> {
    ctx.healthy();
    if attempts.is_empty() {
        return Err("no attempts".to_owned());
    }
    Ok(())
}

#[runnable]
async fn generic<T>(ctx: Context, value: T) -> Result<(), std::io::Error>
where
    T: Display + Clone + Send + Sync + 'static,
{
    let _ = value.to_string();
    ctx.healthy();
    Ok(())
}

#[runnable]
async fn patterns(ctx: Context, (a, b): (u8, u8), mut n: u32) -> Result<(), std::io::Error> {
    n += u32::from(a) + u32::from(b);
    let _ = n;
    ctx.healthy();
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        parallel app {
            a: documented(1, "a".into()),
            b: brutal(),
            c: boxed_error(),
            d: string_error(vec![1]),
            e: generic(5_u8),
            f: patterns((1, 2), 3),
        }
    };
    let _alone: Box<dyn Fn() -> BoxRunnable> = Box::new(|| brutal().boxed());
}
