//! Waiting for an incarnation's cancellation: [`Cancelled`], the future of
//! [`Context::cancelled`], and the list of waiters it registers in. The
//! other side, waking them, is `Context::cancel`.

use std::task::{Poll, Waker};

use super::context::Context;

/// Who waits for the cancellation of one incarnation: each waiting
/// [`Cancelled`] is registered under a key, and removes itself when it is
/// dropped, so that tasks that waited and moved on leave nothing behind.
/// The first waiter (almost always the only one: the incarnation itself)
/// is kept here under key 0; the others are kept, with keys from 1, in the
/// context's `Extra`.
///
/// Cheaper than a `tokio::sync::Notify` for what a context needs (one
/// waiter, woken once): a lock without contention, no intrusive list, and a
/// `Cancelled` of two words instead of a `Notified` of nine.
#[derive(Default)]
pub(super) struct Waiting {
    /// The waiter under key 0.
    pub(super) first: Option<Waker>,
}

/// The key of [`Waiting::first`]. Unique while held: the key is given only
/// when `first` is free, and `first` is freed only by its holder's drop or
/// by the cancellation, after which no one registers again.
const FIRST: u32 = 0;

/// The future of [`Context::cancelled`].
#[must_use = "futures do nothing unless awaited"]
pub struct Cancelled<'a> {
    ctx: &'a Context,
    /// Its registration among the waiters, once it has waited.
    key: Option<u32>,
}

impl<'a> Cancelled<'a> {
    pub(super) fn new(ctx: &'a Context) -> Self {
        Cancelled { ctx, key: None }
    }
}

impl std::future::Future for Cancelled<'_> {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let inner = &self.ctx.inner;
        if self.ctx.is_cancelled() {
            // `cancel` takes (or will take) every registration: nothing to
            // remove when this future is dropped.
            self.key = None;
            return Poll::Ready(());
        }
        let mut w = inner.waiting.lock().unwrap_or_else(|p| p.into_inner());
        // Checked again under the lock: `cancel` sets the flag before it
        // takes the lock to wake, so either it sees this registration or
        // this sees its flag.
        if self.ctx.is_cancelled() {
            drop(w);
            self.key = None;
            return Poll::Ready(());
        }
        let waker = cx.waker();
        match self.key {
            Some(FIRST) => match &mut w.first {
                Some(fw) => {
                    if !fw.will_wake(waker) {
                        fw.clone_from(waker);
                    }
                }
                None => w.first = Some(waker.clone()),
            },
            Some(k) => {
                // `w` stays locked: `cancel` takes `more` after `first`, so
                // it cannot wake the old waker between here and the update.
                let mut e = inner.lazy().extra.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((_, mw)) = e.more.iter_mut().find(|(mk, _)| *mk == k) {
                    if !mw.will_wake(waker) {
                        mw.clone_from(waker);
                    }
                }
            }
            None if w.first.is_none() => {
                w.first = Some(waker.clone());
                self.key = Some(FIRST);
            }
            None => {
                let mut e = inner.lazy().extra.lock().unwrap_or_else(|p| p.into_inner());
                e.next_key = e.next_key.wrapping_add(1).max(1);
                let k = e.next_key;
                e.more.push((k, waker.clone()));
                self.key = Some(k);
            }
        }
        Poll::Pending
    }
}

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        let Some(k) = self.key else {
            return;
        };
        let inner = &self.ctx.inner;
        if k == FIRST {
            inner
                .waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .first = None;
            return;
        }
        if let Some(l) = inner.lazy.get() {
            let mut e = l.extra.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pos) = e.more.iter().position(|(mk, _)| *mk == k) {
                e.more.swap_remove(pos);
            }
        }
    }
}

impl std::fmt::Debug for Cancelled<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancelled")
            .field("cancelled", &self.ctx.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::engine::context::Context;
    use crate::{Child, Group};

    impl Context {
        /// How many waiters are registered now.
        fn waiters(&self) -> usize {
            let first = self.inner.waiting.lock().unwrap().first.is_some() as usize;
            let more = self
                .inner
                .lazy
                .get()
                .map_or(0, |l| l.extra.lock().unwrap().more.len());
            first + more
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_that_move_on_leave_nothing_behind_and_the_rest_are_all_woken() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let tree = Group::parallel("app")
            .child(Child::new("a", move |ctx: Context| {
                let tx = tx.clone();
                async move {
                    ctx.healthy();
                    let _ = tx.send(ctx.clone());
                    ctx.cancelled().await;
                    Ok::<(), std::io::Error>(())
                }
            }))
            .build()
            .unwrap();
        let h = tree.start();
        let ctx = rx.recv().await.unwrap();
        assert_eq!(ctx.waiters(), 1, "the incarnation itself");
        // A thousand tasks wait a moment each and move on.
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let c = ctx.clone();
            tasks.push(tokio::spawn(async move {
                c.sleep(Duration::from_millis(10)).await
            }));
        }
        for t in tasks {
            assert!(!t.await.unwrap(), "the sleep ran out: not cancelled");
        }
        assert_eq!(ctx.waiters(), 1, "their registrations are gone");
        // Three more wait for good: all three are woken by the stop.
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let c = ctx.clone();
                tokio::spawn(async move { c.cancelled().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(ctx.waiters(), 4);
        assert!(h.shutdown().await.is_clean());
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(ctx.waiters(), 0);
        assert!(ctx.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_waiters_place_is_taken_again_once_it_is_left() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let tree = Group::parallel("app")
            .child(Child::new("a", move |ctx: Context| {
                let tx = tx.clone();
                async move {
                    ctx.healthy();
                    let mut counts = Vec::new();
                    let second = {
                        // Waits once, as the first waiter, then moves on.
                        let mut first = std::pin::pin!(ctx.cancelled());
                        tokio::select! {
                            biased;
                            _ = &mut first => {}
                            _ = std::future::ready(()) => {}
                        }
                        counts.push(ctx.waiters());
                        let c = ctx.clone();
                        let second = tokio::spawn(async move { c.cancelled().await });
                        tokio::task::yield_now().await;
                        counts.push(ctx.waiters());
                        second
                    };
                    counts.push(ctx.waiters());
                    let c = ctx.clone();
                    let third = tokio::spawn(async move { c.cancelled().await });
                    tokio::task::yield_now().await;
                    counts.push(ctx.waiters());
                    let _ = tx.send((counts, second, third));
                    ctx.cancelled().await;
                    Ok::<(), std::io::Error>(())
                }
            }))
            .build()
            .unwrap();
        let h = tree.start();
        let (counts, second, third) = rx.recv().await.unwrap();
        // The first registers; the second joins it; the first leaves; the
        // third takes the first's place.
        assert_eq!(counts, [1, 2, 1, 2]);
        assert!(h.shutdown().await.is_clean());
        second.await.unwrap();
        third.await.unwrap();
    }
}
