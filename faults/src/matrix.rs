//! The combination matrix: restart type × exit kind × strategy × moment
//! relative to shutdown × runtime flavour = 216 cells, and the outcome each
//! cell must have, computed from the rules written out in [`crate::model`]
//! alone.
//!
//! Every cell runs the same tree: a sequential group `app` with the cell's
//! strategy, no backoff, the default intensity (3 within 5 s), and three
//! children `w`, `x`, `y` (started in that order); `x` has the cell's restart
//! type, `w` and `y` are permanent. `x` ends with the cell's exit kind:
//! - *before* the shutdown: while the tree runs; the tree then settles and is
//!   shut down;
//! - *during* the shutdown: `x` ends that way when it is asked to stop;
//! - *after* the shutdown: `x` stops cleanly, and once `shutdown()` has
//!   returned, a task `x` left behind (holding a clone of its `Context`) calls
//!   `ctx.healthy()`, tries `ctx.spawn`, and then ends with the exit kind. The
//!   tree is over: nothing may change.

/// Restart type of `x`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RestartType {
    /// Restarted after an exit or a failure.
    Permanent,
    /// Restarted after a failure.
    Transient,
    /// Never restarted.
    Temporary,
}

/// How `x` ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// Returns `Ok(())` (without `done()`).
    Ok,
    /// Returns `Err`.
    Error,
    /// Panics.
    Panic,
    /// Returns `Ok(())`, and a value owned by its future panics when dropped.
    PanicInDrop,
}

/// Restart strategy of `app`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Only `x`.
    OneForOne,
    /// `w`, `x` and `y`.
    OneForAll,
    /// `x` and `y` (started after it).
    RestForOne,
}

/// When `x` ends, relative to `shutdown()`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// While the tree runs.
    Before,
    /// In answer to the shutdown's cancellation.
    During,
    /// Once `shutdown()` has returned.
    After,
}

/// The tokio runtime the cell runs on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// `current_thread`, paused clock.
    CurrentThread,
    /// `multi_thread` with two workers, real clock.
    MultiThread,
}

/// One cell of the matrix.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Restart type of `x`.
    pub restart: RestartType,
    /// How `x` ends.
    pub exit: ExitKind,
    /// Strategy of `app`.
    pub strategy: Strategy,
    /// When `x` ends.
    pub when: When,
    /// Runtime flavour.
    pub flavour: Flavour,
}

/// Final state of `x` in the shutdown report.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Final {
    /// Stopped.
    Stopped,
    /// Failed.
    Failed,
}

/// What a cell must show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Incarnations of `w`, `x`, `y` started in the whole run.
    pub starts: [u32; 3],
    /// `x`'s state in the shutdown report.
    pub x_final: Final,
    /// Events carrying the injected error (0 or exactly 1).
    pub error_events: u32,
    /// Whether the report keeps the injected error as `x`'s last error.
    pub error_in_report: bool,
    /// Whether the shutdown report is clean.
    pub clean: bool,
    /// Whether `join()` returns `Ok(())`.
    pub join_ok: bool,
    /// Whether `ctx.spawn` of the left-behind task is refused (only *after*).
    pub late_spawn_refused: bool,
}

/// All 216 cells, flavour-major.
pub fn cells() -> Vec<Cell> {
    let mut out = Vec::with_capacity(216);
    for flavour in [Flavour::CurrentThread, Flavour::MultiThread] {
        for when in [When::Before, When::During, When::After] {
            for strategy in [
                Strategy::OneForOne,
                Strategy::OneForAll,
                Strategy::RestForOne,
            ] {
                for restart in [
                    RestartType::Permanent,
                    RestartType::Transient,
                    RestartType::Temporary,
                ] {
                    for exit in [
                        ExitKind::Ok,
                        ExitKind::Error,
                        ExitKind::Panic,
                        ExitKind::PanicInDrop,
                    ] {
                        out.push(Cell {
                            restart,
                            exit,
                            strategy,
                            when,
                            flavour,
                        });
                    }
                }
            }
        }
    }
    out
}

/// The outcome the rules prescribe for a cell.
pub fn expected(c: Cell) -> Expected {
    // "A panic is caught, its message kept, and treated as a failure."
    let failure = c.exit != ExitKind::Ok;
    match c.when {
        When::Before => {
            // Ok(()) otherwise: exit, restarted for permanent only;
            // Err or panic: failure, restarted for permanent and transient.
            let restarted = match c.restart {
                RestartType::Permanent => true,
                RestartType::Transient => failure,
                RestartType::Temporary => false,
            };
            let mut starts = [1, 1, 1];
            if restarted {
                starts[1] = 2;
                match c.strategy {
                    Strategy::OneForOne => {}
                    Strategy::OneForAll => {
                        starts[0] = 2;
                        starts[2] = 2;
                    }
                    Strategy::RestForOne => starts[2] = 2,
                }
            }
            Expected {
                starts,
                // Restarted, then stopped by the shutdown; or ended for good.
                x_final: if !restarted && failure {
                    Final::Failed
                } else {
                    Final::Stopped
                },
                error_events: failure as u32,
                error_in_report: failure,
                clean: true,
                join_ok: true,
                late_spawn_refused: false,
            }
        }
        // "returns after its node was asked to stop: stopped, never restarted
        // (an Err is still reported)".
        When::During => Expected {
            starts: [1, 1, 1],
            x_final: Final::Stopped,
            error_events: failure as u32,
            error_in_report: failure,
            clean: true,
            join_ok: true,
            late_spawn_refused: false,
        },
        // The tree is over: nothing restarts, nothing is reported, and
        // "no new child is polled after shutdown began (spawn returns Err)".
        When::After => Expected {
            starts: [1, 1, 1],
            x_final: Final::Stopped,
            error_events: 0,
            error_in_report: false,
            clean: true,
            join_ok: true,
            late_spawn_refused: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_216_distinct_cells() {
        let c = cells();
        assert_eq!(c.len(), 216);
        for (i, a) in c.iter().enumerate() {
            assert!(!c[i + 1..].contains(a));
        }
    }

    #[test]
    fn a_transient_exit_is_not_restarted_but_its_failure_is() {
        let mut c = cells()[0];
        c.restart = RestartType::Transient;
        c.strategy = Strategy::OneForAll;
        c.exit = ExitKind::Ok;
        assert_eq!(expected(c).starts, [1, 1, 1]);
        c.exit = ExitKind::PanicInDrop;
        assert_eq!(expected(c).starts, [2, 2, 2]);
    }
}
