//! `SqliteTable` against real files and real processes.
//!
//! Tests that need a second process re-run this test binary on the same
//! test with `SQLITE_TEST_ROLE` set; in that role the test function plays
//! the other process and exits.
#![cfg(feature = "sqlite")]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use supervisor_runtime::{Child, Context, DynamicGroup, Group, NodeState, Table, TreeHandle};
use supervisor_tables::{ErrorKind, SqliteSettings, SqliteTable};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Job {
    n: u64,
}

const ROLE: &str = "SQLITE_TEST_ROLE";
const FILE: &str = "SQLITE_TEST_FILE";

/// The role this process plays, when it is the second process of a test.
fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// This test binary, set to run only `test` in `role` on `file`.
fn second_process(test: &str, role: &str, file: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(FILE, file)
        .stdin(Stdio::null());
    c
}

fn temp_file(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    (dir, p)
}

async fn timeout<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("timed out after 20 s waiting for {what}"))
}

async fn idle(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    ctx.cancelled().await;
    Ok(())
}

/// Waits until `key`'s state in `jobs` satisfies `pred`: state first, then events.
async fn wait_key(
    h: &TreeHandle,
    jobs: &DynamicGroup,
    key: &str,
    pred: impl Fn(Option<NodeState>) -> bool,
) {
    let mut ev = h.subscribe();
    timeout(&format!("`{key}` to change state"), async {
        while !pred(jobs.get(key)) {
            let _ = ev.recv().await;
        }
    })
    .await;
}

#[tokio::test]
async fn entries_survive_reopening_and_bad_keys_are_refused() {
    let (_d, path) = temp_file("t.db");
    let t = SqliteTable::<Job>::open(&path).await.unwrap();
    t.insert("a", &Job { n: 1 }).await.unwrap();
    t.insert("b-2", &Job { n: 2 }).await.unwrap();
    t.insert("a", &Job { n: 3 }).await.unwrap();
    t.remove("b-2").await.unwrap();
    t.remove("never-there").await.unwrap();
    for bad in ["", "A", "a.b", &"x".repeat(65)] {
        let e = t.insert(bad, &Job { n: 9 }).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadKey, "{bad:?}: {e}");
        assert!(e.to_string().contains("1-64 characters"), "{e}");
    }
    drop(t);
    let t = SqliteTable::<Job>::open(&path).await.unwrap();
    assert_eq!(t.load().await.unwrap(), vec![("a".into(), Job { n: 3 })]);
    assert_eq!(t.get("a").await.unwrap(), Some(Job { n: 3 }));
    assert_eq!(t.get("b-2").await.unwrap(), None);

    // The file is what the rustdoc says: WAL, our marks, JSON text.
    let c = shell(&path);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let id: i32 = c
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, supervisor_tables::APPLICATION_ID);
    let v: String = c
        .query_row("SELECT value FROM entries WHERE key = 'a'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, r#"{"n":3}"#);
}

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn rows_written_by_hand_that_are_bad_are_skipped_with_a_warning() {
    let logs = Logs::default();
    let l2 = logs.clone();
    let sub = tracing_subscriber::fmt()
        .with_writer(move || l2.clone())
        .with_ansi(false)
        .finish();
    let _g = tracing::subscriber::set_default(sub);

    let (_d, path) = temp_file("t.db");
    let t = SqliteTable::<Job>::open(&path).await.unwrap();
    t.insert("good", &Job { n: 1 }).await.unwrap();
    // As a person would with the sqlite3 shell.
    let c = shell(&path);
    c.execute_batch(
        r#"INSERT INTO entries(key, value) VALUES ('Bad Key', '{"n":2}');
           INSERT INTO entries(key, value) VALUES ('wrong-shape', '{"n":"two"}');
           INSERT INTO entries(key, value) VALUES ('zz', '{"n":4}');"#,
    )
    .unwrap();
    let err = c
        .execute(
            "INSERT INTO entries(key, value) VALUES ('x', 'not json')",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");

    let rows = t.load().await.unwrap();
    assert_eq!(
        rows,
        vec![("good".into(), Job { n: 1 }), ("zz".into(), Job { n: 4 })]
    );
    assert_eq!(t.get("wrong-shape").await.unwrap(), None);
    let skipped: Vec<String> = t.skipped().into_iter().map(|(k, _)| k).collect();
    assert_eq!(skipped, ["Bad Key", "wrong-shape"]);
    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(
        text.contains("Bad Key") && text.contains("key is not valid"),
        "{text}"
    );
    assert!(
        text.contains("wrong-shape") && text.contains("does not decode"),
        "{text}"
    );
    // Once per problem, not on every read.
    let before = text.matches("wrong-shape").count();
    t.load().await.unwrap();
    assert_eq!(logs.text().matches("wrong-shape").count(), before);
}

/// A plain connection, as the sqlite3 shell would open one.
fn shell(p: impl AsRef<Path>) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(p).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// Drops a table off the runtime, where its connections close before the
/// drop returns (on the runtime they close on the blocking pool, in the
/// background, and a change of the file's journal mode made meanwhile
/// would find them open: "database is locked").
fn close<V: 'static>(t: SqliteTable<V>) {
    std::thread::spawn(move || drop(t)).join().unwrap();
}

