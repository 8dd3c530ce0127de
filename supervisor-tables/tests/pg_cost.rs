//! What a fleet at rest costs the database: 10 replicas × 10,000 keys, each
//! replica renewing every second, counted by PostgreSQL itself
//! (`pg_stat_database.xact_commit`: every statement outside a transaction
//! block is one commit).
//!
//! A measurement, not part of the default suite (it takes about a minute):
//!
//! ```text
//! scripts/with-postgres.sh cargo test -p supervisor-tables --all-features \
//!     --test pg_cost -- --ignored --nocapture
//! ```
#![cfg(feature = "postgres")]

mod pg_common;

use std::time::{Duration, Instant};

use pg_common::*;
use supervisor_runtime::{Child, Context, DynamicGroup, Group, TreeHandle};
use supervisor_tables::{PgSettings, PgTable};

const REPLICAS: usize = 10;
const KEYS: usize = 10_000;
const RENEW: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(30);

async fn idle(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

async fn commits(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of about a minute; run it with --ignored"]
async fn statements_per_second_at_rest_grow_with_replicas_not_keys() {
    const TEST: &str = "statements_per_second_at_rest_grow_with_replicas_not_keys";
    let Some(url) = database_url(TEST) else {
        return;
    };
    let name = table_name("cost");
    let settings = |i: usize| {
        PgSettings::new()
            .lease(Duration::from_secs(10))
            .renew_every(RENEW)
            .stop_margin(Duration::from_secs(4))
            .name(format!("r{i}"))
    };
    let setup = PgTable::<Job>::connect_with(&url, &name, settings(99))
        .await
        .unwrap();
    let db = sql(&url).await;
    db.execute(
        &format!(
            "INSERT INTO {name} (key, value)
             SELECT 'k' || lpad(i::text, 5, '0'), jsonb_build_object('n', i)
             FROM generate_series(0, {}) AS i",
            KEYS - 1
        ),
        &[],
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let mut fleet: Vec<(PgTable<Job>, TreeHandle)> = Vec::new();
    for i in 0..REPLICAS {
        let t = PgTable::<Job>::connect_with(&url, &name, settings(i))
            .await
            .unwrap();
        let jobs = DynamicGroup::with_table(t.clone(), |_: &str, _: &Job| idle);
        let h = Group::parallel("app")
            .child(Child::new("jobs", jobs))
            .build()
            .unwrap()
            .start();
        fleet.push((t, h));
    }
    // Settled: every key owned by a live replica, none above its share.
    let share = KEYS.div_ceil(REPLICAS);
    let settled = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let counts: Vec<usize> = fleet.iter().map(|(t, _)| t.owned().len()).collect();
            let owned: i64 = db
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {name} t JOIN {name}_replicas r
                         ON r.id = t.owner AND r.lease_until > now()"
                    ),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if owned as usize == KEYS && counts.iter().all(|c| *c <= share + 1) {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the fleet did not settle within 120 s");
    let settle = t0.elapsed();
    // Let the last notifications and statistics flush, then count.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let before = commits(&db).await;
    tokio::time::sleep(WINDOW).await;
    let after = commits(&db).await;
    // Our own two reads of the counter count too.
    let statements = (after - before - 2).max(0) as f64;
    let per_second = statements / WINDOW.as_secs_f64();
    let expected = REPLICAS as f64 / RENEW.as_secs_f64();
    eprintln!(
        "{REPLICAS} replicas x {KEYS} keys: settled in {settle:?} with shares {settled:?}; \
         at rest {statements} statements in {WINDOW:?} = {per_second:.1}/s \
         (one renewal per replica per {RENEW:?} = {expected:.1}/s)"
    );
    // Cost grows with replicas, not keys: nowhere near one statement per key.
    assert!(
        per_second < 2.0 * expected,
        "{per_second:.1} statements/s at rest, expected about {expected:.1}"
    );
    for (t, h) in fleet {
        h.shutdown().await;
        t.close().await.unwrap();
    }
    setup.close().await.unwrap();
}
