//! What the PostgreSQL tests share: the database URL (or a loud skip), short
//! lease settings, replicas as separate processes, and the log of their
//! children's starts and stops.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use supervisor_runtime::{Child as TreeChild, Context, DynamicGroup, Group, Table};
use supervisor_tables::{PgSettings, PgTable};
use tokio::sync::Notify;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Job {
    pub n: u64,
}

/// `DATABASE_URL`, or `None` after saying loudly why the test is skipped.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            // Straight to stderr, past libtest's capture: a skip is never silent.
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n\
                 ************************************************************************\n\
                 SKIPPED {test}: DATABASE_URL is not set, so there is no PostgreSQL\n\
                 server to test against. Run the PostgreSQL tests with a throwaway server:\n\
                 \n    scripts/with-postgres.sh cargo test -p supervisor-tables --all-features\n\
                 ************************************************************************\n"
            );
            None
        }
    }
}

/// Lease settings short enough for a fast suite, long enough for a busy
/// machine: a 3 s lease renewed every 300 ms, children stopped 1.2 s
/// before an unrenewed lease lapses.
pub fn settings(name: &str) -> PgSettings {
    PgSettings::new()
        .lease(Duration::from_secs(3))
        .renew_every(Duration::from_millis(300))
        .stop_margin(Duration::from_millis(1200))
        .query_timeout(Duration::from_millis(800))
        .connect_timeout(Duration::from_millis(800))
        .name(name)
}

pub fn lease() -> Duration {
    Duration::from_secs(3)
}

/// A table name of its own for each test, so that tests run side by side.
pub fn table_name(test: &str) -> String {
    let t: String = test.chars().take(24).collect();
    format!("t_{}_{}", t, std::process::id())
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

pub async fn sql(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(conn);
    c
}

// ----- the replica process --------------------------------------------------

const ROLE: &str = "PG_TEST_REPLICA";

/// When this process is a replica started by a test: runs it and returns true.
pub async fn run_replica_if_asked() -> bool {
    let Ok(name) = std::env::var(ROLE) else {
        return false;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let url = std::env::var("PG_TEST_URL").unwrap();
    let table_name = std::env::var("PG_TEST_TABLE").unwrap();
    let table = PgTable::<Job>::connect_with(&url, &table_name, settings(&name))
        .await
        .unwrap_or_else(|e| panic!("replica {name}: {e}"));
    let jobs = DynamicGroup::with_table(table.clone(), move |key: &str, j: &Job| {
        let (key, n) = (key.to_owned(), j.n);
        move |ctx: Context| {
            let key = key.clone();
            async move {
                // The engine reads the claim's epoch at each incarnation.
                let epoch = ctx.epoch().unwrap_or(0);
                println!("@@ start {key} {epoch} {n} {}", now_us());
                ctx.healthy();
                ctx.cancelled().await;
                println!("@@ stop {key} {epoch} {n} {}", now_us());
                Ok::<(), std::io::Error>(())
            }
        }
    })
    .reconcile_every(Duration::from_secs(30));
    let h = Group::parallel("fleet")
        .child(TreeChild::new("keys", jobs))
        .build()
        .unwrap()
        .start();
    println!("@@ ready");
    // A line "stop" or the end of stdin: stop cleanly.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = tx.send(());
    });
    let _ = rx.await;
    let report = h.shutdown().await;
    table.close().await.unwrap();
    println!("@@ closed {}", report.is_clean());
    std::io::stdout().flush().unwrap();
    true
}

