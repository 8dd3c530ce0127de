//! The same kind of tree as the demo, written with the runtime's builder
//! instead of the macro: every option of the DSL is a builder method.
//!
//! ```text
//! cargo run --example builder
//! ```

use std::time::Duration;

use supervisor::{Backoff, Child, Context, Group, Intensity, Restart, Shutdown, Strategy};

async fn worker(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

async fn once(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.done();
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), supervisor::Error> {
    let tree = Group::sequential("app")
        .intensity(Intensity::new(5, Duration::from_secs(10)))
        .child(Child::new("db", worker).shutdown(Shutdown::Timeout(Duration::from_secs(2))))
        .child(Child::new("migrate", once).restart(Restart::Transient))
        .group(
            Group::parallel("web")
                .strategy(Strategy::OneForAll)
                .backoff(Backoff::exponential().initial(Duration::from_millis(500)))
                .child(Child::new("http", worker))
                .child(Child::new("admin", worker).after(["http"])),
        )
        .build()?;
    let handle = tree.start();
    let mut events = handle.subscribe();
    while handle.snapshot().node("app").map(|n| n.state) != Some(supervisor::NodeState::Healthy) {
        let _ = events.recv().await;
    }
    println!("{}", handle.snapshot());
    let report = handle.shutdown().await;
    println!("clean stop: {}", report.is_clean());
    Ok(())
}
