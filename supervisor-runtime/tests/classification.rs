//! How an incarnation ends decides what happens next (the rules of
//! `Restart`, `Context::done`, `DoNotRestart` and `StopTree`, written out as
//! the table `expected` below),
//! for each restart type.

use std::time::Duration;

use supervisor_runtime::{Backoff, Child, ErrorKind, Group, Intensity, NodeState, Restart};
use supervisor_testkit::{start, Cmd, End, Lab};

const TYPES: [Restart; 3] = [Restart::Permanent, Restart::Transient, Restart::Temporary];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    OkAfterStop,
    ErrAfterStop,
    OkAfterDone,
    PlainOk,
    Err,
    Panic,
    DoNotRestart,
}

/// What the design's table says: `None` = restarted, else the final state
/// and the error text the ending event carries.
fn expected(r: Restart, e: Ending) -> Option<(NodeState, Option<&'static str>)> {
    use Ending::*;
    match (e, r) {
        (OkAfterStop, _) => Some((NodeState::Stopped, None)),
        (ErrAfterStop, _) => Some((NodeState::Stopped, Some("stop went wrong"))),
        (OkAfterDone, _) => Some((NodeState::Done, None)),
        (DoNotRestart, _) => Some((NodeState::Done, Some("no more"))),
        (PlainOk, Restart::Permanent) => None,
        (PlainOk, _) => Some((NodeState::Stopped, None)),
        (Err | Panic, Restart::Temporary) => Some((NodeState::Failed, Some(error_text(e)))),
        (Err | Panic, _) => None,
    }
}

fn error_text(e: Ending) -> &'static str {
    match e {
        Ending::Err => "boom",
        Ending::Panic => "panicked: kaboom",
        _ => unreachable!(),
    }
}

async fn case(r: Restart, ending: Ending) {
    let lab = Lab::new();
    let tree = Group::parallel("app")
        .intensity(Intensity::Unlimited)
        .backoff(Backoff::Fixed(Duration::from_secs(1)))
        .child(Child::new("a", lab.child()).restart(r))
        .child(Child::new("keep", lab.child()))
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    ev.wait("app.a", NodeState::Healthy).await;
    let what = format!("{r:?} × {ending:?}");
    match ending {
        Ending::OkAfterStop | Ending::ErrAfterStop => {
            if ending == Ending::ErrAfterStop {
                lab.send("app.a", Cmd::OnCancel(End::err("stop went wrong")))
                    .await;
            }
            let report = h.shutdown().await;
            let (state, err) = expected(r, ending).unwrap();
            let node = report.node("app.a").expect("a in the report");
            assert_eq!(node.state, state, "{what}: {report:?}");
            assert_eq!(
                node.error.as_deref(),
                err,
                "{what}: an Err while stopping is still reported"
            );
            assert!(report.is_clean(), "{what}: {report:?}");
            let e = ev.wait("app.a", NodeState::Stopped).await;
            assert_eq!(e.error.map(|e| e.to_string()).as_deref(), err, "{what}");
            assert_eq!(
                lab.starts("app.a"),
                1,
                "{what}: a stopped node never restarts"
            );
            h.join().await.expect("a clean shutdown");
            return;
        }
        Ending::OkAfterDone => {
            lab.send("app.a", Cmd::Done).await;
            lab.send("app.a", Cmd::End(End::Ok)).await;
        }
        Ending::PlainOk => lab.send("app.a", Cmd::End(End::Ok)).await,
        Ending::Err => lab.send("app.a", Cmd::End(End::err("boom"))).await,
        Ending::Panic => lab.send("app.a", Cmd::End(End::panic("kaboom"))).await,
        Ending::DoNotRestart => lab.send("app.a", Cmd::End(End::DoNotRestart)).await,
    }
    match expected(r, ending) {
        None => {
            let e = ev.wait("app.a", NodeState::Backoff).await;
            assert_eq!(e.delay, Some(Duration::from_secs(1)), "{what}");
            let want_err =
                matches!(ending, Ending::Err | Ending::Panic).then(|| error_text(ending));
            assert_eq!(
                e.error.map(|e| e.to_string()).as_deref(),
                want_err,
                "{what}"
            );
            ev.wait("app.a", NodeState::Healthy).await;
            assert_eq!(lab.starts("app.a"), 2, "{what}: restarted once");
            let snap = h.snapshot();
            assert_eq!(snap.node("app.a").unwrap().restarts, 1, "{what}");
            assert_eq!(
                snap.node("app.a").unwrap().state,
                NodeState::Healthy,
                "{what}"
            );
        }
        Some((state, err)) => {
            let e = ev.wait("app.a", state).await;
            assert_eq!(e.error.map(|e| e.to_string()).as_deref(), err, "{what}");
            // Far past any backoff: nothing restarts it.
            tokio::time::sleep(Duration::from_secs(60)).await;
            assert_eq!(lab.starts("app.a"), 1, "{what}: not restarted");
            let snap = h.snapshot();
            let a = snap.node("app.a").unwrap();
            assert_eq!(a.state, state, "{what}");
            assert_eq!(a.restarts, 0, "{what}");
            assert_eq!(a.last_error.as_deref(), err, "{what}");
            assert!(
                !ev.saw("app.a", NodeState::Backoff),
                "{what}: no restart was scheduled"
            );
        }
    }
    // The sibling was never touched.
    assert_eq!(lab.starts("app.keep"), 1, "{what}");
    assert_eq!(
        h.snapshot().node("app.keep").unwrap().state,
        NodeState::Healthy,
        "{what}"
    );
    let report = h.shutdown().await;
    assert!(report.is_clean(), "{what}: {report:?}");
    h.join().await.expect("clean shutdown");
    assert_eq!(lab.live_guards(), 0);
    assert_eq!(lab.overlaps(), 0);
}