/// A replica: this test binary, on `test`, in the replica role.
pub struct Replica {
    pub name: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    /// The threads that read its stdout and stderr; they end with it.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Replica {
    pub fn start(test: &str, name: &str, url: &str, table: &str, log: &Log) -> Replica {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, name)
            .env("PG_TEST_URL", url)
            .env("PG_TEST_TABLE", table)
            .env(
                "RUST_LOG",
                std::env::var("PG_TEST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Its log lines, marked with its name.
        let err = child.stderr.take().unwrap();
        let n = name.to_owned();
        let err_reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[replica {n}] {line}");
            }
        });
        let out = child.stdout.take().unwrap();
        let log = log.clone();
        let n = name.to_owned();
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                log.line(&n, &line);
            }
        });
        Replica {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child: Some(child),
            readers: vec![out_reader, err_reader],
        }
    }

    /// SIGKILL; its children die with it: logged as stopped when it is gone.
    pub fn kill(mut self, log: &Log) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        log.killed(&self.name, now_us());
    }

    /// Asks for a clean stop and waits for the process to end.
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        let mut child = self.child.take().unwrap();
        let pid = child.id();
        let wait = tokio::task::spawn_blocking(move || child.wait());
        match tokio::time::timeout(Duration::from_secs(30), wait).await {
            Ok(status) => {
                let status = status.unwrap().unwrap();
                // Everything it said is in the log before anyone looks.
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                assert!(
                    status.success(),
                    "replica {} ended with {status}",
                    self.name
                );
            }
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!(
                    "replica {} did not stop within 30 s of being asked",
                    self.name
                );
            }
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ----- the log ----------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Ev {
    pub replica: String,
    pub start: bool,
    pub key: String,
    pub epoch: u64,
    pub n: u64,
    pub at_us: u64,
}

/// Every start and stop of every replica's children, in arrival order.
#[derive(Clone, Default)]
pub struct Log {
    inner: Arc<(Mutex<LogState>, Notify)>,
}

#[derive(Default)]
pub struct LogState {
    pub events: Vec<Ev>,
    pub ready: Vec<String>,
    pub closed: Vec<String>,
}

impl Log {
    fn line(&self, replica: &str, line: &str) {
        // Protocol lines start with `@@ ` (libtest may print before them on
        // the same line).
        let Some(at) = line.find("@@ ") else { return };
        let p: Vec<&str> = line[at + 3..].split(' ').collect();
        {
            let mut s = self.inner.0.lock().unwrap();
            match p.as_slice() {
                ["ready"] => s.ready.push(replica.to_owned()),
                ["closed", _] => s.closed.push(replica.to_owned()),
                [kind @ ("start" | "stop"), key, epoch, n, at] => s.events.push(Ev {
                    replica: replica.to_owned(),
                    start: *kind == "start",
                    key: (*key).to_owned(),
                    epoch: epoch.parse().unwrap(),
                    n: n.parse().unwrap(),
                    at_us: at.parse().unwrap(),
                }),
                _ => return,
            }
        }
        self.inner.1.notify_waiters();
    }

    fn killed(&self, replica: &str, at_us: u64) {
        {
            let mut s = self.inner.0.lock().unwrap();
            let live: Vec<Ev> = live_children(&s.events)
                .into_iter()
                .filter(|e| e.replica == replica)
                .collect();
            for e in live {
                s.events.push(Ev {
                    start: false,
                    at_us,
                    ..e
                });
            }
        }
        self.inner.1.notify_waiters();
    }

    pub fn snapshot(&self) -> Vec<Ev> {
        self.inner.0.lock().unwrap().events.clone()
    }

    /// Waits until `pred` holds on the log: checks first, then on each new line.
    pub async fn wait(&self, what: &str, within: Duration, pred: impl Fn(&LogState) -> bool) {
        let r = tokio::time::timeout(within, async {
            loop {
                let n = self.inner.1.notified();
                tokio::pin!(n);
                n.as_mut().enable();
                if pred(&self.inner.0.lock().unwrap()) {
                    return;
                }
                n.await;
            }
        })
        .await;
        if r.is_err() {
            let s = self.inner.0.lock().unwrap();
            let live = live_children(&s.events);
            panic!(
                "timed out after {within:?} waiting for {what}; live children per replica: {:?}",
                per_replica(&live)
            );
        }
    }
}