/// The bytes of a file, to check that a failed open left it alone.
fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[tokio::test]
async fn a_file_that_is_not_ours_is_refused_and_left_untouched() {
    // Another program's database.
    let (_d, path) = temp_file("other.db");
    {
        let c = shell(&path);
        c.execute_batch("CREATE TABLE invoices(id INTEGER); INSERT INTO invoices VALUES (7);")
            .unwrap();
    }
    let before = bytes(&path);
    let e = SqliteTable::<Job>::open(&path).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotOurs, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("choose another file"), "{msg}");
    assert_eq!(bytes(&path), before, "a failed open changed the file");
    assert!(!path.with_extension("db-wal").exists());

    // Not a database at all.
    let (_d2, text) = temp_file("notes.txt");
    std::fs::write(&text, "dear diary, ".repeat(500)).unwrap();
    let before = bytes(&text);
    let e = SqliteTable::<Job>::open(&text).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotOurs, "{e}");
    assert!(e.to_string().contains("not a SQLite database"), "{e}");
    assert_eq!(bytes(&text), before);

    // Ours, but from a newer version.
    let (_d3, newer) = temp_file("newer.db");
    drop(SqliteTable::<Job>::open(&newer).await.unwrap());
    {
        let c = shell(&newer);
        c.execute_batch("PRAGMA user_version = 99").unwrap();
        // All of it into the file, so that the bytes compared below are the
        // whole database: the dropped table closes its connections in the
        // background, and while one is open, closing this one leaves the
        // log unfolded (the failed open's own close would fold it, and the
        // file's bytes would change with the same content).
        let busy: i64 = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 0, "the log could not be folded into the file");
    }
    let before = bytes(&newer);
    let e = SqliteTable::<Job>::open(&newer).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotOurs, "{e}");
    assert!(e.to_string().contains("newer"), "{e}");
    assert_eq!(bytes(&newer), before);
}

#[tokio::test]
async fn a_corrupt_file_is_refused_and_left_untouched() {
    let (_d, path) = temp_file("t.db");
    let t = SqliteTable::<Job>::open(&path).await.unwrap();
    for i in 0..200 {
        t.insert(&format!("k{i}"), &Job { n: i }).await.unwrap();
    }
    close(t);
    // Checkpoint the log into the file, then damage a page of the table.
    {
        let c = shell(&path);
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
            .unwrap();
    }
    let mut b = bytes(&path);
    let page: usize = 4096;
    assert!(b.len() > 3 * page, "file too small to damage: {}", b.len());
    for x in &mut b[page + 8..page + 200] {
        *x = 0xA5;
    }
    std::fs::write(&path, &b).unwrap();
    let e = SqliteTable::<Job>::open(&path).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("backup"),
        "{msg}"
    );
    assert_eq!(bytes(&path), b, "a failed open changed the file");
}

