//! Whole trees: no overlap across restarts with spawned children, a deep
//! subtree restarted as a unit, a tree that completes by itself.

use std::time::Duration;

use supervisor_runtime::{Backoff, Child, Group, Intensity, NodeState, Restart, Strategy};
use supervisor_testkit::{join, start, Cmd, End, Lab, OnStart};

#[tokio::test(start_paused = true)]
async fn a_node_restarts_only_after_its_spawned_children_ended() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .intensity(Intensity::Unlimited)
            .backoff(Backoff::None)
            .child(Child::new(
                "a",
                lab.child_with(OnStart::SpawnThenHealthy(&["w1", "w2"])),
            ))
            .build()
            .unwrap(),
    );
    for round in 1..=5u32 {
        ev.wait_all(&["app.a", "app.a.w1", "app.a.w2"], NodeState::Healthy)
            .await;
        // The spawned children take their time to stop.
        lab.send(
            "app.a.w1",
            Cmd::SlowStop(Duration::from_millis(300 * round as u64)),
        )
        .await;
        lab.send("app.a.w2", Cmd::SlowStop(Duration::from_millis(200)))
            .await;
        let ending = if round % 2 == 0 {
            Cmd::End(End::err("boom"))
        } else {
            Cmd::End(End::Ok)
        };
        lab.send("app.a", ending).await;
        ev.wait("app.a", NodeState::Backoff).await;
        let (_, started) = ev.wait_at("app.a", NodeState::Starting).await;
        let w1_end = *lab.times("app.a.w1 end").last().unwrap();
        let w2_end = *lab.times("app.a.w2 end").last().unwrap();
        assert!(
            started >= w1_end && started >= w2_end,
            "round {round}: {:#?}",
            lab.log_at()
        );
        assert_eq!(
            started - w1_end,
            Duration::ZERO,
            "round {round}: no backoff, restarted at once"
        );
    }
    assert_eq!(lab.overlaps(), 0, "{:#?}", lab.log());
    assert_eq!(lab.starts("app.a.w1"), 6);
    // And a spawned child restarting on its own never overlaps either.
    ev.wait_all(&["app.a", "app.a.w1", "app.a.w2"], NodeState::Healthy)
        .await;
    lab.send("app.a.w1", Cmd::OnCancel(End::err("ignored")))
        .await;
    lab.send("app.a.w1", Cmd::End(End::err("w1 broke"))).await;
    ev.wait("app.a.w1", NodeState::Healthy).await;
    assert!(h.shutdown().await.is_clean());
    assert_eq!(lab.live_guards(), 0);
    assert_eq!(lab.overlaps(), 0);
}

/// A group child (one_for_all sibling failure) with slow children of its own.
#[tokio::test(start_paused = true)]
async fn a_restarted_group_starts_again_only_once_all_its_descendants_ended() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .strategy(Strategy::OneForAll)
            .backoff(Backoff::None)
            .intensity(Intensity::Unlimited)
            .child(Child::new("trigger", lab.child()))
            .group(
                Group::sequential("g")
                    .child(Child::new(
                        "x",
                        lab.child_with(OnStart::SpawnThenHealthy(&["s"])),
                    ))
                    .child(Child::new("y", lab.child())),
            )
            .build()
            .unwrap(),
    );
    // The group node `app` stays healthy while its children restart; its
    // children's incarnations report their own health.
    ev.wait("app", NodeState::Healthy).await;
    for _ in 0..3 {
        lab.send("app.g.x.s", Cmd::SlowStop(Duration::from_secs(2)))
            .await;
        lab.send("app.g.y", Cmd::SlowStop(Duration::from_secs(1)))
            .await;
        lab.send("app.trigger", Cmd::End(End::err("boom"))).await;
        ev.wait("app.g", NodeState::Backoff).await;
        ev.wait_all(&["app.trigger", "app.g"], NodeState::Healthy)
            .await;
    }
    assert_eq!(lab.overlaps(), 0, "{:#?}", lab.log());
    assert_eq!(lab.starts("app.g.x.s"), 4);
    let log = lab.log();
    // Each time: y stopped before x, x's child ended before g reran.
    for k in 1..4 {
        let s_end = lab.positions("app.g.x.s end")[k - 1];
        let y_end = lab.positions("app.g.y end")[k - 1];
        let x_stop = lab.positions("app.g.x stopping")[k - 1];
        let x_start = lab.positions("app.g.x start")[k];
        assert!(y_end < x_stop && s_end < x_start, "{log:#?}");
    }
    assert!(h.shutdown().await.is_clean());
    assert_eq!(lab.live_guards(), 0);
}

