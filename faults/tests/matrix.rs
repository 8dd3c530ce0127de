//! The combination matrix: restart type (3) × exit kind (ok, error, panic,
//! panic in drop: 4) × strategy (3) × moment relative to shutdown (before,
//! during, after: 3) × runtime flavour (current-thread, multi-thread: 2) =
//! 216 cells, each checked against the table computed from the model's rules by
//! `supervisor_faults::matrix::expected` (the tree each cell runs is described
//! there).
//!
//! The current-thread cells run on a paused clock; the multi-thread cells on
//! the real clock, waiting on events only, with a bounded `timeout` as a
//! failure guard.

use std::time::Duration;

use supervisor_faults::matrix::{
    cells, expected, Cell, ExitKind, Expected, Final, Flavour, RestartType, Strategy, When,
};
use supervisor_runtime::{
    Backoff, Child, Group, NodeState, Restart, Strategy as RtStrategy, TreeHandle,
};
use supervisor_testkit::{start, try_within, Cmd, End, Events, Lab, INJECTED};

/// Failure guard on every wait (never reached when the engine behaves).
const GUARD: Duration = Duration::from_secs(20);

async fn guarded<F: std::future::Future>(what: &str, f: F) -> Result<F::Output, String> {
    try_within(GUARD, f)
        .await
        .map_err(|t| format!("hang: {what} not done within {t}"))
}

fn stable(h: &TreeHandle) -> bool {
    !h.snapshot().nodes().iter().any(|n| {
        matches!(
            n.state,
            NodeState::Starting | NodeState::Backoff | NodeState::Stopping
        )
    })
}

/// Waits, on events only, until `x`'s incarnation 1 has ended and the tree is
/// at rest again (every state change is an event; a restart shows `Backoff`
/// at once, so a quiet snapshot after the last event is the final state).
async fn wait_rest_after_x_ended(h: &TreeHandle, ev: &mut Events) -> Result<(), String> {
    let mut ended = false;
    loop {
        ended |= ev.seen.iter().any(|e| {
            e.name == "app.x"
                && e.incarnation == 1
                && !matches!(e.state, NodeState::Healthy | NodeState::Starting)
        });
        if ended && stable(h) {
            return Ok(());
        }
        guarded("the tree settling after x ended", ev.next()).await?;
    }
}

async fn run_cell(c: Cell, id: usize) -> Result<Expected, String> {
    let lab = Lab::new();
    let strategy = match c.strategy {
        Strategy::OneForOne => RtStrategy::OneForOne,
        Strategy::OneForAll => RtStrategy::OneForAll,
        Strategy::RestForOne => RtStrategy::RestForOne,
    };
    let restart = match c.restart {
        RestartType::Permanent => Restart::Permanent,
        RestartType::Transient => Restart::Transient,
        RestartType::Temporary => Restart::Temporary,
    };
    let tree = Group::sequential("app")
        .strategy(strategy)
        .backoff(Backoff::None)
        .child(Child::new("w", lab.child()))
        .child(Child::new("x", lab.child()).restart(restart))
        .child(Child::new("y", lab.child()))
        .build()
        .map_err(|e| e.to_string())?
        .event_capacity(4096);
    // Subscribed before the start: every event from the first, on either
    // runtime.
    let (h, mut ev) = start(tree);
    guarded("app healthy", ev.wait("app", NodeState::Healthy)).await?;
    let msg = format!("{INJECTED}m{id}>");
    let end = match c.exit {
        ExitKind::Ok => End::Ok,
        ExitKind::Error => End::Err(msg.clone()),
        ExitKind::Panic => End::Panic(msg.clone()),
        ExitKind::PanicInDrop => End::DropPanic(msg.clone()),
    };
    // Commands are taken before cancellation (a biased select), so a command
    // sent before `shutdown()` is in force when the child is asked to stop.
    match c.when {
        When::Before => {
            lab.send("app.x", Cmd::End(end)).await;
            wait_rest_after_x_ended(&h, &mut ev).await?;
        }
        When::During => lab.send("app.x", Cmd::OnCancel(end)).await,
        When::After => lab.send("app.x", Cmd::LeaveBehind(end)).await,
    }
    let report = guarded("shutdown", h.shutdown()).await?;
    let mut late_spawn_refused = false;
    if c.when == When::After {
        ev.pump()?;
        let before = ev.seen.len();
        let refused = guarded("the left-behind task", lab.release_late()).await?;
        late_spawn_refused = refused == [true];
        ev.pump()?;
        if ev.seen.len() != before {
            return Err(format!(
                "events after the tree ended: {:?}",
                &ev.trace()[before..]
            ));
        }
        let again = guarded("second shutdown", h.shutdown()).await?;
        if again != report {
            return Err(format!(
                "a second shutdown() reports differently: {again:?} vs {report:?}"
            ));
        }
    }
    ev.pump()?;
    if lab.overlaps() > 0 {
        return Err("two live incarnations of one node".into());
    }
    if lab.live_guards() != 0 {
        return Err(format!(
            "tasks still alive after shutdown: {:?}",
            lab.live_names()
        ));
    }
    let x = report.node("app.x").ok_or("no app.x in the report")?;
    let x_final = match x.state {
        NodeState::Stopped => Final::Stopped,
        NodeState::Failed => Final::Failed,
        s => return Err(format!("app.x ends {s:?}")),
    };
    let join_ok = guarded("join", h.join()).await?.is_ok();
    Ok(Expected {
        starts: [
            lab.starts("app.w"),
            lab.starts("app.x"),
            lab.starts("app.y"),
        ],
        x_final,
        error_events: ev.errors_containing(&msg) as u32,
        error_in_report: x.error.as_deref().is_some_and(|e| e.contains(&msg)),
        clean: report.is_clean(),
        join_ok,
        late_spawn_refused,
    })
}

fn run_on(flavour: Flavour) {
    let mut passed = 0;
    let mut failures = Vec::new();
    for (id, c) in cells()
        .into_iter()
        .enumerate()
        .filter(|(_, c)| c.flavour == flavour)
    {
        let rt = match flavour {
            Flavour::CurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build(),
            Flavour::MultiThread => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        }
        .expect("runtime");
        let want = expected(c);
        match rt.block_on(run_cell(c, id)) {
            Ok(got) if got == want => passed += 1,
            Ok(got) => failures.push(format!(
                "{c:?}\n    expected {want:?}\n    observed {got:?}"
            )),
            Err(e) => failures.push(format!("{c:?}\n    expected {want:?}\n    error: {e}")),
        }
    }
    eprintln!(
        "matrix {flavour:?}: {passed}/{} cells pass",
        passed + failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} cells differ from the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn matrix_current_thread() {
    run_on(Flavour::CurrentThread);
}

#[test]
fn matrix_multi_thread() {
    run_on(Flavour::MultiThread);
}
