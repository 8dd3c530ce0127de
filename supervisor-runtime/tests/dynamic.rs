//! DynamicGroup: keyed children added and removed at runtime, table-driven
//! reconciliation.

use std::time::Duration;

use supervisor_runtime::{
    Backoff, Child, DynamicGroup, ErrorKind, Group, MemoryTable, NodeState, TreeHandle,
};
use supervisor_testkit::{start, Cmd, End, Events, Lab};

fn tree(jobs: &DynamicGroup, lab: &Lab) -> (TreeHandle, Events) {
    start(
        Group::parallel("app")
            .child(Child::new("jobs", jobs.clone()))
            .child(Child::new("other", lab.child()))
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn add_remove_keys_get() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new();
    let (h, mut ev) = tree(&jobs, &lab);
    ev.wait("app.jobs", NodeState::Healthy).await;
    let t1 = jobs.add("j1", lab.child()).await.unwrap();
    assert_eq!(t1.key(), "j1");
    let t2 = jobs.add("j2", lab.child()).await.unwrap();
    ev.wait_all(&["app.jobs.j1", "app.jobs.j2"], NodeState::Healthy)
        .await;
    assert_eq!(jobs.keys(), ["j1", "j2"]);
    assert_eq!(jobs.get("j1"), Some(NodeState::Healthy));
    assert_eq!(jobs.get("nope"), None);
    assert_eq!(
        h.snapshot().node("app.jobs.j2").unwrap().state,
        NodeState::Healthy
    );

    jobs.remove(&t1).await.unwrap();
    ev.wait("app.jobs.j1", NodeState::Stopped).await;
    assert!(lab.log().contains(&"app.jobs.j1 stopping".to_string()));
    assert_eq!(jobs.keys(), ["j2"]);
    assert_eq!(jobs.get("j1"), None);
    assert!(h.snapshot().node("app.jobs.j1").is_none());
    // Removing again is not an error.
    jobs.remove(&t1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        lab.starts("app.jobs.j1"),
        1,
        "a removed child is not restarted"
    );

    // The key is free again once its child has ended.
    let t1b = jobs.add("j1", lab.child()).await.unwrap();
    ev.wait("app.jobs.j1", NodeState::Healthy).await;
    assert_eq!(lab.starts("app.jobs.j1"), 2);
    // An old token does not remove the new child.
    jobs.remove(&t1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(jobs.get("j1"), Some(NodeState::Healthy));
    jobs.remove(&t1b).await.unwrap();
    jobs.remove(&t2).await.unwrap();
    ev.wait_all(&["app.jobs.j1", "app.jobs.j2"], NodeState::Stopped)
        .await;
    assert!(jobs.keys().is_empty());
    assert_eq!(lab.starts("app.other"), 1);
    assert!(h.shutdown().await.is_clean());
    assert_eq!(lab.overlaps(), 0);
    assert_eq!(lab.live_guards(), 0);
}

#[tokio::test(start_paused = true)]
async fn bad_keys_duplicate_live_keys_and_foreign_tokens_are_errors() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new();
    let other = DynamicGroup::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .child(Child::new("jobs", jobs.clone()))
            .child(Child::new("other", other.clone()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    for bad in ["", "Upper", "a.b", "a b", &"x".repeat(65)] {
        let e = jobs.add(bad, lab.child()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad:?}");
    }
    jobs.add("k", lab.child()).await.unwrap();
    let e = jobs.add("k", lab.child()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DuplicateName);
    let foreign = other.add("k", lab.child()).await.unwrap();
    let e = jobs.remove(&foreign).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ForeignToken);
    ev.wait_all(&["app.jobs.k", "app.other.k"], NodeState::Healthy)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lab.starts("app.jobs.k"), 1, "the duplicate started nothing");
    assert_eq!(
        other.get("k"),
        Some(NodeState::Healthy),
        "the foreign token removed nothing"
    );
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn keyed_children_are_permanent_and_restart() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new().backoff(Backoff::Fixed(Duration::from_secs(2)));
    let (h, mut ev) = tree(&jobs, &lab);
    jobs.add("k", lab.child()).await.unwrap();
    ev.wait("app.jobs.k", NodeState::Healthy).await;
    lab.send("app.jobs.k", Cmd::End(End::Ok)).await;
    let e = ev.wait("app.jobs.k", NodeState::Backoff).await;
    assert_eq!(e.delay, Some(Duration::from_secs(2)));
    ev.wait("app.jobs.k", NodeState::Healthy).await;
    assert_eq!(lab.starts("app.jobs.k"), 2);
    // A live key includes one waiting out its backoff.
    lab.send("app.jobs.k", Cmd::End(End::err("boom"))).await;
    ev.wait("app.jobs.k", NodeState::Backoff).await;
    assert_eq!(
        jobs.add("k", lab.child()).await.unwrap_err().kind(),
        ErrorKind::DuplicateName
    );
    ev.wait("app.jobs.k", NodeState::Healthy).await;
    assert_eq!(lab.overlaps(), 0);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn children_added_before_the_tree_starts_start_with_it() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new();
    jobs.add("early", lab.child()).await.unwrap();
    assert_eq!(jobs.keys(), ["early"]);
    assert_eq!(jobs.get("early"), None, "not running yet");
    let (h, mut ev) = tree(&jobs, &lab);
    ev.wait("app.jobs.early", NodeState::Healthy).await;
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn add_after_the_tree_shut_down_is_an_error() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new();
    let (h, mut ev) = tree(&jobs, &lab);
    jobs.add("k", lab.child()).await.unwrap();
    ev.wait("app.jobs.k", NodeState::Healthy).await;
    assert!(h.shutdown().await.is_clean());
    let e = jobs.add("late", lab.child()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShuttingDown, "{e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lab.starts("app.jobs.late"), 0);
    assert_eq!(lab.live_guards(), 0);
}

#[tokio::test(start_paused = true)]
async fn add_while_the_tree_is_shutting_down_is_an_error() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("jobs", jobs.clone()))
            .child(Child::new("slow", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.slow", Cmd::SlowStop(Duration::from_secs(2)))
        .await;
    let h2 = h.clone();
    let shutdown = tokio::spawn(async move { h2.shutdown().await });
    ev.wait("app.slow", NodeState::Stopping).await;
    let e = jobs.add("late", lab.child()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShuttingDown, "{e}");
    assert!(shutdown.await.unwrap().is_clean());
    assert_eq!(lab.starts("app.jobs.late"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_table_drives_the_children() {
    let lab = Lab::new();
    let table = MemoryTable::new();
    table.insert("a", 1u32);
    table.insert("b", 2u32);
    let l2 = lab.clone();
    let jobs = DynamicGroup::with_table(table.clone(), move |_key: &str, _v: &u32| l2.child());
    let (h, mut ev) = tree(&jobs, &lab);
    ev.wait_all(&["app.jobs.a", "app.jobs.b"], NodeState::Healthy)
        .await;
    ev.wait("app.jobs", NodeState::Healthy).await;
    assert_eq!(jobs.keys(), ["a", "b"]);
    // A child added by hand is left alone by the table.
    jobs.add("manual", lab.child()).await.unwrap();

    // A memory table announces its changes: applied at once, with no
    // `reconcile()` and no time passing.
    let t0 = tokio::time::Instant::now();
    table.insert("c", 3);
    table.remove("a");
    let (_, c_at) = ev.wait_at("app.jobs.c", NodeState::Healthy).await;
    let (_, a_at) = ev.wait_at("app.jobs.a", NodeState::Stopped).await;
    assert_eq!((c_at - t0, a_at - t0), (Duration::ZERO, Duration::ZERO));
    assert_eq!(jobs.keys(), ["b", "c", "manual"]);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        lab.starts("app.jobs.a"),
        1,
        "gone from the table: not restarted"
    );
    assert_eq!(jobs.get("manual"), Some(NodeState::Healthy));
    assert!(h.shutdown().await.is_clean());
    assert_eq!(lab.overlaps(), 0);
    assert_eq!(lab.live_guards(), 0);
}

/// A table that does not announce its changes: only the period and
/// `reconcile()` pick them up.
struct Quiet(MemoryTable<u32>);

impl supervisor_runtime::Table<u32> for Quiet {
    async fn load(&self) -> Result<Vec<(String, u32)>, supervisor_runtime::BoxError> {
        self.0.load().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_quiet_table_is_read_every_minute_and_on_reconcile() {
    let lab = Lab::new();
    let table = MemoryTable::new();
    let l2 = lab.clone();
    let jobs = DynamicGroup::with_table(Quiet(table.clone()), move |_k: &str, _v: &u32| l2.child());
    let (h, mut ev) = tree(&jobs, &lab);
    ev.wait("app.jobs", NodeState::Healthy).await;
    let t0 = tokio::time::Instant::now();
    table.insert("c", 3);
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(lab.starts("app.jobs.c"), 0, "not before the period");
    jobs.reconcile().await;
    let (_, at) = ev.wait_at("app.jobs.c", NodeState::Healthy).await;
    assert_eq!(at - t0, Duration::from_secs(59), "at once on `reconcile()`");

    // Periodically: the default period is one minute.
    table.insert("d", 4);
    let (_, at) = ev.wait_at("app.jobs.d", NodeState::Healthy).await;
    assert!(
        at - t0 > Duration::from_secs(59) && at - t0 <= Duration::from_secs(60),
        "{:?}",
        at - t0
    );
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn the_reconcile_period_can_be_set() {
    let lab = Lab::new();
    let table = MemoryTable::new();
    let l2 = lab.clone();
    let jobs = DynamicGroup::with_table(Quiet(table.clone()), move |_k: &str, _v: &u32| l2.child())
        .reconcile_every(Duration::from_secs(5));
    let (h, mut ev) = tree(&jobs, &lab);
    ev.wait("app.jobs", NodeState::Healthy).await;
    let t0 = tokio::time::Instant::now();
    table.insert("x", 1);
    let (_, at) = ev.wait_at("app.jobs.x", NodeState::Starting).await;
    assert_eq!(
        at - t0,
        Duration::from_secs(5),
        "read again after the period"
    );
    table.remove("x");
    ev.wait("app.jobs.x", NodeState::Stopped).await;
    assert!(jobs.keys().is_empty());
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn remove_returns_once_the_child_has_ended_so_its_key_is_free_again() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new();
    let (h, mut ev) = tree(&jobs, &lab);
    ev.wait("app.jobs", NodeState::Healthy).await;
    let t = jobs.add("j", lab.child()).await.unwrap();
    ev.wait("app.jobs.j", NodeState::Healthy).await;
    // The child takes 2 s to stop; `remove` waits for it.
    lab.send("app.jobs.j", Cmd::SlowStop(Duration::from_secs(2)))
        .await;
    let before = tokio::time::Instant::now();
    jobs.remove(&t).await.unwrap();
    assert!(before.elapsed() >= Duration::from_secs(2));
    assert!(!lab.is_live("app.jobs.j"), "{:?}", lab.log());
    assert_eq!(jobs.get("j"), None);
    // The key is free at once.
    jobs.add("j", lab.child()).await.unwrap();
    ev.wait("app.jobs.j", NodeState::Healthy).await;
    assert_eq!(lab.starts("app.jobs.j"), 2);
    assert_eq!(lab.overlaps(), 0);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_dynamic_group_is_healthy_when_its_children_are_or_after_a_bounded_wait() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new().healthy_within(Duration::from_secs(3));
    jobs.add("slow", lab.waiting_child()).await.unwrap();
    let (h, mut ev) = start(
        Group::sequential("app")
            .child(Child::new("jobs", jobs.clone()))
            .child(Child::new("after", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.jobs.slow", NodeState::Starting).await;
    let t0 = tokio::time::Instant::now();
    ev.wait("app.jobs", NodeState::Healthy).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
    assert_eq!(jobs.get("slow"), Some(NodeState::Starting));
    ev.wait("app.after", NodeState::Healthy).await;
    h.shutdown().await;

    // With healthy children it does not wait.
    let jobs = DynamicGroup::new();
    jobs.add("quick", lab.child()).await.unwrap();
    let (h, mut ev) = start(
        Group::sequential("app2")
            .child(Child::new("jobs", jobs.clone()))
            .build()
            .unwrap(),
    );
    let t0 = tokio::time::Instant::now();
    ev.wait("app2.jobs", NodeState::Healthy).await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
    h.shutdown().await;
}

/// What a removed child's runnable captured is dropped once `remove`
/// returns, not kept in its slot until a later child reuses it: a group
/// that shrinks gives its memory (and its handles, files, connections)
/// back.
#[tokio::test(start_paused = true)]
async fn what_a_removed_child_captured_is_dropped_once_it_has_ended() {
    let lab = Lab::new();
    let jobs = DynamicGroup::new();
    let (h, mut ev) = tree(&jobs, &lab);
    ev.wait("app.jobs", NodeState::Healthy).await;
    let held = std::sync::Arc::new(());
    let captured = held.clone();
    let t = jobs
        .add("j", move |ctx: supervisor_runtime::Context| {
            let _keep = &captured;
            async move {
                ctx.healthy();
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            }
        })
        .await
        .unwrap();
    ev.wait("app.jobs.j", NodeState::Healthy).await;
    assert_eq!(std::sync::Arc::strong_count(&held), 2);
    jobs.remove(&t).await.unwrap();
    assert_eq!(
        std::sync::Arc::strong_count(&held),
        1,
        "the removed child's runnable is still held"
    );
    assert!(h.shutdown().await.is_clean());
}

/// A context finds its node's name through its group's slot, and a removed
/// child's slot goes to the next key added: a context its child left
/// behind (of its last incarnation, or of an earlier one) must still name
/// that child, not the slot's new one.
#[tokio::test(start_paused = true)]
async fn a_context_left_behind_by_a_removed_child_keeps_its_name() {
    use supervisor_runtime::Context;
    let lab = Lab::new();
    let jobs = DynamicGroup::new().backoff(Backoff::None);
    let (h, mut ev) = tree(&jobs, &lab);
    ev.wait("app.jobs", NodeState::Healthy).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Context>();
    let send = tx.clone();
    let t = jobs
        .add("a", move |ctx: Context| {
            let send = send.clone();
            async move {
                // Handed out before anything asked for the name.
                send.send(ctx.clone()).unwrap();
                if ctx.incarnation() == 1 {
                    return Err(std::io::Error::other("first run fails"));
                }
                ctx.healthy();
                ctx.cancelled().await;
                Ok(())
            }
        })
        .await
        .unwrap();
    let first = rx.recv().await.unwrap();
    let second = rx.recv().await.unwrap();
    assert_eq!((first.incarnation(), second.incarnation()), (1, 2));
    ev.wait("app.jobs.a", NodeState::Healthy).await;
    jobs.remove(&t).await.unwrap();
    let send = tx.clone();
    jobs.add("b", move |ctx: Context| {
        let send = send.clone();
        async move {
            send.send(ctx.clone()).unwrap();
            ctx.healthy();
            ctx.cancelled().await;
            Ok::<(), std::io::Error>(())
        }
    })
    .await
    .unwrap();
    let b = rx.recv().await.unwrap();
    assert_eq!(b.name(), "app.jobs.b");
    assert_eq!(
        second.name(),
        "app.jobs.a",
        "the last incarnation's context"
    );
    assert_eq!(
        first.name(),
        "app.jobs.a",
        "an earlier incarnation's context"
    );
    assert!(h.shutdown().await.is_clean());
}
