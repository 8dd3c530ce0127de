//! Dropping deep trees without deep recursion.
//!
//! A tree's values nest once per level (a group spec holds its children,
//! one of which runs a nested group spec, and so on; the same for the
//! running state). Dropped naively, a chain of a few thousand nested groups
//! recurses a few thousand times and overflows a small thread stack. Types
//! that nest hand their children to [`drop_flat`] instead: the outermost call
//! drains a queue, so the depth of recursion stays constant.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    /// `Some` while a drain is running on this thread.
    static QUEUE: RefCell<Option<Vec<Box<dyn Any>>>> = const { RefCell::new(None) };
}

/// Resets the queue if a destructor panics mid-drain.
struct Draining;

impl Drop for Draining {
    fn drop(&mut self) {
        let rest = QUEUE.try_with(|q| q.borrow_mut().take()).ok().flatten();
        drop(rest);
    }
}

/// Drops `value`, deferring nested drops to the outermost call on this thread.
pub(crate) fn drop_flat<T: 'static>(value: T) {
    let mut value = Some(value);
    let queued = QUEUE.try_with(|q| {
        let mut q = q.borrow_mut();
        match q.as_mut() {
            Some(pending) => {
                pending.push(Box::new(value.take()));
                true
            }
            None => {
                *q = Some(Vec::new());
                false
            }
        }
    });
    match queued {
        Ok(true) => {}
        Ok(false) => {
            let _draining = Draining;
            drop(value.take());
            while let Some(next) = QUEUE.with(|q| q.borrow_mut().as_mut().and_then(Vec::pop)) {
                drop(next);
            }
        }
        // The thread is exiting and its locals are gone: drop as usual.
        Err(_) => drop(value),
    }
}

#[cfg(test)]
mod tests {
    use super::drop_flat;

    struct Chain(Option<Box<Chain>>);

    impl Drop for Chain {
        fn drop(&mut self) {
            if let Some(next) = self.0.take() {
                drop_flat(next);
            }
        }
    }

    #[test]
    fn a_long_chain_drops_on_a_small_stack() {
        let t = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| {
                let mut c = Chain(None);
                for _ in 0..200_000 {
                    c = Chain(Some(Box::new(c)));
                }
                drop(c);
            })
            .unwrap();
        t.join().unwrap();
    }
}
