//! How an incarnation ended, and what that means for its supervisor.
//!
//! Two ideas, two names: a [`TaskEnd`] is what the task did (returned,
//! panicked, was dropped); an [`Ending`] is what the group makes of it, the
//! table of DESIGN §3 (the README's "how an incarnation ends"):
//!
//! | the task | classified as |
//! |---|---|
//! | returns after its node was asked to stop | [`Ending::Stopped`] (an `Err` is still reported) |
//! | `Ok(())` after `ctx.done()` | [`Ending::Done`] |
//! | `Ok(())` otherwise | [`Ending::Exit`] |
//! | `Err(e)` or a panic | [`Ending::Failure`] |
//! | `Err` of `DoNotRestart` | [`Ending::Done`] |
//! | `Err` of `StopTree` | [`Ending::StopTree`] |
//! | failed while running (wrong-order signal, start timeout, lost heartbeat) | [`Ending::Failure`] whatever it returns |
//! | dropped (aborted) | [`Ending::Stopped`] |
//!
//! (The shutdown report's row for a node is a third idea: its
//! [`NodeOutcome`](crate::NodeOutcome), the state it was left in.)

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::error::{BoxError, DoNotRestart, PanicError, SharedError, StopTree};

/// The error an incarnation failed with, kept as it came: the `Box` its
/// task returned stays a `Box` until something needs a second owner (an
/// event, the error of a give-up), and is made shared in place then. A
/// child that fails on every incarnation, with no one following the
/// events, allocates nothing for its errors beyond what it returns.
pub(crate) enum KeptError {
    /// As the task returned it.
    Boxed(BoxError),
    /// Already shared (a panic, a forced failure), or made shared.
    Shared(SharedError),
}

impl KeptError {
    /// The error, to display or inspect.
    pub(crate) fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        match self {
            KeptError::Boxed(b) => &**b,
            KeptError::Shared(a) => &**a,
        }
    }

    /// The error as a [`SharedError`]: a boxed one becomes shared in place
    /// (once), so later calls only clone the `Arc`.
    pub(crate) fn share(&mut self) -> SharedError {
        match self {
            KeptError::Shared(a) => a.clone(),
            KeptError::Boxed(b) => {
                // Taken out behind a zero-sized stand-in (no allocation).
                let a: SharedError = Arc::from(std::mem::replace(b, Box::new(fmt::Error)));
                *self = KeptError::Shared(a.clone());
                a
            }
        }
    }
}

impl fmt::Display for KeptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.get(), f)
    }
}

/// What the task of an incarnation did.
pub(crate) enum TaskEnd {
    Ok,
    Err(BoxError),
    Panic(Box<dyn Any + Send>),
    /// Dropped before completing: aborted by its group, or the runtime shut down.
    Aborted,
}

/// What an incarnation's end means for its group.
pub(crate) enum Ending {
    /// It was asked to stop (or aborted); never restarted.
    Stopped(Option<SharedError>),
    /// Its job is done; rerun only if its group restarts.
    Done(Option<SharedError>),
    /// `Ok(())` unasked: only a permanent child restarts.
    Exit,
    /// Permanent and transient children restart.
    Failure(KeptError),
    /// The whole tree shuts down.
    StopTree(SharedError),
}

/// A caught panic, for `propagate_panics`.
pub(crate) struct Panic {
    pub(crate) payload: Box<dyn Any + Send>,
    pub(crate) error: SharedError,
}

