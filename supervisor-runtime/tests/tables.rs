//! Table semantics of a `DynamicGroup`: the table is asked before every
//! restart, a changed value restarts the child with it, a table that cannot
//! be read is retried and changes nothing, bad entries are skipped and shown,
//! epochs reach the child, keys are given back once their child has ended.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use supervisor_runtime::{
    Backoff, BoxError, Child, Context, DynamicGroup, Group, Intensity, NodeState, Table, Tree,
};
use supervisor_testkit::start;
use tokio::sync::Notify;

/// A table the test controls: entries, whether it announces changes, reads
/// that fail, epochs, what it skipped, and a log of what the group asked.
#[derive(Clone, Default)]
struct TestTable {
    inner: Arc<TableInner>,
}

#[derive(Default)]
struct TableInner {
    entries: Mutex<BTreeMap<String, u32>>,
    announce: bool,
    changed: Notify,
    /// Reads (`load` and `get`) that fail before they succeed again.
    failing: AtomicU32,
    loads: AtomicU32,
    epochs: Mutex<BTreeMap<String, u64>>,
    skipped: Mutex<Vec<(String, String)>>,
    log: Mutex<Vec<String>>,
}

impl TestTable {
    fn quiet() -> Self {
        Self::default()
    }

    fn announcing() -> Self {
        TestTable {
            inner: Arc::new(TableInner {
                announce: true,
                ..TableInner::default()
            }),
        }
    }

    fn set(&self, key: &str, v: u32) {
        self.inner.entries.lock().unwrap().insert(key.into(), v);
        self.inner.changed.notify_waiters();
    }

    fn del(&self, key: &str) {
        self.inner.entries.lock().unwrap().remove(key);
        self.inner.changed.notify_waiters();
    }

    fn log(&self) -> Vec<String> {
        self.inner.log.lock().unwrap().clone()
    }

    fn push(&self, line: String) {
        self.inner.log.lock().unwrap().push(line);
    }

    fn fail(&self) -> Result<(), BoxError> {
        let f = &self.inner.failing;
        if f.load(Ordering::SeqCst) > 0 {
            f.fetch_sub(1, Ordering::SeqCst);
            return Err("the database is down".into());
        }
        Ok(())
    }
}

impl Table<u32> for TestTable {
    async fn load(&self) -> Result<Vec<(String, u32)>, BoxError> {
        self.inner.loads.fetch_add(1, Ordering::SeqCst);
        self.fail()?;
        let e = self.inner.entries.lock().unwrap();
        Ok(e.iter().map(|(k, v)| (k.clone(), *v)).collect())
    }

    async fn get(&self, key: &str) -> Result<Option<u32>, BoxError> {
        self.push(format!("get {key}"));
        self.fail()?;
        Ok(self.inner.entries.lock().unwrap().get(key).copied())
    }

    async fn changed(&self) {
        if self.inner.announce {
            self.inner.changed.notified().await
        } else {
            std::future::pending().await
        }
    }

    fn epoch(&self, key: &str) -> Option<u64> {
        self.inner.epochs.lock().unwrap().get(key).copied()
    }

    fn release(&self, key: &str) {
        self.push(format!("release {key}"));
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.inner.skipped.lock().unwrap().clone()
    }
}

/// What the keyed children did: each incarnation records `key=value`
/// (with its epoch, if any) when it starts, and `<name> end` when it ends;
/// the test tells a child to fail, exit or stop slowly.
#[derive(Clone, Default)]
struct Jobs(Arc<JobsInner>);

#[derive(Default)]
struct JobsInner {
    log: Mutex<Vec<String>>,
    starts: Mutex<BTreeMap<String, u32>>,
    live: Mutex<BTreeMap<String, u32>>,
    overlaps: AtomicU32,
    ctl: Mutex<BTreeMap<String, tokio::sync::mpsc::UnboundedSender<Cmd>>>,
}

#[derive(Debug)]
enum Cmd {
    Fail,
    Exit,
    SlowStop(Duration),
}

struct Live(Jobs, String);

impl Drop for Live {
    fn drop(&mut self) {
        *self.0 .0.live.lock().unwrap().get_mut(&self.1).unwrap() -= 1;
        self.0.push(format!("{} end", self.1));
    }
}

impl Jobs {
    fn push(&self, line: String) {
        self.0.log.lock().unwrap().push(line);
    }

    fn log(&self) -> Vec<String> {
        self.0.log.lock().unwrap().clone()
    }

    /// `key=value` lines, in start order.
    fn values(&self) -> Vec<String> {
        self.log().into_iter().filter(|l| l.contains('=')).collect()
    }

