//! [`Table`]: the desired set of a [`DynamicGroup`](crate::DynamicGroup),
//! and [`MemoryTable`], the one that lives in memory.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::engine::BoxRunnable;
use crate::error::BoxError;

/// The desired set of a [`DynamicGroup`](crate::DynamicGroup): which keys
/// should run here, and the value its factory turns into each child.
///
/// The table is the only truth about which keyed children run. The group
/// reads it with [`load`](Table::load) when it starts, whenever
/// [`changed`](Table::changed) resolves, periodically, and on
/// [`DynamicGroup::reconcile`](crate::DynamicGroup::reconcile); and it asks
/// [`get`](Table::get) before every restart of a child the table drives, so
/// that an entry that is gone is never restarted.
///
/// Every method is async (or cheap), so reading a table never blocks the
/// group's task. Implement the async methods with `async fn`:
///
/// ```
/// use supervisor_runtime::{BoxError, Table};
///
/// /// Every tenant listed in one environment variable, with its port.
/// struct EnvTable;
///
/// impl Table<u16> for EnvTable {
///     async fn load(&self) -> Result<Vec<(String, u16)>, BoxError> {
///         let list = std::env::var("TENANTS").unwrap_or_default(); // "eu-1=9001,us-1=9002"
///         let mut out = Vec::new();
///         for item in list.split(',').filter(|s| !s.is_empty()) {
///             let (k, v) = item.split_once('=').ok_or("expected key=port")?;
///             out.push((k.to_owned(), v.parse()?));
///         }
///         Ok(out)
///     }
/// }
/// ```
///
/// Tables that lease keys to one process of a fleet (a shared database)
/// also implement [`epoch`](Table::epoch) (the fencing epoch the child
/// reads with `ctx.epoch()`) and [`release`](Table::release) (the group
/// calls it once the child of a key has ended and will not run here again,
/// so that the claim may go to another process).
pub trait Table<V>: Send + Sync + 'static {
    /// The whole desired set for this process: every key that should run,
    /// with its value. An error leaves the children as they are; the group
    /// logs it at `warn` and tries again with backoff.
    fn load(&self) -> impl Future<Output = Result<Vec<(String, V)>, BoxError>> + Send;

    /// The entry of one key, asked before a keyed child this table drives is
    /// restarted: `Ok(None)` when it is gone (the child is not restarted and
    /// ends `Stopped`), `Ok(Some(v))` to restart it with `v`. An error
    /// restarts it with the value it had.
    ///
    /// Default: [`load`](Table::load) and look the key up.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<V>, BoxError>> + Send {
        async move {
            let all = self.load().await?;
            Ok(all.into_iter().find(|(k, _)| k == key).map(|(_, v)| v))
        }
    }

    /// Resolves when the table may have changed, so that the group reads it
    /// again at once instead of at its next period. May resolve spuriously.
    ///
    /// The future must resolve after any change made once it has been
    /// polled for the first time: the group polls it once *before* it reads
    /// the table, so that a change made while it reads is never missed
    /// (`Notify::notified`, `watch::Receiver::changed` and
    /// `broadcast::Receiver::recv` all behave this way).
    ///
    /// Default: never (the group relies on its period and on `reconcile()`).
    fn changed(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    /// The fencing epoch of this process's claim on `key`, for tables that
    /// lease keys: it grows with every change of owner, and the child reads
    /// it with `ctx.epoch()` so that work from a stale owner can be rejected
    /// downstream. Read when each incarnation starts.
    ///
    /// Default: `None`.
    fn epoch(&self, key: &str) -> Option<u64> {
        let _ = key;
        None
    }

    /// The child of `key` has ended here and will not run again until the
    /// table lists the key again (its entry is gone, it was handed to
    /// another process, or the group stopped). Called after the child's
    /// last task has ended, never while it runs.
    ///
    /// Default: nothing.
    fn release(&self, key: &str) {
        let _ = key;
    }

    /// The entries the last [`load`](Table::load) skipped, each with its key
    /// as written and why (a value that does not decode, say): the group
    /// shows them on its node in snapshots. A table that skips entries
    /// also logs each at `warn`. Keys that break the name rule are found
    /// and reported by the group itself.
    ///
    /// Default: none.
    fn skipped(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A boxed future, as the type-erased table returns them.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A table value with its type erased, comparable with another of its kind.
pub(crate) struct Value(Box<dyn DynValue>);

trait DynValue: Send + Sync + 'static {
    fn as_any(&self) -> &dyn Any;
    fn eq_dyn(&self, other: &dyn DynValue) -> bool;
}

impl<V: PartialEq + Send + Sync + 'static> DynValue for V {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn eq_dyn(&self, other: &dyn DynValue) -> bool {
        other.as_any().downcast_ref::<V>() == Some(self)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_dyn(&*other.0)
    }
}

