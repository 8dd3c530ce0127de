//! one_for_one, one_for_all, rest_for_one on sequential and parallel groups:
//! which siblings restart, stops in stop order, starts in start order.

use supervisor_runtime::{Backoff, Child, Group, Intensity, NodeState, Restart, Strategy};
use supervisor_testkit::{start, Cmd, End, Lab};

fn sequential(lab: &Lab, s: Strategy) -> Group {
    Group::sequential("app")
        .strategy(s)
        .intensity(Intensity::Unlimited)
        .backoff(Backoff::None)
        .child(Child::new("a", lab.child()))
        .child(Child::new("b", lab.child()))
        .child(Child::new("c", lab.child()))
        .child(Child::new("d", lab.child()))
}

/// `a`, `b after a`, `c after b`, `d` independent.
fn parallel(lab: &Lab, s: Strategy) -> Group {
    Group::parallel("app")
        .strategy(s)
        .intensity(Intensity::Unlimited)
        .backoff(Backoff::None)
        .child(Child::new("c", lab.child()).after(["b"]))
        .child(Child::new("a", lab.child()))
        .child(Child::new("b", lab.child()).after(["a"]))
        .child(Child::new("d", lab.child()))
}

/// Starts `g`, fails `victim`, waits until every node in `restarting` is
/// healthy again; returns the log from the failure on.
async fn fail_and_settle(lab: &Lab, g: Group, victim: &str, restarting: &[&str]) -> Vec<String> {
    let (h, mut ev) = start(g.build().unwrap());
    ev.wait("app", NodeState::Healthy).await;
    lab.clear_log();
    lab.send(victim, Cmd::End(End::err("boom"))).await;
    ev.wait_all(restarting, NodeState::Healthy).await;
    // Anything else that might (wrongly) happen gets a chance to.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let log = lab.log();
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(lab.overlaps(), 0);
    assert_eq!(lab.live_guards(), 0);
    log
}

fn pos(log: &[String], line: &str) -> usize {
    log.iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("`{line}` not in {log:#?}"))
}