    fn starts(&self, name: &str) -> u32 {
        self.0
            .starts
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    fn send(&self, name: &str, cmd: Cmd) {
        let ctl = self.0.ctl.lock().unwrap();
        ctl.get(name).expect("a running child").send(cmd).unwrap();
    }

    async fn run(self, ctx: Context, line: String) -> Result<(), BoxError> {
        let name = ctx.name().to_owned();
        let epoch = ctx
            .epoch()
            .map(|e| format!(" epoch {e}"))
            .unwrap_or_default();
        self.push(format!("{line}{epoch}"));
        *self
            .0
            .starts
            .lock()
            .unwrap()
            .entry(name.clone())
            .or_default() += 1;
        {
            let mut live = self.0.live.lock().unwrap();
            let n = live.entry(name.clone()).or_default();
            *n += 1;
            if *n > 1 {
                self.0.overlaps.fetch_add(1, Ordering::SeqCst);
            }
        }
        let _live = Live(self.clone(), name.clone());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.0.ctl.lock().unwrap().insert(name, tx);
        ctx.healthy();
        let mut slow = None;
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Fail) => return Err("boom".into()),
                    Some(Cmd::Exit) => return Ok(()),
                    Some(Cmd::SlowStop(d)) => slow = Some(d),
                    None => std::future::pending::<()>().await,
                },
                _ = ctx.cancelled() => {
                    if let Some(d) = slow {
                        tokio::time::sleep(d).await;
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// `app.jobs`, driven by `table`; each key runs a [`Jobs`] child.
fn tree(
    table: TestTable,
    jobs: &Jobs,
    tune: impl FnOnce(DynamicGroup) -> DynamicGroup,
) -> (DynamicGroup, Tree) {
    let j = jobs.clone();
    let group = tune(DynamicGroup::with_table(
        table,
        move |key: &str, v: &u32| {
            let (j, line) = (j.clone(), format!("{key}={v}"));
            move |ctx: Context| j.clone().run(ctx, line.clone())
        },
    ));
    let tree = Group::parallel("app")
        .child(Child::new("jobs", group.clone()))
        .build()
        .unwrap();
    (group, tree)
}

#[tokio::test(start_paused = true)]
async fn an_entry_that_is_gone_is_not_restarted_after_a_failure() {
    let (jobs, table) = (Jobs::default(), TestTable::quiet());
    table.set("a", 1);
    table.set("b", 2);
    let (group, t) = tree(table.clone(), &jobs, |g| g);
    let (h, mut ev) = start(t);
    ev.wait_all(&["app.jobs.a", "app.jobs.b"], NodeState::Healthy)
        .await;
    // The entry goes away; the table does not announce it, and the next
    // periodic read is a minute away. Then the child fails.
    table.del("a");
    jobs.send("app.jobs.a", Cmd::Fail);
    ev.wait("app.jobs.a", NodeState::Stopped).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(jobs.starts("app.jobs.a"), 1, "{:?}", ev.trace());
    assert_eq!(group.keys(), ["b"]);
    assert_eq!(group.get("a"), None);
    assert_eq!(
        table.log(),
        ["get a", "release a"],
        "asked, then given back"
    );
    // A failure of a child whose entry is there restarts it as usual.
    jobs.send("app.jobs.b", Cmd::Fail);
    ev.wait("app.jobs.b", NodeState::Backoff).await;
    ev.wait("app.jobs.b", NodeState::Healthy).await;
    assert_eq!(jobs.starts("app.jobs.b"), 2);
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_child_removes_itself_by_deleting_its_entry_and_returning() {
    let (jobs, table) = (Jobs::default(), TestTable::quiet());
    table.set("once", 7);
    let (group, t) = tree(table.clone(), &jobs, |g| g.backoff(Backoff::None));
    let (h, mut ev) = start(t);
    ev.wait("app.jobs.once", NodeState::Healthy).await;
    // A permanent child that exits would be restarted at once (no backoff):
    // its entry is gone, so it is not.
    table.del("once");
    jobs.send("app.jobs.once", Cmd::Exit);
    ev.wait("app.jobs.once", NodeState::Stopped).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(jobs.starts("app.jobs.once"), 1);
    assert!(group.keys().is_empty());
    let snap = h.snapshot();
    assert!(snap.node("app.jobs.once").is_none(), "forgotten:\n{snap}");
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_restart_waits_for_the_table_however_short_the_backoff() {
    let (jobs, table) = (Jobs::default(), TestTable::quiet());
    table.set("a", 1);
    let (_group, t) = tree(table.clone(), &jobs, |g| g.backoff(Backoff::None));
    let (h, mut ev) = start(t);
    ev.wait("app.jobs.a", NodeState::Healthy).await;
    // The table cannot answer: the child restarts with the value it had.
    table.inner.failing.store(1, Ordering::SeqCst);
    jobs.send("app.jobs.a", Cmd::Fail);
    ev.wait("app.jobs.a", NodeState::Healthy).await;
    assert_eq!(jobs.starts("app.jobs.a"), 2);
    assert_eq!(table.log(), ["get a"]);
    assert_eq!(jobs.values(), ["a=1", "a=1"]);
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_changed_value_restarts_the_child_with_it_without_counting_a_failure() {
    let (jobs, table) = (Jobs::default(), TestTable::announcing());
    table.set("a", 1);
    table.set("b", 1);
    let (_group, t) = tree(table.clone(), &jobs, |g| {
        g.intensity(Intensity::new(1, Duration::from_secs(60)))
    });
    let (h, mut ev) = start(t);
    ev.wait_all(&["app.jobs.a", "app.jobs.b"], NodeState::Healthy)
        .await;
    // Five changes: far past an intensity of 1, and no backoff waited.
    let t0 = tokio::time::Instant::now();
    for v in 2..=6 {
        table.set("a", v);
        ev.wait("app.jobs.a", NodeState::Stopping).await;
        ev.wait("app.jobs.a", NodeState::Healthy).await;
    }
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(jobs.starts("app.jobs.a"), 6);
    assert_eq!(jobs.starts("app.jobs.b"), 1, "the others are left alone");
    assert_eq!(jobs.0.overlaps.load(Ordering::SeqCst), 0);
    let a: Vec<String> = jobs
        .values()
        .into_iter()
        .filter(|l| l.starts_with('a'))
        .collect();
    assert_eq!(a, ["a=1", "a=2", "a=3", "a=4", "a=5", "a=6"]);
    assert_eq!(
        h.snapshot().node("app.jobs").unwrap().state,
        NodeState::Healthy
    );
    h.shutdown().await;

    // A value changed in a quiet moment is found when the child restarts.
    let (jobs, quiet) = (Jobs::default(), TestTable::quiet());
    quiet.set("x", 1);
    let (_group, t) = tree(quiet.clone(), &jobs, |g| g.backoff(Backoff::None));
    let (h, mut ev) = start(t);
    ev.wait("app.jobs.x", NodeState::Healthy).await;
    quiet.set("x", 9);
    jobs.send("app.jobs.x", Cmd::Fail);
    ev.wait("app.jobs.x", NodeState::Backoff).await;
    ev.wait("app.jobs.x", NodeState::Healthy).await;
    assert_eq!(jobs.values(), ["x=1", "x=9"]);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_table_that_cannot_be_read_changes_nothing_and_is_retried_with_backoff() {
    let (jobs, table) = (Jobs::default(), TestTable::quiet());
    table.set("a", 1);
    let (_group, t) = tree(table.clone(), &jobs, |g| {
        g.reconcile_every(Duration::from_secs(10))
    });
    let base = tokio::time::Instant::now();
    let (h, mut ev) = start(t);
    ev.wait("app.jobs.a", NodeState::Healthy).await;
    let loads = || table.inner.loads.load(Ordering::SeqCst);
    assert_eq!(loads(), 1);
    // The next three reads fail: the child runs on, untouched; reads are
    // tried again 0.2 and 0.4 s later, and the one 0.8 s later succeeds.
    table.inner.failing.store(3, Ordering::SeqCst);
    table.del("a");
    table.set("b", 2);
    let ms = Duration::from_millis;
    tokio::time::sleep_until(base + ms(10_001)).await;
    assert_eq!(loads(), 2, "the periodic read");
    assert_eq!(jobs.starts("app.jobs.b"), 0);
    assert_eq!(
        h.snapshot().node("app.jobs.a").unwrap().state,
        NodeState::Healthy
    );
    tokio::time::sleep_until(base + ms(10_201)).await;
    assert_eq!(loads(), 3);
    tokio::time::sleep_until(base + ms(10_601)).await;
    assert_eq!(loads(), 4);
    assert_eq!(
        jobs.starts("app.jobs.b"),
        0,
        "still failing: nothing changed"
    );
    let (_, at) = ev.wait_at("app.jobs.b", NodeState::Healthy).await;
    ev.wait("app.jobs.a", NodeState::Stopped).await;
    assert_eq!(at - base, ms(11_400));
    assert_eq!(loads(), 5);
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn bad_entries_are_skipped_shown_and_never_stop_the_others() {
    let (jobs, table) = (Jobs::default(), TestTable::quiet());
    table.set("good", 1);
    table.set("Bad Key", 2);
    table.inner.skipped.lock().unwrap().push((
        "k2".into(),
        "the value does not decode: expected a number".into(),
    ));
    let (group, t) = tree(table.clone(), &jobs, |g| g);
    let (h, mut ev) = start(t);
    ev.wait("app.jobs.good", NodeState::Healthy).await;
    ev.wait("app.jobs", NodeState::Healthy).await;
    assert_eq!(group.keys(), ["good"]);
    let snap = h.snapshot();
    let notes = &snap.node("app.jobs").unwrap().notes;
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with("table entry `Bad Key` skipped: invalid node name"),
        "{notes:?}"
    );
    assert_eq!(
        notes[1],
        "table entry `k2` skipped: the value does not decode: expected a number"
    );
    assert!(
        snap.to_string().contains("note: table entry `k2` skipped"),
        "{snap}"
    );
    // Fixed in the table: the notes go, the child comes.
    table.del("Bad Key");
    table.inner.skipped.lock().unwrap().clear();
    table.set("k2", 3);
    group.reconcile().await;
    ev.wait("app.jobs.k2", NodeState::Healthy).await;
    assert!(h.snapshot().node("app.jobs").unwrap().notes.is_empty());
    // A key taken by a child added by hand is skipped too.
    let j = jobs.clone();
    group
        .add("manual", move |ctx: Context| {
            j.clone().run(ctx, "manual".into())
        })
        .await
        .unwrap();
    table.set("manual", 4);
    group.reconcile().await;
    assert_eq!(
        h.snapshot().node("app.jobs").unwrap().notes,
        ["table entry `manual` skipped: the key is taken by a child added with `add()`"]
    );
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn each_incarnation_reads_its_epoch_and_keys_are_given_back_after_their_child_ended() {
    let (jobs, table) = (Jobs::default(), TestTable::announcing());
    table.inner.epochs.lock().unwrap().insert("a".into(), 7);
    table.set("a", 1);
    table.set("b", 1);
    let (_group, t) = tree(table.clone(), &jobs, |g| g.backoff(Backoff::None));
    let (h, mut ev) = start(t);
    ev.wait_all(&["app.jobs.a", "app.jobs.b"], NodeState::Healthy)
        .await;
    table.inner.epochs.lock().unwrap().insert("a".into(), 8);
    jobs.send("app.jobs.a", Cmd::Fail);
    ev.wait("app.jobs.a", NodeState::Healthy).await;
    let mut values = jobs.values();
    values.sort();
    assert_eq!(values, ["a=1 epoch 7", "a=1 epoch 8", "b=1"]);
    // Gone from the table: given back only once its child, slow to stop, ended.
    jobs.send("app.jobs.b", Cmd::SlowStop(Duration::from_secs(3)));
    tokio::task::yield_now().await;
    let t0 = tokio::time::Instant::now();
    table.del("b");
    ev.wait("app.jobs.b", NodeState::Stopped).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        table.log().contains(&"release b".to_string()),
        "{:?}",
        table.log()
    );
    assert!(jobs.log().contains(&"app.jobs.b end".to_string()));
    // The group stops: every key it still held is given back.
    assert!(!table.log().contains(&"release a".to_string()));
    assert!(h.shutdown().await.is_clean());
    assert!(
        table.log().contains(&"release a".to_string()),
        "{:?}",
        table.log()
    );
}

#[tokio::test(start_paused = true)]
async fn the_group_is_healthy_once_the_table_was_read_and_its_children_are() {
    let (jobs, table) = (Jobs::default(), TestTable::quiet());
    table.set("a", 1);
    table.inner.failing.store(2, Ordering::SeqCst);
    let (_group, t) = tree(table.clone(), &jobs, |g| {
        g.healthy_within(Duration::from_secs(30))
    });
    let t0 = tokio::time::Instant::now();
    let (h, mut ev) = start(t);
    // Two failed reads (at 0 and 0.2 s), then the third, at 0.6 s, succeeds.
    let (_, healthy) = ev.wait_at("app.jobs", NodeState::Healthy).await;
    assert_eq!(healthy - t0, Duration::from_millis(600));
    assert_eq!(
        h.snapshot().node("app.jobs.a").unwrap().state,
        NodeState::Healthy
    );
    h.shutdown().await;
}
