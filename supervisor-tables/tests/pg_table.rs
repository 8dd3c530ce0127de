//! `PgTable` in one process against a real PostgreSQL server: opening,
//! refusing, decoding, fencing epochs. Needs `DATABASE_URL` (see
//! `pg_fleet.rs`); without it each test says loudly that it was skipped.
#![cfg(feature = "postgres")]

mod pg_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pg_common::*;
use supervisor_runtime::{Child, Context, DynamicGroup, Group, NodeState, Table, TreeHandle};
use supervisor_tables::{ErrorKind, PgSettings, PgTable};

const WAIT: Duration = Duration::from_secs(30);

async fn idle(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

/// A tree running one dynamic group on `table`.
fn run(table: PgTable<Job>) -> (TreeHandle, DynamicGroup) {
    let jobs = DynamicGroup::with_table(table, |_: &str, _: &Job| idle)
        .reconcile_every(Duration::from_secs(3600));
    let h = Group::parallel("app")
        .child(Child::new("jobs", jobs.clone()))
        .build()
        .unwrap()
        .start();
    (h, jobs)
}

async fn wait_key(h: &TreeHandle, jobs: &DynamicGroup, key: &str, want: Option<NodeState>) {
    let mut ev = h.subscribe();
    let r = tokio::time::timeout(WAIT, async {
        while jobs.get(key) != want {
            let _ = ev.recv().await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting for `{key}` to be {want:?}");
}

#[tokio::test]
async fn bad_settings_urls_and_names_are_clear_errors() {
    let Some(url) = database_url("bad_settings_urls_and_names_are_clear_errors") else {
        return;
    };
    let e = PgTable::<Job>::connect(&url, "Bad-Name").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("table name"), "{e}");

    let e = PgTable::<Job>::connect("postgres://u@h:notaport/db", "t")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("URL is not valid"), "{e}");

    let e = PgTable::<Job>::connect_with(
        &url,
        "t",
        PgSettings::new()
            .lease(Duration::from_secs(5))
            .stop_margin(Duration::from_secs(4))
            .renew_every(Duration::from_secs(2)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("must be longer"), "{e}");

    // Nobody listens there: the error says where and what to check.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = PgTable::<Job>::connect(&format!("postgres://u@127.0.0.1:{port}/db"), "t")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Database);
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("check that the server runs"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_table_that_is_not_ours_is_refused_and_left_untouched() {
    const TEST: &str = "a_table_that_is_not_ours_is_refused_and_left_untouched";
    let Some(url) = database_url(TEST) else {
        return;
    };
    let name = table_name("notours");
    let db = sql(&url).await;
    db.batch_execute(&format!(
        "CREATE TABLE {name} (key text PRIMARY KEY, value jsonb);
         INSERT INTO {name} VALUES ('precious', '{{\"n\": 1}}');"
    ))
    .await
    .unwrap();
    let e = PgTable::<Job>::connect(&url, &name).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotOurs, "{e}");
    assert!(
        e.to_string().contains(&name) && e.to_string().contains("choose another table name"),
        "{e}"
    );
    let rows = db
        .query(&format!("SELECT key, value::text FROM {name}"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(1), r#"{"n": 1}"#);
    let exists: bool = db
        .query_one(
            &format!("SELECT to_regclass('{name}_replicas') IS NOT NULL"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!exists, "a refused open created tables");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_do_not_decode_are_skipped_and_changes_restart_nothing_else() {
    const TEST: &str = "values_that_do_not_decode_are_skipped_and_changes_restart_nothing_else";
    let Some(url) = database_url(TEST) else {
        return;
    };
    let name = table_name("decode");
    let t = PgTable::<Job>::connect_with(&url, &name, settings("one"))
        .await
        .unwrap();
    let e = t.insert("Not A Key", &Job { n: 1 }).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadKey);
    t.insert("good", &Job { n: 1 }).await.unwrap();
    let db = sql(&url).await;
    db.execute(
        &format!("INSERT INTO {name} (key, value) VALUES ('odd', '{{\"n\": \"one\"}}')"),
        &[],
    )
    .await
    .unwrap();
    let (h, jobs) = run(t.clone());
    wait_key(&h, &jobs, "good", Some(NodeState::Healthy)).await;
    assert_eq!(
        jobs.get("odd"),
        None,
        "a value that does not decode is not run"
    );
    // Fixing the row with plain SQL starts it.
    db.execute(
        &format!("UPDATE {name} SET value = '{{\"n\": 2}}' WHERE key = 'odd'"),
        &[],
    )
    .await
    .unwrap();
    wait_key(&h, &jobs, "odd", Some(NodeState::Healthy)).await;
    t.remove("odd").await.unwrap();
    wait_key(&h, &jobs, "odd", None).await;
    assert_eq!(jobs.get("good"), Some(NodeState::Healthy));
    assert!(h.shutdown().await.is_clean());
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_epoch_grows_with_every_change_of_owner() {
    const TEST: &str = "the_epoch_grows_with_every_change_of_owner";
    let Some(url) = database_url(TEST) else {
        return;
    };
    let name = table_name("epoch");
    let seen: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let first = PgTable::<Job>::connect_with(&url, &name, settings("first"))
        .await
        .unwrap();
    first.insert("k", &Job { n: 1 }).await.unwrap();
    let tree = |t: PgTable<Job>, who: &'static str| {
        let (seen, t2) = (seen.clone(), t.clone());
        let jobs = DynamicGroup::with_table(t, move |key: &str, _: &Job| {
            let (seen, t, key) = (seen.clone(), t2.clone(), key.to_owned());
            move |ctx: Context| {
                let epoch = ctx.epoch().expect("a leased key has an epoch");
                assert_eq!(Some(epoch), t.epoch(&key));
                seen.lock().unwrap().push((who.to_owned(), epoch));
                idle(ctx)
            }
        });
        let h = Group::parallel("app")
            .child(Child::new("jobs", jobs.clone()))
            .build()
            .unwrap()
            .start();
        (h, jobs)
    };
    let (h1, jobs1) = tree(first.clone(), "first");
    wait_key(&h1, &jobs1, "k", Some(NodeState::Healthy)).await;
    let e1 = first.owned()[0].1;
    assert!(e1 >= 1);
    // The first replica leaves; the second takes the key with a higher epoch.
    let second = PgTable::<Job>::connect_with(&url, &name, settings("second"))
        .await
        .unwrap();
    let (h2, jobs2) = tree(second.clone(), "second");
    h1.shutdown().await;
    first.close().await.unwrap();
    wait_key(&h2, &jobs2, "k", Some(NodeState::Healthy)).await;
    let e2 = second.owned()[0].1;
    assert!(e2 > e1, "epoch {e1} then {e2}");
    let db = sql(&url).await;
    let row = db
        .query_one(
            &format!("SELECT owner, epoch FROM {name} WHERE key = 'k'"),
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, String>(0).starts_with("second-"));
    assert_eq!(row.get::<_, i64>(1) as u64, e2);
    assert_eq!(
        *seen.lock().unwrap(),
        [("first".to_owned(), e1), ("second".to_owned(), e2)],
        "each child saw its own claim's epoch"
    );
    h2.shutdown().await;
    second.close().await.unwrap();
}
