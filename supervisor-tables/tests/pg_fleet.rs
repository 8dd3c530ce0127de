//! A fleet of replicas on a real PostgreSQL server, each replica a separate
//! process (this test binary re-run in the replica role) whose children log
//! their starts and stops with their fencing epochs.
//!
//! Needs `DATABASE_URL`; without it every test says loudly that it was
//! skipped. Run with `scripts/with-postgres.sh cargo test -p
//! supervisor-tables --all-features`.
#![cfg(feature = "postgres")]

mod pg_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pg_common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(30);

fn max_share(keys: usize, replicas: usize) -> usize {
    keys.div_ceil(replicas) + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_keys_evenly_and_rebalance_on_join_and_leave() {
    const TEST: &str = "three_replicas_share_keys_evenly_and_rebalance_on_join_and_leave";
    if run_replica_if_asked().await {
        return;
    }
    let Some(url) = database_url(TEST) else {
        return;
    };
    let table = table_name("balance");
    let _setup = create_table(&url, &table).await;
    let db = sql(&url).await;
    insert_keys(&db, &table, 0..100).await;
    let log = Log::default();
    let a = Replica::start(TEST, "a", &url, &table, &log);
    let b = Replica::start(TEST, "b", &url, &table, &log);
    let c = Replica::start(TEST, "c", &url, &table, &log);
    log.wait("3 replicas × 100 keys to settle", WAIT, |s| {
        settled(s, 100, &["a", "b", "c"], max_share(100, 3))
    })
    .await;
    eprintln!(
        "3 replicas settled at {:?}",
        per_replica(&live_children(&log.snapshot()))
    );
    // The database agrees: every key owned by a live session, once.
    let rows = db
        .query(
            &format!(
                "SELECT count(*), count(DISTINCT owner) FROM {table} t
                 JOIN {table}_replicas r ON r.id = t.owner AND r.lease_until > now()"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 100);
    assert_eq!(rows[0].get::<_, i64>(1), 3);

    // A fourth replica joins: the others give keys back to it.
    let d = Replica::start(TEST, "d", &url, &table, &log);
    log.wait("4 replicas to rebalance", WAIT, |s| {
        settled(s, 100, &["a", "b", "c", "d"], max_share(100, 4))
            && per_replica(&live_children(&s.events)).len() == 4
    })
    .await;
    eprintln!(
        "4 replicas settled at {:?}",
        per_replica(&live_children(&log.snapshot()))
    );
    // One leaves cleanly: its keys move at once (not after a lease).
    let t0 = Instant::now();
    b.stop().await;
    log.wait("3 replicas to take over b's keys", WAIT, |s| {
        settled(s, 100, &["a", "c", "d"], max_share(100, 3))
    })
    .await;
    eprintln!(
        "keys of a replica that left cleanly moved in {:?}",
        t0.elapsed()
    );
    let handovers = assert_never_two_owners(&log.snapshot());
    eprintln!("{handovers} handovers, never two live children for one key");
    assert!(handovers >= 25, "rebalancing moved only {handovers} keys");
    for r in [a, c, d] {
        r.stop().await;
    }
    let owners: Vec<(Option<String>, i64)> = db
        .query(
            &format!("SELECT owner, count(*) FROM {table} GROUP BY owner ORDER BY owner"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(owners, [(None, 100)], "a clean stop gives every key back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_loses_its_keys_to_the_others() {
    const TEST: &str = "a_killed_replica_loses_its_keys_to_the_others";
    if run_replica_if_asked().await {
        return;
    }
    let Some(url) = database_url(TEST) else {
        return;
    };
    let table = table_name("kill");
    let _setup = create_table(&url, &table).await;
    let db = sql(&url).await;
    insert_keys(&db, &table, 0..30).await;
    let log = Log::default();
    let a = Replica::start(TEST, "a", &url, &table, &log);
    let b = Replica::start(TEST, "b", &url, &table, &log);
    let c = Replica::start(TEST, "c", &url, &table, &log);
    log.wait("3 replicas × 30 keys to settle", WAIT, |s| {
        settled(s, 30, &["a", "b", "c"], max_share(30, 3))
            && per_replica(&live_children(&s.events)).len() == 3
    })
    .await;
    let b_keys: Vec<String> = live_children(&log.snapshot())
        .into_iter()
        .filter(|e| e.replica == "b")
        .map(|e| e.key)
        .collect();
    let killed_at = now_us();
    b.kill(&log);
    log.wait("a and c to take over b's keys", WAIT, |s| {
        settled(s, 30, &["a", "c"], max_share(30, 2))
    })
    .await;
    let events = log.snapshot();
    let took_over = events
        .iter()
        .filter(|e| e.start && e.at_us > killed_at && b_keys.contains(&e.key))
        .map(|e| e.at_us)
        .max()
        .unwrap();
    let failover = Duration::from_micros(took_over - killed_at);
    eprintln!(
        "kill -9 of a replica with {} keys: all of them running elsewhere after {failover:?} (lease {:?})",
        b_keys.len(),
        lease()
    );
    let handovers = assert_never_two_owners(&events);
    assert!(handovers >= b_keys.len(), "{handovers} handovers");
    a.stop().await;
    c.stop().await;
}

/// A TCP proxy to PostgreSQL that can be cut: while cut, it forwards
/// nothing and answers nothing (a network partition, not a reset).
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Default::default();
        let (cut2, conns2, target) = (cut.clone(), conns.clone(), target.to_owned());
        tokio::spawn(async move {
            // Sockets accepted while cut are held open and never served.
            let mut held = Vec::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if cut2.load(Ordering::SeqCst) {
                    held.push(inbound);
                    continue;
                }
                let target = target.clone();
                let cut3 = cut2.clone();
                conns2.lock().unwrap().push(tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut ri, mut wi) = inbound.split();
                    let (mut ro, mut wo) = outbound.split();
                    let up = pump(&mut ri, &mut wo, &cut3);
                    let down = pump(&mut ro, &mut wi, &cut3);
                    let _ = tokio::join!(up, down);
                    let _ = inbound.shutdown().await;
                }));
            }
        });
        Proxy { port, cut, conns }
    }

    /// From now on nothing gets through, in either direction.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Connections work again (new ones; the cut ones are closed).
    fn heal(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Copies until EOF; while cut, reads nothing more (so nothing passes).
async fn pump(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    cut: &AtomicBool,
) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if cut.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if cut.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_stops_its_children_before_its_lease_lapses() {
    const TEST: &str = "a_replica_cut_off_stops_its_children_before_its_lease_lapses";
    if run_replica_if_asked().await {
        return;
    }
    let Some(url) = database_url(TEST) else {
        return;
    };
    let table = table_name("cut");
    let _setup = create_table(&url, &table).await;
    let db = sql(&url).await;
    insert_keys(&db, &table, 0..20).await;
    let cfg: tokio_postgres::Config = url.parse().unwrap();
    let host = match &cfg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("the cut test needs a TCP DATABASE_URL, not {other:?}"),
    };
    let proxy = Proxy::start(&format!("{host}:{}", cfg.get_ports()[0])).await;
    let proxied_url = format!(
        "host=127.0.0.1 port={} user={} dbname={}{}",
        proxy.port,
        cfg.get_user().unwrap_or("postgres"),
        cfg.get_dbname().unwrap_or("postgres"),
        cfg.get_password()
            .map(|p| format!(" password={}", String::from_utf8_lossy(p)))
            .unwrap_or_default()
    );
    let log = Log::default();
    let a = Replica::start(TEST, "a", &proxied_url, &table, &log);
    let b = Replica::start(TEST, "b", &url, &table, &log);
    log.wait("2 replicas × 20 keys to settle", WAIT, |s| {
        settled(s, 20, &["a", "b"], max_share(20, 2))
            && per_replica(&live_children(&s.events)).len() == 2
    })
    .await;
    let a_keys: Vec<String> = live_children(&log.snapshot())
        .into_iter()
        .filter(|e| e.replica == "a")
        .map(|e| e.key)
        .collect();
    let cut_at = now_us();
    proxy.cut();
    log.wait(
        "a to stop its children and b to take every key",
        WAIT,
        |s| settled(s, 20, &["b"], 20),
    )
    .await;
    let events = log.snapshot();
    let last_stop = events
        .iter()
        .filter(|e| !e.start && e.replica == "a")
        .map(|e| e.at_us)
        .max()
        .unwrap();
    let first_takeover = events
        .iter()
        .filter(|e| e.start && e.replica == "b" && e.at_us > cut_at && a_keys.contains(&e.key))
        .map(|e| e.at_us)
        .min()
        .unwrap();
    eprintln!(
        "cut off: its {} children stopped {:?} after the cut; the other replica took the first of them {:?} after the cut, {:?} after the last stop",
        a_keys.len(),
        Duration::from_micros(last_stop - cut_at),
        Duration::from_micros(first_takeover - cut_at),
        Duration::from_micros(first_takeover - last_stop),
    );
    assert!(last_stop < first_takeover);
    assert_never_two_owners(&events);

    // The network comes back: a joins again and gets its share back.
    proxy.heal();
    log.wait("a to rejoin and rebalance", WAIT, |s| {
        settled(s, 20, &["a", "b"], max_share(20, 2))
            && per_replica(&live_children(&s.events)).len() == 2
    })
    .await;
    assert_never_two_owners(&log.snapshot());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_added_and_removed_by_sql_or_another_replica_are_picked_up() {
    const TEST: &str = "keys_added_and_removed_by_sql_or_another_replica_are_picked_up";
    if run_replica_if_asked().await {
        return;
    }
    let Some(url) = database_url(TEST) else {
        return;
    };
    let table = table_name("edit");
    // Another replica: a table handle that writes and follows no group.
    let other = create_table(&url, &table).await;
    let db = sql(&url).await;
    let log = Log::default();
    let a = Replica::start(TEST, "a", &url, &table, &log);
    let b = Replica::start(TEST, "b", &url, &table, &log);
    log.wait("both replicas to be ready", WAIT, |s| s.ready.len() == 2)
        .await;
    insert_keys(&db, &table, 0..10).await;
    log.wait("10 keys added with SQL to run", WAIT, |s| {
        settled(s, 10, &["a", "b"], max_share(10, 2))
    })
    .await;
    other.insert("extra", &Job { n: 77 }).await.unwrap();
    log.wait("a key added by another replica to run", WAIT, |s| {
        live_children(&s.events)
            .iter()
            .any(|e| e.key == "extra" && e.n == 77)
    })
    .await;
    // A value changed with SQL restarts that child with the new value.
    db.execute(
        &format!("UPDATE {table} SET value = '{{\"n\": 500}}' WHERE key = 'k005'"),
        &[],
    )
    .await
    .unwrap();
    log.wait("k005 to restart with its new value", WAIT, |s| {
        live_children(&s.events)
            .iter()
            .any(|e| e.key == "k005" && e.n == 500)
    })
    .await;
    db.execute(
        &format!("DELETE FROM {table} WHERE key IN ('k000', 'k001')"),
        &[],
    )
    .await
    .unwrap();
    other.remove("extra").await.unwrap();
    log.wait("removed keys to stop", WAIT, |s| {
        let live = live_children(&s.events);
        live.len() == 8
            && !live
                .iter()
                .any(|e| ["k000", "k001", "extra"].contains(&e.key.as_str()))
    })
    .await;
    // A key that breaks the name rule cannot be written with SQL either.
    let err = db
        .execute(
            &format!("INSERT INTO {table} (key, value) VALUES ('Bad Key', '{{}}')"),
            &[],
        )
        .await
        .unwrap_err();
    let db_err = err.as_db_error().expect("an error from the server");
    assert!(db_err.message().contains("check constraint"), "{db_err}");
    assert_never_two_owners(&log.snapshot());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_fleet_restarts_and_every_key_comes_back() {
    const TEST: &str = "the_whole_fleet_restarts_and_every_key_comes_back";
    if run_replica_if_asked().await {
        return;
    }
    let Some(url) = database_url(TEST) else {
        return;
    };
    let table = table_name("restart");
    let _setup = create_table(&url, &table).await;
    let db = sql(&url).await;
    insert_keys(&db, &table, 0..40).await;
    let log = Log::default();
    let first: Vec<Replica> = ["a", "b", "c"]
        .iter()
        .map(|n| Replica::start(TEST, n, &url, &table, &log))
        .collect();
    log.wait("the first fleet to settle", WAIT, |s| {
        settled(s, 40, &["a", "b", "c"], max_share(40, 3))
    })
    .await;
    // The whole fleet dies at once.
    for r in first {
        r.kill(&log);
    }
    assert!(live_children(&log.snapshot()).is_empty());
    let second: Vec<Replica> = ["d", "e", "f"]
        .iter()
        .map(|n| Replica::start(TEST, n, &url, &table, &log))
        .collect();
    log.wait("every key to come back on the new fleet", WAIT, |s| {
        settled(s, 40, &["d", "e", "f"], max_share(40, 3))
    })
    .await;
    assert_never_two_owners(&log.snapshot());
    for r in second {
        r.stop().await;
    }
}
