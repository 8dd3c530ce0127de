//! The table side of a [`DynamicGroup`]: reading the table and applying it,
//! asking it before restarts, the epoch of each incarnation, and giving
//! keys back once their children have ended.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{DynInner, DynamicGroup};
use crate::children::table::{ErasedTable, Value};
use crate::engine::{
    BoxRunnable, Context, GateAnswer, RestartGate, Runnable, SharedRunnable, WeakOpenGroup,
};
use crate::error::BoxError;
use crate::spec::name::check_name;
use crate::spec::options::Defaults;

/// First wait before a table that could not be read is read again; it
/// doubles up to the group's period.
const FIRST_RETRY: Duration = Duration::from_millis(200);

/// The runnable of a child a table drives: sets the table's epoch on each
/// incarnation's context, then runs the factory's runnable.
pub(super) struct Keyed {
    key: Arc<str>,
    source: Arc<dyn ErasedTable>,
    inner: BoxRunnable,
}

impl Keyed {
    pub(super) fn make(source: &Arc<dyn ErasedTable>, key: &str, value: &Value) -> SharedRunnable {
        SharedRunnable::new(Keyed {
            key: key.into(),
            source: source.clone(),
            inner: source.make(key, value),
        })
    }
}

impl crate::engine::Sealed for Keyed {}

impl Runnable for Keyed {
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        if let Some(epoch) = self.source.epoch(&self.key) {
            ctx.set_epoch(epoch);
        }
        self.inner.__spawn(ctx)
    }

    fn __defaults(&self) -> Defaults {
        self.inner.__defaults()
    }

    fn __is_group(&self) -> bool {
        self.inner.__is_group()
    }
}

/// Asks the table before a child it drives restarts.
pub(super) struct TableGate(Weak<DynInner>);

impl TableGate {
    pub(super) fn new(inner: &Arc<DynInner>) -> Self {
        TableGate(Arc::downgrade(inner))
    }
}

impl RestartGate for TableGate {
    fn check(&self, name: &str) -> Option<crate::engine::BoxFuture<'static, GateAnswer>> {
        let dg = DynamicGroup {
            inner: self.0.upgrade()?,
        };
        let source = dg.inner.source.clone()?;
        let seq = dg
            .reg()
            .entries
            .get(name)
            .filter(|e| e.table.is_some())?
            .seq;
        let key: Arc<str> = Arc::from(name);
        Some(Box::pin(async move {
            match source.get(&key).await {
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "could not ask the table before a restart; restarting with the value it had");
                    GateAnswer::Restart
                }
                Ok(None) => {
                    let mut reg = dg.reg();
                    if reg.entries.get(&*key).is_some_and(|e| e.seq == seq) {
                        reg.entries.remove(&*key);
                    }
                    drop(reg);
                    // The child has ended (it was about to restart).
                    source.release(&key);
                    GateAnswer::Gone
                }
                Ok(Some(v)) => {
                    let mut reg = dg.reg();
                    match reg.entries.get_mut(&*key) {
                        Some(e) if e.seq == seq && e.table.as_ref() != Some(&v) => {
                            let r = Keyed::make(&source, &key, &v);
                            let boxed = r.to_boxed();
                            e.runnable = r;
                            e.table = Some(v);
                            GateAnswer::RestartWith(boxed)
                        }
                        _ => GateAnswer::Restart,
                    }
                }
            }
        }))
    }
}

/// What one read of the table asks for.
#[derive(Default)]
struct Plan {
    stale: Vec<String>,
    changed: Vec<(String, Value)>,
    new: Vec<(String, Value)>,
}