/// depth 0..=4 groups (31), 32 leaves at depth 5: 63 nodes.
fn binary(lab: &Lab, name: &str, depth: u32) -> Group {
    let kind = if depth % 2 == 0 {
        Group::parallel(name)
    } else {
        Group::sequential(name)
    };
    let mut g = kind.backoff(Backoff::None);
    for side in ["l", "r"] {
        if depth == 4 {
            g = g.child(Child::new(side, lab.child()));
        } else {
            g = g.group(binary(lab, side, depth + 1));
        }
    }
    g
}

fn leaves(prefix: &str, depth: u32, out: &mut Vec<String>) {
    for side in ["l", "r"] {
        let n = format!("{prefix}.{side}");
        if depth == 4 {
            out.push(n);
        } else {
            leaves(&n, depth + 1, out);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_deep_subtree_restarts_as_a_unit() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .strategy(Strategy::OneForAll)
            .backoff(Backoff::None)
            .group(binary(&lab, "sub", 0))
            .child(Child::new("trigger", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app", NodeState::Healthy).await;
    let snap = h.snapshot();
    assert_eq!(
        snap.nodes()
            .iter()
            .filter(|n| n.name.starts_with("app.sub"))
            .count(),
        63,
        "{snap}"
    );
    let mut all = Vec::new();
    leaves("app.sub", 0, &mut all);
    assert_eq!(all.len(), 32);
    assert_eq!(lab.live_guards(), 33);
    // Uneven stop times, so that the restart has to wait for the slowest.
    for (k, leaf) in all.iter().enumerate() {
        lab.send(
            leaf,
            Cmd::SlowStop(Duration::from_millis(37 * k as u64 % 500)),
        )
        .await;
    }
    lab.clear_log();
    lab.send("app.trigger", Cmd::End(End::err("boom"))).await;
    ev.wait("app.sub", NodeState::Backoff).await;
    ev.wait("app.sub", NodeState::Healthy).await;
    assert_eq!(h.snapshot().node("app").unwrap().state, NodeState::Healthy);
    for leaf in &all {
        assert_eq!(lab.starts(leaf), 2, "{leaf}");
    }
    assert_eq!(lab.overlaps(), 0);
    // Every leaf ended before any started again.
    let log = lab.log();
    let last_end = log.iter().rposition(|l| l.ends_with(" end")).unwrap();
    let first_start = log.iter().position(|l| l.ends_with(" start")).unwrap();
    assert!(last_end < first_start, "{log:#?}");
    let snap = h.snapshot();
    assert_eq!(snap.node("app.sub").unwrap().restarts, 1);
    assert!(
        snap.nodes().iter().all(|n| n.state == NodeState::Healthy),
        "{snap}"
    );
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.nodes().len(), 65, "app, 63 nodes of sub, trigger");
    assert_eq!(lab.live_guards(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_tree_whose_children_all_ended_for_good_completes_by_itself() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .child(Child::new("done", lab.child()))
            .child(Child::new("transient", lab.child()).restart(Restart::Transient))
            .child(Child::new("temporary", lab.child()).restart(Restart::Temporary))
            .child(Child::new("dnr", lab.child()))
            .group(Group::sequential("inner").child(Child::new("x", lab.child())))
            .build()
            .unwrap(),
    );
    let token = h.token();
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.done", Cmd::Done).await;
    lab.send("app.done", Cmd::End(End::Ok)).await;
    lab.send("app.transient", Cmd::End(End::Ok)).await;
    lab.send("app.temporary", Cmd::End(End::err("gone"))).await;
    lab.send("app.dnr", Cmd::End(End::DoNotRestart)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!token.is_cancelled(), "inner.x still runs");
    lab.send("app.inner.x", Cmd::Done).await;
    lab.send("app.inner.x", Cmd::End(End::Ok)).await;
    join(&h)
        .await
        .expect("a tree that ran out of work ends with Ok");
    assert!(token.is_cancelled());
    let snap = h.snapshot();
    assert_eq!(snap.node("app").unwrap().state, NodeState::Done, "{snap}");
    assert_eq!(
        snap.node("app.inner").unwrap().state,
        NodeState::Done,
        "{snap}"
    );
    assert_eq!(
        snap.node("app.temporary").unwrap().state,
        NodeState::Failed,
        "{snap}"
    );
    assert_eq!(lab.live_guards(), 0);
    assert!(h.shutdown().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn snapshots_draw_the_tree() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::sequential("app")
            .group(
                Group::parallel("web")
                    .backoff(Backoff::None)
                    .child(Child::new("http", lab.child()))
                    .child(Child::new("admin", lab.child())),
            )
            .child(Child::new("db", lab.waiting_child()))
            .child(Child::new("cache", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.db", NodeState::Starting).await;
    lab.send("app.web.admin", Cmd::End(End::err("boom"))).await;
    ev.wait("app.web.admin", NodeState::Backoff).await;
    ev.wait("app.web.admin", NodeState::Healthy).await;
    let snap = h.snapshot();
    assert_eq!(
        snap.to_string(),
        "\
app          starting
├─ web       healthy
│  ├─ http   healthy
│  └─ admin  healthy   restarts 1  last error: boom
├─ db        starting
└─ cache     waiting
"
    );
    assert_eq!(snap.node("app.web.http").unwrap().depth, 2);
    h.shutdown().await;
}

/// A subscription made before `start()` sees every event from the first,
/// even on a multi-thread runtime where the tree may be healthy before the
/// code after `start()` runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_before_start_sees_every_event_from_the_first() {
    for _ in 0..20 {
        let lab = Lab::new();
        let tree = Group::sequential("app")
            .child(Child::new("a", lab.child()))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap();
        let mut rx = tree.subscribe();
        let mut second = tree.subscribe();
        let h = tree.start();
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("app healthy") {
            let e = rx.recv().await.expect("no gap, no close");
            seen.push(format!("{} {}", e.name, e.state));
        }
        assert_eq!(
            seen,
            [
                "app starting",
                "app.a starting",
                "app.a healthy",
                "app.b starting",
                "app.b healthy",
                "app healthy"
            ]
        );
        let first = second.recv().await.unwrap();
        assert_eq!(
            (first.name.as_str(), first.state),
            ("app", NodeState::Starting)
        );
        h.shutdown().await;
    }
}

/// A child that ends without ever signalling `healthy` is no longer waited
/// for: once its sibling becomes healthy, the group is healthy and the node
/// after it starts, with no one following the events (nothing else would
/// wake the group for the sibling's signal).
#[tokio::test(start_paused = true)]
async fn a_child_that_ended_before_healthy_is_not_waited_for_by_its_group() {
    let lab = Lab::new();
    let h = Group::sequential("app")
        .group(
            Group::parallel("g")
                .child(Child::new("a", lab.waiting_child()))
                .child(Child::new("b", lab.waiting_child()).restart(Restart::Temporary)),
        )
        .child(Child::new("c", lab.waiting_child()))
        .build()
        .unwrap()
        .start();
    lab.send("app.g.b", Cmd::End(End::Ok)).await;
    for _ in 0..10_000 {
        if !lab.is_live("app.g.b") {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(!lab.is_live("app.g.b"), "{:#?}", lab.log());
    lab.send("app.g.a", Cmd::Healthy).await;
    // `c` starts only once `g` is healthy.
    lab.send("app.c", Cmd::Healthy).await;
    assert_eq!(lab.starts("app.g.b"), 1, "temporary: not restarted");
    let snap = h.snapshot();
    assert_eq!(
        snap.node("app.g").unwrap().state,
        NodeState::Healthy,
        "{snap}"
    );
    assert!(h.shutdown().await.is_clean());
    assert_eq!(lab.live_guards(), 0);
}