/// A [`Table`] with its value type erased, and the factory that turns its
/// values into runnables, as a [`DynamicGroup`](crate::DynamicGroup) holds it.
pub(crate) trait ErasedTable: Send + Sync + 'static {
    fn load(&self) -> BoxFuture<'_, Result<Vec<(String, Value)>, BoxError>>;
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, BoxError>>;
    fn make(&self, key: &str, value: &Value) -> BoxRunnable;
    fn changed(&self) -> BoxFuture<'_, ()>;
    fn epoch(&self, key: &str) -> Option<u64>;
    fn release(&self, key: &str);
    fn skipped(&self) -> Vec<(String, String)>;
}

/// A table and the factory that turns its values into runnables.
pub(crate) struct Erased<T, F, V> {
    table: T,
    factory: F,
    _values: PhantomData<fn() -> V>,
}

impl<T, F, V> Erased<T, F, V> {
    pub(crate) fn new(table: T, factory: F) -> Self {
        Erased {
            table,
            factory,
            _values: PhantomData,
        }
    }
}

impl<V, T, F> ErasedTable for Erased<T, F, V>
where
    V: PartialEq + Send + Sync + 'static,
    T: Table<V>,
    F: Fn(&str, &V) -> BoxRunnable + Send + Sync + 'static,
{
    fn load(&self) -> BoxFuture<'_, Result<Vec<(String, Value)>, BoxError>> {
        Box::pin(async move {
            let entries = self.table.load().await?;
            Ok(entries
                .into_iter()
                .map(|(k, v)| (k, Value(Box::new(v))))
                .collect())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, BoxError>> {
        Box::pin(async move {
            let v = self.table.get(key).await?;
            Ok(v.map(|v| Value(Box::new(v))))
        })
    }

    fn make(&self, key: &str, value: &Value) -> BoxRunnable {
        let v = value
            .0
            .as_any()
            .downcast_ref::<V>()
            .expect("a value of this table");
        (self.factory)(key, v)
    }

    fn changed(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.table.changed())
    }

    fn epoch(&self, key: &str) -> Option<u64> {
        self.table.epoch(key)
    }

    fn release(&self, key: &str) {
        self.table.release(key);
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.table.skipped()
    }
}

/// A [`Table`] in memory: cheap to clone, every clone sees the same entries,
/// and every change wakes the groups it drives at once.
///
/// ```
/// use supervisor_runtime::{MemoryTable, Table};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let t = MemoryTable::new();
/// t.insert("eu-1", 8080u16);
/// t.insert("us-1", 8081u16);
/// t.remove("eu-1");
/// assert_eq!(t.load().await.unwrap(), vec![("us-1".to_string(), 8081)]);
/// # }
/// ```
pub struct MemoryTable<V> {
    inner: Arc<MemInner<V>>,
}

struct MemInner<V> {
    entries: Mutex<BTreeMap<String, V>>,
    changed: Notify,
}

impl<V> Clone for MemoryTable<V> {
    fn clone(&self) -> Self {
        MemoryTable {
            inner: self.inner.clone(),
        }
    }
}

impl<V> Default for MemoryTable<V> {
    fn default() -> Self {
        MemoryTable {
            inner: Arc::new(MemInner {
                entries: Mutex::new(BTreeMap::new()),
                changed: Notify::new(),
            }),
        }
    }
}

impl<V> std::fmt::Debug for MemoryTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTable")
            .field("len", &self.lock().len())
            .finish()
    }
}

impl<V> MemoryTable<V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, V>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the value of `key`; returns the previous one.
    pub fn insert(&self, key: impl Into<String>, value: V) -> Option<V> {
        let old = self.lock().insert(key.into(), value);
        self.inner.changed.notify_waiters();
        old
    }

    /// Removes `key`; returns its value.
    pub fn remove(&self, key: &str) -> Option<V> {
        let old = self.lock().remove(key);
        self.inner.changed.notify_waiters();
        old
    }
}

impl<V: Clone + Send + Sync + 'static> Table<V> for MemoryTable<V> {
    async fn load(&self) -> Result<Vec<(String, V)>, BoxError> {
        Ok(self
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Option<V>, BoxError> {
        Ok(self.lock().get(key).cloned())
    }

    fn changed(&self) -> impl Future<Output = ()> + Send {
        self.inner.changed.notified()
    }
}