impl DynamicGroup {
    /// Reads the table and applies it.
    pub(super) async fn reconcile_once(&self) -> Result<(), BoxError> {
        let Some(source) = self.inner.source.clone() else {
            return Ok(());
        };
        let _one_at_a_time = self.inner.reconciling.lock().await;
        let loaded = source.load().await?;
        let mut skipped: BTreeMap<String, String> = source.skipped().into_iter().collect();
        let mut wanted: BTreeMap<String, Value> = BTreeMap::new();
        for (key, value) in loaded {
            match check_name(&key) {
                Ok(()) => {
                    wanted.insert(key, value);
                }
                Err(e) => {
                    skipped.insert(key, e.to_string());
                }
            }
        }
        let plan = {
            let reg = self.reg();
            let mut plan = Plan::default();
            for (key, e) in &reg.entries {
                if let Some(v) = &e.table {
                    match wanted.remove(key) {
                        None => plan.stale.push(key.clone()),
                        Some(w) if w != *v => plan.changed.push((key.clone(), w)),
                        Some(_) => {}
                    }
                } else if wanted.remove(key).is_some() {
                    skipped.insert(
                        key.clone(),
                        "the key is taken by a child added with `add()`".to_owned(),
                    );
                }
            }
            plan.new = wanted.into_iter().collect();
            plan
        };
        for key in plan.stale {
            let removal = {
                let mut reg = self.reg();
                reg.entries.remove(&key);
                Self::stop_key(&reg, &key)
            };
            // Given back once its child has ended, never while it runs.
            match removal {
                Some(removal) => {
                    let source = source.clone();
                    tokio::spawn(async move {
                        removal.ended().await;
                        source.release(&key);
                    });
                }
                None => source.release(&key),
            }
        }
        for (key, value) in plan.changed {
            let r = Keyed::make(&source, &key, &value);
            let group = {
                let mut reg = self.reg();
                if let Some(e) = reg.entries.get_mut(&key) {
                    e.runnable = r.clone();
                    e.table = Some(value);
                }
                reg.current.upgrade()
            };
            if let Some(group) = group {
                tracing::info!(group = %group.name(), key = %key, "table value changed: restarting with the new value");
                group.replace(&key, r.to_boxed());
            }
        }
        for (key, value) in plan.new {
            let r = Keyed::make(&source, &key, &value);
            if let Err(e) = self.insert(&key, r, Some(value)) {
                tracing::warn!(error = %e, key = %key, "table entry not started");
            }
        }
        self.set_skipped(skipped);
        Ok(())
    }

    /// Records the skipped entries: logged once each, shown on the group's node.
    fn set_skipped(&self, skipped: BTreeMap<String, String>) {
        let mut reg = self.reg();
        for (key, why) in &skipped {
            if reg.skipped.get(key) != Some(why) {
                tracing::warn!(key = %key, reason = %why, "table entry skipped");
            }
        }
        let notes = skipped
            .iter()
            .map(|(k, why)| format!("table entry `{k}` skipped: {why}"))
            .collect();
        reg.skipped = skipped;
        if let Some(group) = reg.current.upgrade() {
            group.set_notes(notes);
        }
    }

    /// Follows the table while one incarnation of the group runs: reads it
    /// at once, then on every announced change and every period; a read
    /// that fails is tried again with backoff.
    pub(super) async fn follow(
        self,
        source: Arc<dyn ErasedTable>,
        group: WeakOpenGroup,
        stop: CancellationToken,
    ) {
        let mut first = true;
        let mut retry = FIRST_RETRY;
        loop {
            let mut changed = source.changed();
            // Registered before the read, so that a change made meanwhile counts.
            poll_once(changed.as_mut()).await;
            let wait = match self.reconcile_once().await {
                Ok(()) => {
                    retry = FIRST_RETRY;
                    if std::mem::take(&mut first) {
                        if let Some(g) = group.upgrade() {
                            g.hold_healthy(false);
                        }
                    }
                    self.inner.period
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?retry, "could not read the dynamic group's table; children left as they are");
                    let wait = retry;
                    retry = (retry * 2).min(self.inner.period.max(FIRST_RETRY));
                    wait
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut changed => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The group's incarnation has ended (every child with it): the table's
    /// keys are given back and forgotten, so that the next incarnation runs
    /// what the table says then.
    pub(super) fn release_all(&self) {
        let Some(source) = &self.inner.source else {
            return;
        };
        let released: Vec<String> = {
            let mut reg = self.reg();
            let keys: Vec<String> = reg
                .entries
                .iter()
                .filter(|(_, e)| e.table.is_some())
                .map(|(k, _)| k.clone())
                .collect();
            for k in &keys {
                reg.entries.remove(k);
            }
            keys
        };
        for key in released {
            source.release(&key);
        }
    }
}

/// Polls `fut` once, so that it registers its waker.
async fn poll_once(mut fut: Pin<&mut (dyn Future<Output = ()> + Send + '_)>) {
    std::future::poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await
}