#[tokio::test(start_paused = true)]
async fn ok_after_stop_is_stopped_for_every_restart_type() {
    for r in TYPES {
        case(r, Ending::OkAfterStop).await;
    }
}

#[tokio::test(start_paused = true)]
async fn err_after_stop_is_stopped_and_the_error_is_reported() {
    for r in TYPES {
        case(r, Ending::ErrAfterStop).await;
    }
}

#[tokio::test(start_paused = true)]
async fn ok_after_done_is_done_for_every_restart_type() {
    for r in TYPES {
        case(r, Ending::OkAfterDone).await;
    }
}

#[tokio::test(start_paused = true)]
async fn plain_ok_restarts_only_permanent_children() {
    for r in TYPES {
        case(r, Ending::PlainOk).await;
    }
}

#[tokio::test(start_paused = true)]
async fn err_restarts_permanent_and_transient_children() {
    for r in TYPES {
        case(r, Ending::Err).await;
    }
}

#[tokio::test(start_paused = true)]
async fn panic_restarts_permanent_and_transient_children() {
    for r in TYPES {
        case(r, Ending::Panic).await;
    }
}

#[tokio::test(start_paused = true)]
async fn do_not_restart_is_done_for_every_restart_type() {
    for r in TYPES {
        case(r, Ending::DoNotRestart).await;
    }
}

#[tokio::test(start_paused = true)]
async fn stop_tree_shuts_the_whole_tree_down_for_every_restart_type() {
    for r in TYPES {
        let lab = Lab::new();
        let tree = Group::sequential("app")
            .child(Child::new("keep", lab.child()))
            .child(Child::new("a", lab.child()).restart(r))
            .build()
            .unwrap();
        let (h, mut ev) = start(tree);
        ev.wait("app.a", NodeState::Healthy).await;
        lab.send("app.a", Cmd::End(End::StopTree)).await;
        let e = h
            .join()
            .await
            .expect_err("StopTree ends the tree with an error");
        assert_eq!(e.kind(), ErrorKind::StopTree, "{r:?}: {e:?}");
        assert_eq!(e.node(), Some("app.a"), "{r:?}");
        let st = e.stop_tree().expect("the StopTree is carried");
        assert_eq!(st.to_string(), "fatal");
        assert!(e.to_string().contains("fatal"), "{e}");
        assert!(h.token().is_cancelled(), "{r:?}");
        // Everything else was stopped gracefully, nothing restarted.
        assert_eq!(lab.lines(" stopping"), ["app.keep stopping"], "{r:?}");
        assert_eq!(lab.starts("app.a"), 1, "{r:?}");
        assert_eq!(lab.live_guards(), 0, "{r:?}");
        // Every later caller sees the same outcome.
        let again = h.join().await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::StopTree);
        let report = h.shutdown().await;
        assert!(report.is_clean(), "{report:?}");
    }
}

/// A sibling that returns `Err` while being stopped by a group restart is
/// not a failure: it is not counted against the intensity.
#[tokio::test(start_paused = true)]
async fn err_while_stopped_by_a_group_restart_is_not_a_failure() {
    let lab = Lab::new();
    let tree = Group::parallel("app")
        .strategy(supervisor_runtime::Strategy::OneForAll)
        .intensity(Intensity::new(1, Duration::from_secs(60)))
        .backoff(Backoff::None)
        .child(Child::new("a", lab.child()))
        .child(Child::new("b", lab.child()))
        .build()
        .unwrap();
    let (h, mut ev) = start(tree);
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.b", Cmd::OnCancel(End::err("b complains")))
        .await;
    lab.send("app.a", Cmd::End(End::err("boom"))).await;
    // Both restart; b's complaint is reported but does not exceed max = 1.
    let e = ev.wait("app.b", NodeState::Backoff).await;
    assert_eq!(
        e.error.map(|e| e.to_string()).as_deref(),
        Some("b complains")
    );
    ev.wait_all(&["app.a", "app.b"], NodeState::Healthy).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let snap = h.snapshot();
    assert_eq!(
        snap.node("app").unwrap().state,
        NodeState::Healthy,
        "{snap}"
    );
    assert_eq!(
        snap.node("app.b").unwrap().last_error.as_deref(),
        Some("b complains")
    );
    assert_eq!(lab.starts("app.a"), 2);
    assert_eq!(lab.starts("app.b"), 2);
    h.shutdown().await;
    h.join().await.expect("the root did not give up");
}