/// The children running now (a start without its stop), one entry each.
pub fn live_children(events: &[Ev]) -> Vec<Ev> {
    let mut live: BTreeMap<(String, String, u64), Ev> = BTreeMap::new();
    for e in events {
        let id = (e.replica.clone(), e.key.clone(), e.epoch);
        if e.start {
            live.insert(id, e.clone());
        } else {
            live.remove(&id);
        }
    }
    live.into_values().collect()
}

pub fn per_replica(live: &[Ev]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in live {
        *m.entry(e.replica.clone()).or_insert(0) += 1;
    }
    m
}

/// Every key in `keys` has exactly one live child, and no replica runs more
/// than `max`.
pub fn settled(s: &LogState, keys: usize, replicas: &[&str], max: usize) -> bool {
    let live = live_children(&s.events);
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for e in &live {
        *per_key.entry(e.key.as_str()).or_insert(0) += 1;
    }
    let counts = per_replica(&live);
    per_key.len() == keys
        && per_key.values().all(|n| *n == 1)
        && counts.keys().all(|r| replicas.contains(&r.as_str()))
        && counts.values().all(|n| *n <= max)
}

/// Fails if a key ever had two live children at once, or if a new owner's
/// epoch did not grow. Returns how many handovers it checked.
pub fn assert_never_two_owners(events: &[Ev]) -> usize {
    // Per key: (start, stop, replica, epoch) intervals.
    let mut runs: BTreeMap<&str, Vec<(u64, u64, &str, u64)>> = BTreeMap::new();
    let mut open: HashMap<(&str, &str, u64), u64> = HashMap::new();
    for e in events {
        let id = (e.replica.as_str(), e.key.as_str(), e.epoch);
        if e.start {
            open.insert(id, e.at_us);
        } else if let Some(t0) = open.remove(&id) {
            runs.entry(e.key.as_str()).or_default().push((
                t0,
                e.at_us,
                e.replica.as_str(),
                e.epoch,
            ));
        }
    }
    for ((r, k, ep), t0) in open {
        runs.entry(k).or_default().push((t0, u64::MAX, r, ep));
    }
    let mut handovers = 0;
    for (key, mut rs) in runs {
        rs.sort();
        for w in rs.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert!(
                a.1 <= b.0,
                "key {key} had two live children: {} (epoch {}) until {} and {} (epoch {}) from {}",
                a.2,
                a.3,
                a.1,
                b.2,
                b.3,
                b.0
            );
            assert!(b.3 >= 1, "key {key} ran on {} without a fencing epoch", b.2);
            if a.2 != b.2 {
                handovers += 1;
                assert!(
                    b.3 > a.3,
                    "key {key} moved from {} to {} without a higher epoch ({} -> {})",
                    a.2,
                    b.2,
                    a.3,
                    b.3
                );
            }
        }
    }
    handovers
}

/// Inserts keys `k000..` with plain SQL.
pub async fn insert_keys(c: &tokio_postgres::Client, table: &str, range: std::ops::Range<usize>) {
    for i in range {
        c.execute(
            &format!("INSERT INTO {table} (key, value) VALUES ($1, $2::text::jsonb)"),
            &[&format!("k{i:03}"), &format!("{{\"n\":{i}}}")],
        )
        .await
        .unwrap();
    }
}

/// A table that only makes sure the schema exists (it follows nothing, so
/// it claims nothing).
pub async fn create_table(url: &str, table: &str) -> PgTable<Job> {
    PgTable::<Job>::connect_with(url, table, settings("setup"))
        .await
        .unwrap()
}

/// Keeps `table.owned()` in view, for tests that run replicas in-process.
pub fn owned_counts(tables: &[PgTable<Job>]) -> Vec<usize> {
    tables.iter().map(|t| t.owned().len()).collect()
}

/// Makes sure `Table` is in scope for `epoch`.
pub fn epoch_of(t: &PgTable<Job>, key: &str) -> Option<u64> {
    t.epoch(key)
}