#[tokio::test]
async fn a_locked_file_is_a_clear_error_and_left_untouched() {
    let (_d, path) = temp_file("t.db");
    {
        let t = SqliteTable::<Job>::open(&path).await.unwrap();
        t.insert("a", &Job { n: 1 }).await.unwrap();
    }
    let holder = shell(&path);
    holder
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; DELETE FROM entries;")
        .unwrap();
    let before = bytes(&path);
    let e = SqliteTable::<Job>::open_with(
        &path,
        SqliteSettings::new().busy_timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("another process holds a lock"), "{msg}");
    assert_eq!(bytes(&path), before);
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let t = SqliteTable::<Job>::open(&path).await.unwrap();
    assert_eq!(
        t.load().await.unwrap().len(),
        1,
        "the rolled back delete is not seen"
    );
}

#[tokio::test]
async fn a_missing_directory_says_so() {
    let (_d, dir) = temp_file("nope");
    let e = SqliteTable::<Job>::open(dir.join("t.db"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("directory exists"), "{e}");
    let e = SqliteTable::<Job>::open(_d.path()).await.unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
}

/// The second process of `another_process_edits_the_file_while_a_group_runs`.
fn edit_from_another_process(op: &str) {
    let path = PathBuf::from(std::env::var(FILE).unwrap());
    let c = shell(path);
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    match op {
        "add" => c
            .execute_batch(r#"INSERT INTO entries(key, value) VALUES ('remote', '{"n":7}')"#)
            .unwrap(),
        "remove" => c
            .execute_batch("DELETE FROM entries WHERE key = 'remote'")
            .unwrap(),
        _ => panic!("unknown role {op}"),
    }
}

#[tokio::test]
async fn another_process_edits_the_file_while_a_group_runs() {
    const TEST: &str = "another_process_edits_the_file_while_a_group_runs";
    if let Some(op) = role() {
        return edit_from_another_process(&op);
    }
    let (_d, path) = temp_file("t.db");
    let t = SqliteTable::<Job>::open(&path).await.unwrap();
    t.insert("local", &Job { n: 1 }).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    // The period is an hour: only `changed()` can explain a prompt pickup.
    let jobs = DynamicGroup::with_table(t.clone(), move |key: &str, j: &Job| {
        seen2.lock().unwrap().push((key.to_owned(), j.n));
        idle
    })
    .reconcile_every(Duration::from_secs(3600));
    let h = Group::parallel("app")
        .child(Child::new("jobs", jobs.clone()))
        .build()
        .unwrap()
        .start();
    wait_key(&h, &jobs, "local", |s| s == Some(NodeState::Healthy)).await;

    let out = second_process(TEST, "add", &path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t0 = std::time::Instant::now();
    wait_key(&h, &jobs, "remote", |s| s == Some(NodeState::Healthy)).await;
    eprintln!("picked up another process's insert in {:?}", t0.elapsed());
    assert!(seen.lock().unwrap().contains(&("remote".into(), 7)));

    // A row another program broke shows on the group's node, and the others run on.
    shell(&path)
        .execute_batch(r#"UPDATE entries SET value = '{"n":"x"}' WHERE key = 'local'"#)
        .unwrap();
    let mut ev = h.subscribe();
    timeout("the broken row to show in the snapshot", async {
        while !h
            .snapshot()
            .node("app.jobs")
            .is_some_and(|n| n.notes.iter().any(|x| x.contains("local")))
        {
            let _ = ev.recv().await;
        }
    })
    .await;
    assert_eq!(jobs.get("remote"), Some(NodeState::Healthy));
    shell(&path)
        .execute_batch(r#"UPDATE entries SET value = '{"n":1}' WHERE key = 'local'"#)
        .unwrap();
    wait_key(&h, &jobs, "local", |s| s == Some(NodeState::Healthy)).await;

    let out = second_process(TEST, "remove", &path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_key(&h, &jobs, "remote", |s| s.is_none()).await;
    assert_eq!(jobs.get("local"), Some(NodeState::Healthy));
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test]
async fn changed_resolves_on_writes_of_any_connection() {
    let (_d, path) = temp_file("t.db");
    let t = SqliteTable::<Job>::open(&path).await.unwrap();
    // Our own write wakes a waiter at once.
    let w = t.changed();
    tokio::pin!(w);
    assert!(futures_poll(w.as_mut()).await.is_pending());
    t.insert("a", &Job { n: 1 }).await.unwrap();
    timeout("changed() after insert", w).await;

    // So does another connection's write, through data_version.
    let w = t.changed();
    tokio::pin!(w);
    assert!(futures_poll(w.as_mut()).await.is_pending());
    let p = path.clone();
    tokio::task::spawn_blocking(move || {
        shell(p)
            .execute_batch(r#"UPDATE entries SET value = '{"n":2}' WHERE key = 'a'"#)
            .unwrap()
    })
    .await
    .unwrap();
    timeout("changed() after another connection's write", w).await;
    assert_eq!(t.get("a").await.unwrap(), Some(Job { n: 2 }));
}

async fn futures_poll<F: std::future::Future + Unpin>(mut f: F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut f).poll(cx))).await
}

/// The second process of `acknowledged_writes_survive_kill_9`: writes until
/// killed, printing each acknowledgment before the next write.
async fn write_until_killed() {
    let path = PathBuf::from(std::env::var(FILE).unwrap());
    let t = SqliteTable::<Job>::open(&path).await.unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        // Every third write removes a key written two steps earlier.
        if i % 3 == 2 {
            let k = format!("k{}", i - 2);
            t.remove(&k).await.unwrap();
            writeln!(out, "@@ removed {k}").unwrap();
        } else {
            let k = format!("k{i}");
            t.insert(&k, &Job { n: i }).await.unwrap();
            writeln!(out, "@@ inserted {k} {i}").unwrap();
        }
        out.flush().unwrap();
    }
}

/// The acknowledgment on a line of the writer's output, if any (libtest
/// may print before it on the same line).
fn ack(line: &str) -> Option<String> {
    line.find("@@ ").map(|at| line[at + 3..].to_owned())
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    const TEST: &str = "acknowledged_writes_survive_kill_9";
    if role().is_some() {
        return write_until_killed().await;
    }
    let rounds = 25;
    let mut total_acks = 0;
    for round in 0..rounds {
        let (_d, path) = temp_file("crash.db");
        let mut child = second_process(TEST, "write", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill after a random number of acknowledgments: mid-stream.
        let kill_after = fastrand::usize(1..120);
        let mut acks: Vec<String> = Vec::new();
        while acks.len() < kill_after {
            match lines.next() {
                Some(Ok(l)) => acks.extend(ack(&l)),
                other => panic!("round {round}: the writer ended early: {other:?}"),
            }
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the writer was not killed"
        );
        // Acknowledgments printed before the kill are still in the pipe.
        for l in lines.map_while(Result::ok) {
            acks.extend(ack(&l));
        }
        total_acks += acks.len();
        let t = SqliteTable::<Job>::open(&path)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the file does not open cleanly: {e}"));
        let rows: std::collections::BTreeMap<String, Job> =
            t.load().await.unwrap().into_iter().collect();
        // The writes are a known sequence: the state after the acknowledged
        // ones, or after one more (the write in flight may have committed
        // before its acknowledgment was printed). Nothing else.
        let done = acks.len() as u64;
        let after = |n: u64| {
            let mut m = std::collections::BTreeMap::new();
            for i in 0..n {
                if i % 3 == 2 {
                    m.remove(&format!("k{}", i - 2));
                } else {
                    m.insert(format!("k{i}"), i);
                }
            }
            m
        };
        for (i, a) in acks.iter().enumerate() {
            let i = i as u64;
            let want = if i % 3 == 2 {
                format!("removed k{}", i - 2)
            } else {
                format!("inserted k{i} {i}")
            };
            assert_eq!(*a, want, "round {round}: acknowledgment {i}");
        }
        let got: std::collections::BTreeMap<String, u64> =
            rows.iter().map(|(k, j)| (k.clone(), j.n)).collect();
        assert!(
            got == after(done) || got == after(done + 1),
            "round {round}: after {done} acknowledged writes the table holds {got:?}"
        );
        let c = shell(&path);
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
    }
    eprintln!(
        "{rounds} writers killed mid-stream; {total_acks} acknowledged writes, all found intact"
    );
}