#[tokio::test(start_paused = true)]
async fn one_for_one_on_sequential_restarts_only_the_failed_child() {
    let lab = Lab::new();
    let log = fail_and_settle(
        &lab,
        sequential(&lab, Strategy::OneForOne),
        "app.b",
        &["app.b"],
    )
    .await;
    assert_eq!(log, ["app.b end", "app.b start"]);
    for n in ["app.a", "app.c", "app.d"] {
        assert_eq!(lab.starts(n), 1, "{n}");
    }
    assert_eq!(lab.starts("app.b"), 2);
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_on_sequential_restarts_later_siblings_in_order() {
    let lab = Lab::new();
    let log = fail_and_settle(
        &lab,
        sequential(&lab, Strategy::RestForOne),
        "app.b",
        &["app.b", "app.c", "app.d"],
    )
    .await;
    assert_eq!(
        log,
        [
            "app.b end",
            "app.d stopping",
            "app.d end",
            "app.c stopping",
            "app.c end",
            "app.b start",
            "app.c start",
            "app.d start",
        ]
    );
    assert_eq!(lab.starts("app.a"), 1);
}

#[tokio::test(start_paused = true)]
async fn sequential_default_strategy_is_rest_for_one() {
    let lab = Lab::new();
    let g = Group::sequential("app")
        .backoff(Backoff::None)
        .child(Child::new("a", lab.child()))
        .child(Child::new("b", lab.child()))
        .child(Child::new("c", lab.child()));
    let log = fail_and_settle(&lab, g, "app.b", &["app.b", "app.c"]).await;
    assert_eq!(
        log,
        [
            "app.b end",
            "app.c stopping",
            "app.c end",
            "app.b start",
            "app.c start"
        ]
    );
    assert_eq!(lab.starts("app.a"), 1);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_on_sequential_stops_in_reverse_and_starts_in_order() {
    let lab = Lab::new();
    let log = fail_and_settle(
        &lab,
        sequential(&lab, Strategy::OneForAll),
        "app.b",
        &["app.a", "app.b", "app.c", "app.d"],
    )
    .await;
    assert_eq!(
        log,
        [
            "app.b end",
            "app.d stopping",
            "app.d end",
            "app.c stopping",
            "app.c end",
            "app.a stopping",
            "app.a end",
            "app.a start",
            "app.b start",
            "app.c start",
            "app.d start",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn one_for_one_on_parallel_leaves_dependents_alone() {
    let lab = Lab::new();
    let log = fail_and_settle(
        &lab,
        parallel(&lab, Strategy::OneForOne),
        "app.b",
        &["app.b"],
    )
    .await;
    assert_eq!(log, ["app.b end", "app.b start"]);
    for n in ["app.a", "app.c", "app.d"] {
        assert_eq!(lab.starts(n), 1, "{n}");
    }
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_on_parallel_restarts_the_after_dependents_transitively() {
    let lab = Lab::new();
    let log = fail_and_settle(
        &lab,
        parallel(&lab, Strategy::RestForOne),
        "app.a",
        &["app.a", "app.b", "app.c"],
    )
    .await;
    assert_eq!(
        log,
        [
            "app.a end",
            "app.c stopping",
            "app.c end",
            "app.b stopping",
            "app.b end",
            "app.a start",
            "app.b start",
            "app.c start",
        ]
    );
    assert_eq!(lab.starts("app.d"), 1, "d does not depend on a");
}

#[tokio::test(start_paused = true)]
async fn one_for_all_on_parallel_stops_dependents_first_and_starts_along_the_edges() {
    let lab = Lab::new();
    let log = fail_and_settle(
        &lab,
        parallel(&lab, Strategy::OneForAll),
        "app.d",
        &["app.a", "app.b", "app.c", "app.d"],
    )
    .await;
    // Stops: c before b is asked, b before a is asked (each waits for its
    // dependents to have ended).
    assert!(
        pos(&log, "app.c end") < pos(&log, "app.b stopping"),
        "{log:#?}"
    );
    assert!(
        pos(&log, "app.b end") < pos(&log, "app.a stopping"),
        "{log:#?}"
    );
    // Nothing starts before every member of the batch has ended.
    let last_end = pos(&log, "app.a end");
    for n in ["app.a", "app.b", "app.c", "app.d"] {
        assert!(pos(&log, &format!("{n} start")) > last_end, "{n}: {log:#?}");
    }
    // Starts follow the edges.
    assert!(
        pos(&log, "app.a start") < pos(&log, "app.b start"),
        "{log:#?}"
    );
    assert!(
        pos(&log, "app.b start") < pos(&log, "app.c start"),
        "{log:#?}"
    );
    for n in ["app.a", "app.b", "app.c", "app.d"] {
        assert_eq!(lab.starts(n), 2, "{n}");
    }
}

#[tokio::test(start_paused = true)]
async fn one_for_all_stops_temporary_siblings_but_does_not_restart_them() {
    let lab = Lab::new();
    let g = Group::parallel("app")
        .strategy(Strategy::OneForAll)
        .backoff(Backoff::None)
        .child(Child::new("a", lab.child()))
        .child(Child::new("t", lab.child()).restart(Restart::Temporary))
        .child(Child::new("b", lab.child()));
    let (h, mut ev) = start(g.build().unwrap());
    ev.wait("app", NodeState::Healthy).await;
    lab.clear_log();
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    ev.wait_all(&["app.a", "app.b"], NodeState::Healthy).await;
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    assert!(
        lab.log().contains(&"app.t stopping".to_string()),
        "{:#?}",
        lab.log()
    );
    assert_eq!(
        lab.starts("app.t"),
        1,
        "a temporary sibling is not restarted"
    );
    assert_eq!(lab.starts("app.a"), 2);
    assert_eq!(lab.starts("app.b"), 2);
    let snap = h.snapshot();
    assert_eq!(
        snap.node("app.t").unwrap().state,
        NodeState::Stopped,
        "{snap}"
    );
    assert_eq!(
        snap.node("app").unwrap().state,
        NodeState::Healthy,
        "{snap}"
    );
    assert!(h.shutdown().await.is_clean());
    assert_eq!(lab.overlaps(), 0);
}

/// A restart of several siblings is counted once against the intensity.
#[tokio::test(start_paused = true)]
async fn a_batch_restart_counts_once() {
    let lab = Lab::new();
    let g = Group::sequential("app")
        .strategy(Strategy::OneForAll)
        .intensity(Intensity::new(1, std::time::Duration::from_secs(60)))
        .backoff(Backoff::None)
        .child(Child::new("a", lab.child()))
        .child(Child::new("b", lab.child()))
        .child(Child::new("c", lab.child()));
    let (h, mut ev) = start(g.build().unwrap());
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    ev.wait_all(&["app.a", "app.b", "app.c"], NodeState::Healthy)
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(h.snapshot().node("app").unwrap().state, NodeState::Healthy);
    h.shutdown().await;
    h.join().await.expect("one failure is within max = 1");
}

/// The failed child sits in the middle of the chain: `a` still waits for `c`
/// (which depends on it through `b`) to end before it is asked to stop.
#[tokio::test(start_paused = true)]
async fn one_for_all_on_parallel_looks_through_an_ended_child_for_the_stop_order() {
    let lab = Lab::new();
    let log = fail_and_settle(
        &lab,
        parallel(&lab, Strategy::OneForAll),
        "app.b",
        &["app.a", "app.b", "app.c", "app.d"],
    )
    .await;
    assert!(
        pos(&log, "app.c end") < pos(&log, "app.a stopping"),
        "{log:#?}"
    );
    assert!(
        pos(&log, "app.a start") < pos(&log, "app.b start"),
        "{log:#?}"
    );
    assert!(
        pos(&log, "app.b start") < pos(&log, "app.c start"),
        "{log:#?}"
    );
}
