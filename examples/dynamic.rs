//! Children added and removed at runtime by key: a `DynamicGroup` held by
//! the code that decides (here `main`; in a service, an HTTP handler), and one
//! driven by a table of the desired set.
//!
//! ```text
//! cargo run --example dynamic
//! ```

use supervisor::prelude::*;
use supervisor::{MemoryTable, NodeState};

#[runnable]
async fn tenant(ctx: Context, port: u16) -> Result<(), std::io::Error> {
    println!("{} serving on port {port}", ctx.name());
    ctx.healthy();
    ctx.cancelled().await;
    println!("{} stopped", ctx.name());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), supervisor::Error> {
    let jobs = DynamicGroup::new();
    let table = MemoryTable::new();
    table.insert("eu-1", 9001u16);
    let tenants = DynamicGroup::with_table(table.clone(), |_key: &str, port: &u16| tenant(*port));

    let tree = supervision_tree! {
        parallel app {
            jobs: jobs.clone(),
            tenants: tenants.clone(),
        }
    };
    let handle = tree.start();

    let token = jobs.add("nightly", tenant(7000)).await?;
    if let Err(e) = jobs.add("nightly", tenant(7001)).await {
        println!("second `nightly` refused: {e}");
    }
    if let Err(e) = jobs.add("Bad Key", tenant(7002)).await {
        println!("bad key refused: {e}");
    }

    table.insert("us-1", 9002);
    tenants.reconcile().await;
    let mut events = handle.subscribe();
    while tenants.get("us-1") != Some(NodeState::Healthy) {
        let _ = events.recv().await;
    }
    println!("{}", handle.snapshot());

    jobs.remove(&token).await?;
    table.remove("eu-1");
    tenants.reconcile().await;
    while jobs.get("nightly").is_some()
        || tenants.get("eu-1").is_some_and(|s| s != NodeState::Stopped)
    {
        let _ = events.recv().await;
    }
    println!("{}", handle.snapshot());
    handle.shutdown().await;
    Ok(())
}