/// Classifies `end`. `stop_req`: the node had been asked to stop; `forced`:
/// the error it failed with while running, if it did; `done`: it signalled
/// `ctx.done()` (correctly). A panic is also handed back, for a tree that
/// propagates panics.
pub(crate) fn classify(
    end: TaskEnd,
    stop_req: bool,
    forced: Option<SharedError>,
    done: bool,
) -> (Ending, Option<Panic>) {
    let ending = match end {
        TaskEnd::Panic(payload) => {
            let error: SharedError = Arc::new(PanicError::new(panic_message(&*payload)));
            let ending = match forced {
                Some(f) => Ending::Failure(KeptError::Shared(f)),
                None if stop_req => Ending::Stopped(Some(error.clone())),
                None => Ending::Failure(KeptError::Shared(error.clone())),
            };
            return (ending, Some(Panic { payload, error }));
        }
        _ if forced.is_some() => Ending::Failure(KeptError::Shared(forced.expect("checked"))),
        TaskEnd::Ok if stop_req => Ending::Stopped(None),
        TaskEnd::Ok if done => Ending::Done(None),
        TaskEnd::Ok => Ending::Exit,
        TaskEnd::Err(e) if e.is::<StopTree>() => Ending::StopTree(Arc::from(e)),
        TaskEnd::Err(e) if e.is::<DoNotRestart>() => Ending::Done(Some(Arc::from(e))),
        TaskEnd::Err(e) if stop_req => Ending::Stopped(Some(Arc::from(e))),
        TaskEnd::Err(e) => Ending::Failure(KeptError::Boxed(e)),
        TaskEnd::Aborted => Ending::Stopped(None),
    };
    (ending, None)
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::slot::{Slot, Stamp};
    use crate::error::Reason;

    fn kind(e: &Ending) -> &'static str {
        match e {
            Ending::Stopped(_) => "stopped",
            Ending::Done(_) => "done",
            Ending::Exit => "exit",
            Ending::Failure(_) => "failure",
            Ending::StopTree(_) => "stop_tree",
        }
    }

    fn err(msg: &str) -> BoxError {
        msg.into()
    }

    #[test]
    fn the_table_of_endings() {
        let forced: SharedError = Arc::new(Reason("no heartbeat".into()));
        let cases: Vec<(TaskEnd, bool, Option<SharedError>, bool, &str)> = vec![
            (TaskEnd::Ok, true, None, false, "stopped"),
            (TaskEnd::Ok, false, None, true, "done"),
            (TaskEnd::Ok, false, None, false, "exit"),
            (TaskEnd::Err(err("x")), false, None, false, "failure"),
            (TaskEnd::Err(err("x")), true, None, false, "stopped"),
            (
                TaskEnd::Err(Box::new(DoNotRestart::new("x"))),
                false,
                None,
                false,
                "done",
            ),
            (
                TaskEnd::Err(Box::new(StopTree::new("x"))),
                false,
                None,
                false,
                "stop_tree",
            ),
            (
                TaskEnd::Err(Box::new(StopTree::new("x"))),
                true,
                None,
                false,
                "stop_tree",
            ),
            (
                TaskEnd::Panic(Box::new("boom")),
                false,
                None,
                false,
                "failure",
            ),
            (
                TaskEnd::Panic(Box::new("boom")),
                true,
                None,
                false,
                "stopped",
            ),
            (TaskEnd::Ok, true, Some(forced.clone()), false, "failure"),
            (TaskEnd::Ok, false, Some(forced.clone()), true, "failure"),
            (TaskEnd::Aborted, true, None, false, "stopped"),
            (TaskEnd::Aborted, true, Some(forced), false, "failure"),
        ];
        for (k, (end, stop_req, forced, done, want)) in cases.into_iter().enumerate() {
            let (e, _) = classify(end, stop_req, forced, done);
            assert_eq!(kind(&e), want, "case {k}");
        }
    }

    #[test]
    fn a_panic_keeps_its_message() {
        let (e, p) = classify(
            TaskEnd::Panic(Box::new(String::from("boom"))),
            false,
            None,
            false,
        );
        let Ending::Failure(err) = e else {
            panic!("a panic is a failure")
        };
        assert_eq!(err.to_string(), "panicked: boom");
        assert_eq!(p.unwrap().error.to_string(), "panicked: boom");
    }

    #[test]
    fn a_kept_error_is_shared_once_and_replaced_by_the_next() {
        let mut slot = Slot::new(Stamp(0));
        assert!(slot.last_error().is_none());
        assert!(slot.shared_error().is_none());
        slot.set_error(KeptError::Boxed("first".into()));
        assert_eq!(slot.last_error().unwrap().to_string(), "first");
        let a = slot.shared_error().expect("an error");
        let b = slot.shared_error().expect("an error");
        assert!(Arc::ptr_eq(&a, &b), "made shared once, then cloned");
        assert_eq!(a.to_string(), "first");
        // The next failure takes the place of the last, shared or not.
        slot.set_error(KeptError::Boxed("second".into()));
        assert_eq!(slot.last_error().unwrap().to_string(), "second");
        assert_eq!(a.to_string(), "first", "what was shared stays as it was");
        let panic: SharedError = Arc::new(PanicError::new("boom".into()));
        slot.set_error(KeptError::Shared(panic.clone()));
        assert!(Arc::ptr_eq(&slot.shared_error().unwrap(), &panic));
        assert_eq!(slot.last_error().unwrap().to_string(), "panicked: boom");
    }
}
