//! One replica of a fleet that shares its keyed children through a
//! PostgreSQL table: start it in several terminals against the same
//! database and watch the keys spread evenly, move when a replica stops
//! (Ctrl-C) or dies (`kill -9`), and come back when it returns.
//!
//! ```text
//! DATABASE_URL=postgres://user:password@localhost/db \
//!     cargo run --example fleet --features postgres -- --seed 12
//! ```
//!
//! `--seed N` adds the keys `job-0` .. `job-N-1` first. Add and remove keys
//! from anywhere meanwhile, with plain SQL:
//!
//! ```text
//! psql "$DATABASE_URL" -c "INSERT INTO fleet_example (key, value) VALUES ('job-99', '\"late\"')"
//! psql "$DATABASE_URL" -c "SELECT key, owner, epoch FROM fleet_example ORDER BY key"
//! ```

use supervisor::prelude::*;
use supervisor::tables::PgTable;
use tokio::sync::broadcast::error::RecvError;

async fn job(ctx: Context, key: String, what: String) -> Result<(), std::io::Error> {
    // The fencing epoch of this replica's claim: a real job sends it along
    // with its writes, so that the sink can refuse a stale owner's.
    let epoch = ctx.epoch().unwrap_or(0);
    println!("+ {key} (epoch {epoch}): {what}");
    ctx.healthy();
    ctx.cancelled().await;
    println!("- {key} (epoch {epoch})");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "set DATABASE_URL to a PostgreSQL database, e.g. postgres://user:password@localhost/db"
        );
        std::process::exit(2);
    };
    let table = PgTable::<String>::connect(&url, "fleet_example").await?;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--seed") {
        let n: usize = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(12);
        for k in 0..n {
            table
                .insert(&format!("job-{k}"), &format!("job number {k}"))
                .await?;
        }
    }

    let jobs = DynamicGroup::with_table(table.clone(), |key: &str, what: &String| {
        let (key, what) = (key.to_owned(), what.clone());
        move |ctx: Context| job(ctx, key.clone(), what.clone())
    });
    let tree = Group::parallel("fleet")
        .child(Child::new("jobs", jobs))
        .build()?;

    // Print the keys this replica owns whenever that changes.
    let mut events = tree.subscribe();
    let owned = table.clone();
    tokio::spawn(async move {
        let mut last = Vec::new();
        loop {
            match events.recv().await {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
            let mut now: Vec<String> = owned.owned().into_iter().map(|(k, _)| k).collect();
            now.sort();
            if now != last {
                println!("owns {}: {}", now.len(), now.join(" "));
                last = now;
            }
        }
    });

    let result = tree.run_until_signal().await;
    // Hand the keys to the other replicas now rather than when the lease lapses.
    table.close().await?;
    result?;
    Ok(())
}
