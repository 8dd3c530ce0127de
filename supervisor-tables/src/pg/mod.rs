//! [`PgTable`]: one desired set shared by a fleet of processes on
//! PostgreSQL, each key leased to exactly one live replica.

mod conn;
mod driver;
mod guard;
mod settings;
mod sql;
mod state;

pub use self::settings::PgSettings;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use supervisor_runtime::{BoxError, Table};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{timeout, Instant};
use tokio_postgres::Client;

use self::driver::{Cmd, Driver};
use self::sql::{check_table_name, Sql};
use self::state::{lock, State};
use crate::error::{check_key, Error, ErrorKind};

/// What the handles, the driver and the guard share.
struct Shared {
    sql: Sql,
    settings: PgSettings,
    config: tokio_postgres::Config,
    state: Mutex<State>,
    /// The listed set or a value changed.
    changed: Notify,
    /// The session's deadlines moved (for the guard).
    moved: Notify,
    stop_guard: Notify,
    /// The driver's current client, for `insert` and `remove`.
    client: Mutex<Option<Arc<Client>>>,
    /// Values already reported as undecodable: key -> reason.
    warned: Mutex<HashMap<String, String>>,
    /// The keys the last `load()` skipped, with why.
    skipped: Mutex<Vec<(String, String)>>,
}

/// Held by the table's clones; dropping the last one ends the driver, which
/// gives the claims back.
struct Handle {
    shared: Arc<Shared>,
    cmds: mpsc::UnboundedSender<Cmd>,
}

/// One desired set of keyed children shared by a fleet of processes on
/// PostgreSQL: every process runs a
/// [`DynamicGroup`](supervisor_runtime::DynamicGroup) on a `PgTable` of the
/// same table, and each key runs on exactly one live replica at a time.
///
/// ```no_run
/// use supervisor_runtime::{Child, Context, DynamicGroup, Group};
/// use supervisor_tables::PgTable;
///
/// #[derive(serde::Serialize, serde::Deserialize, Clone, PartialEq)]
/// struct Partition { topic: String }
///
/// async fn consume(ctx: Context, key: String, p: Partition) -> Result<(), std::io::Error> {
///     // The fencing epoch: send it with every write, so that the sink can
///     // reject writes from a replica that lost the key.
///     let epoch = ctx.epoch();
///     ctx.healthy();
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), supervisor_runtime::BoxError> {
/// let url = std::env::var("DATABASE_URL")?;
/// let table = PgTable::<Partition>::connect(&url, "partitions").await?;
/// // Any replica (or plain SQL) may add keys; one replica runs each.
/// table.insert("orders-0", &Partition { topic: "orders".into() }).await?;
///
/// let parts = DynamicGroup::with_table(table.clone(), |key: &str, p: &Partition| {
///     let (key, p) = (key.to_owned(), p.clone());
///     move |ctx: Context| consume(ctx, key.clone(), p.clone())
/// });
/// let tree = Group::parallel("app").child(Child::new("parts", parts)).build()?;
/// tree.run_until_signal().await?;
/// table.close().await?; // hand the keys to the other replicas at once
/// # Ok(()) }
/// ```
///
/// # The tables
///
/// `PgTable::connect(url, "partitions")` creates, on first use and under
/// an advisory lock, a table `partitions` marked as ours by its comment, a
/// table `partitions_replicas`, and triggers that `NOTIFY` on changes.
/// Add, change and remove keys with [`insert`](PgTable::insert) and
/// [`remove`](PgTable::remove) from any replica, or with plain SQL:
///
/// ```sql
/// INSERT INTO partitions (key, value) VALUES ('orders-1', '{"topic":"orders"}');
/// UPDATE partitions SET value = '{"topic":"refunds"}' WHERE key = 'orders-1';
/// DELETE FROM partitions WHERE key = 'orders-1';
/// SELECT key, owner, epoch FROM partitions ORDER BY key;   -- who runs what
/// ```
///
/// | column | meaning |
/// |---|---|
/// | `key text PRIMARY KEY` | 1–64 characters of `[a-z0-9_-]` (a `CHECK` refuses others) |
/// | `value jsonb` | the value, decoded into `V`; a row that does not decode is skipped with a `warn` line |
/// | `owner text` | the session id of the replica that runs it, `NULL` when free |
/// | `epoch bigint` | the fencing epoch: grows by one with every claim |
/// | `updated_at timestamptz` | when the value last changed |
///
/// # How keys are shared
///
/// - **Leases.** Each replica registers a session in `<table>_replicas`
///   with `lease_until = now() + lease` and renews it every `renew_every`
///   with *one* statement, whatever the number of keys it runs. A key
///   belongs to the session named in its `owner` column while that
///   session's lease holds; PostgreSQL's clock decides, not the replicas'.
/// - **Fair share.** A replica claims free keys (no owner, or an owner
///   whose lease lapsed) up to ⌈keys / live replicas⌉ and gives keys back
///   above that share, so after settling no replica holds more than
///   ⌈keys / replicas⌉ (the contract allows one more). A replica that joins
///   or leaves makes the others rebalance at once (a trigger notifies
///   them). A key given back is stopped here first and unclaimed once its
///   child has ended ([`release`](Table::release)).
/// - **Fencing.** Every claim increments the row's `epoch`; the child reads
///   it with `ctx.epoch()` ([`epoch`](Table::epoch)) and passes it
///   downstream, so that work from a stale owner can be rejected.
/// - **Failure.** A replica that dies (`kill -9`) keeps its keys until its
///   lease lapses; the next renewal of another replica then sees the lapse,
///   removes the dead session and the fleet claims its keys: failover
///   within `lease + renew_every` of the last renewal. A replica that
///   cannot renew (the database or the network is gone) keeps its children
///   running until `lease − stop_margin` after its last successful renewal
///   was sent, then stops listing its keys, so the group stops their
///   children `stop_margin` before the earliest moment another replica may
///   claim them. That is the margin: it must cover the children's shutdown
///   timeout. It reconnects with backoff meanwhile; if the lease lapsed it
///   joins again as a new session and claims keys anew, with new epochs.
/// - **Changes** from any replica or from plain SQL reach every replica at
///   once through `LISTEN`/`NOTIFY`; after a reconnection the replica reads
///   its rows again, since notifications may have been missed.
/// - **Clean stop.** [`close`](PgTable::close) (or dropping the last clone,
///   best effort) gives every claim back and removes the session, so the
///   keys move at once instead of after the lease. A replica claims keys
///   only while a group follows the table (waits on
///   [`changed`](Table::changed)), so a tree that has shut down does not
///   take keys it will not run.
///
/// # Cost
///
/// At rest each replica sends one statement per `renew_every` (the
/// renewal, which also reports joins, leaves and lapses); claims, releases
/// and value changes cost a few statements on the replicas they concern.
/// 100 replicas renewing every second put 100 statements per second on
/// the database, whether they run 1,000 keys or 100,000; with the default
/// 5 s, 20 per second.
///
/// One connection per replica. Connections use no TLS (`NoTls`): reach
/// the server over a trusted network or a local socket.
pub struct PgTable<V> {
    h: Arc<Handle>,
    _values: PhantomData<fn() -> V>,
}

impl<V> Clone for PgTable<V> {
    fn clone(&self) -> Self {
        PgTable {
            h: self.h.clone(),
            _values: PhantomData,
        }
    }
}

impl<V> std::fmt::Debug for PgTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = lock(&self.h.shared.state);
        f.debug_struct("PgTable")
            .field("table", &self.h.shared.sql.table)
            .field("session", &s.session.as_ref().map(|x| &x.id))
            .field("owned", &s.owned.len())
            .finish()
    }
}

/// A PostgreSQL error as ours: where, what we were doing, what to do.
fn pg_error(shared: &Shared, doing: &str, e: tokio_postgres::Error) -> Error {
    let c = &shared.config;
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .zip(c.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, p)| match h {
            tokio_postgres::config::Host::Tcp(h) => format!("{h}:{p}"),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let at = format!(
        "PostgreSQL at {} (table {})",
        hosts.join(","),
        shared.sql.table
    );
    let message = match e.as_db_error() {
        Some(db) => format!("could not {doing} {at}: {}", db.message()),
        None if doing == "connect to" => format!(
            "could not connect to {at}: {e}; check that the server runs and that the URL \
             (user, password, host, port, database) is right"
        ),
        None => format!("could not {doing} {at}: {e}"),
    };
    Error::new(ErrorKind::Database, message).with_source(e)
}

impl<V> PgTable<V> {
    /// Connects to the database at `url` (`postgres://user:pass@host:port/db`
    /// or `host=... user=...`), creates `table` and its companions if they do
    /// not exist, and joins the fleet of replicas sharing it, with the
    /// default [`PgSettings`].
    ///
    /// Errors: a bad URL or table name ([`ErrorKind::Config`]), a server
    /// that cannot be reached ([`ErrorKind::Database`]), a table of that
    /// name that is not ours ([`ErrorKind::NotOurs`], left untouched).
    pub async fn connect(url: &str, table: &str) -> Result<Self, Error> {
        Self::connect_with(url, table, PgSettings::default()).await
    }

    /// [`connect`](PgTable::connect) with settings.
    pub async fn connect_with(url: &str, table: &str, settings: PgSettings) -> Result<Self, Error> {
        check_table_name(table)?;
        settings.check()?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("the PostgreSQL URL is not valid: {e}; expected postgres://user:password@host:port/database"),
            )
        })?;
        config.connect_timeout(settings.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("supervisor-tables");
        }
        let shared = Arc::new(Shared {
            sql: Sql::new(table),
            settings,
            config,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            moved: Notify::new(),
            stop_guard: Notify::new(),
            client: Mutex::new(None),
            warned: Mutex::new(HashMap::new()),
            skipped: Mutex::new(Vec::new()),
        });
        let conn = conn::open(&shared, true).await?;
        *shared.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.client.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(guard::guard(shared.clone()));
        tokio::spawn(
            Driver {
                shared: shared.clone(),
                cmds: rx,
                conn: Some(conn),
            }
            .run(),
        );
        Ok(PgTable {
            h: Arc::new(Handle { shared, cmds: tx }),
            _values: PhantomData,
        })
    }

    fn client(&self) -> Result<Arc<Client>, Error> {
        self.h
            .shared
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|c| !c.is_closed())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Database,
                    format!(
                        "not connected to PostgreSQL (table {}) right now; it reconnects by itself: try again",
                        self.h.shared.sql.table
                    ),
                )
            })
    }

    async fn execute(
        &self,
        doing: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, Error> {
        let c = self.client()?;
        let shared = &self.h.shared;
        match timeout(shared.settings.query_timeout, c.execute(sql, params)).await {
            Ok(r) => r.map_err(|e| pg_error(shared, doing, e)),
            Err(_) => Err(Error::new(
                ErrorKind::Database,
                format!(
                    "PostgreSQL did not answer within {:?}; the write may or may not have happened",
                    shared.settings.query_timeout
                ),
            )),
        }
    }

    /// Removes `key` from the shared set; its replica stops its child.
    /// Removing a key that is not there is not an error. Durable when it
    /// returns (committed).
    pub async fn remove(&self, key: &str) -> Result<(), Error> {
        self.execute("remove a key from", &self.h.shared.sql.remove, &[&key])
            .await
            .map(drop)
    }

    /// The keys this replica holds now, with their fencing epochs (including
    /// keys being given back and keys whose value does not decode).
    pub fn owned(&self) -> Vec<(String, u64)> {
        lock(&self.h.shared.state)
            .owned
            .iter()
            .map(|(k, c)| (k.clone(), c.epoch))
            .collect()
    }

    /// Leaves the fleet: lists no key any more, gives every claim back and
    /// removes this replica's session, so the other replicas take the keys
    /// at once. Call it after the tree that runs the table has shut down.
    /// Dropping the last clone does the same, but cannot be waited for.
    pub async fn close(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        if self.h.cmds.send(Cmd::Close(tx)).is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }
}

impl<V: Serialize> PgTable<V> {
    /// Sets the value of `key` (1–64 characters of `[a-z0-9_-]`), stored as
    /// JSON; the replica that owns it restarts its child with the new value,
    /// or a replica claims it. Durable when it returns (committed).
    pub async fn insert(&self, key: &str, value: &V) -> Result<(), Error> {
        check_key(key)?;
        let json = serde_json::to_string(value).map_err(|e| {
            Error::new(
                ErrorKind::BadValue,
                format!("the value for key {key:?} cannot be encoded as JSON: {e}"),
            )
            .with_source(e)
        })?;
        self.execute("write to", &self.h.shared.sql.insert, &[&key, &json])
            .await
            .map(drop)
    }
}

impl<V: DeserializeOwned> PgTable<V> {
    fn decode(&self, key: &str, json: &str) -> Result<V, String> {
        match serde_json::from_str::<V>(json) {
            Ok(v) => {
                lock_map(&self.h.shared.warned).remove(key);
                Ok(v)
            }
            Err(e) => {
                let why = e.to_string();
                let mut w = lock_map(&self.h.shared.warned);
                if w.get(key) != Some(&why) {
                    tracing::warn!(
                        table = %self.h.shared.sql.table, key = %key, reason = %why,
                        "table row skipped: its value does not decode; fix or delete it"
                    );
                    w.insert(key.to_owned(), why.clone());
                }
                Err(format!("its value does not decode: {why}"))
            }
        }
    }
}

fn lock_map(
    m: &Mutex<HashMap<String, String>>,
) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<V> Table<V> for PgTable<V>
where
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// The keys this replica holds and may run now: nothing while its lease
    /// is at risk.
    async fn load(&self) -> Result<Vec<(String, V)>, BoxError> {
        let rows = lock(&self.h.shared.state).list();
        let mut out = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for (k, json, _) in rows {
            match self.decode(&k, &json) {
                Ok(v) => out.push((k, v)),
                Err(why) => bad.push((k, why)),
            }
        }
        if !bad.is_empty() {
            let mut s = lock(&self.h.shared.state);
            for (k, _) in &bad {
                s.listed.remove(k);
            }
        }
        *self
            .h
            .shared
            .skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = bad;
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<V>, BoxError> {
        let json = {
            let s = lock(&self.h.shared.state);
            if !s.serving() {
                return Ok(None);
            }
            match s.owned.get(key) {
                Some(c) if !c.shedding => c.json.clone(),
                _ => return Ok(None),
            }
        };
        Ok(self.decode(key, &json).ok())
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.h
            .shared
            .skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn changed(&self) -> impl std::future::Future<Output = ()> + Send {
        let h = self.h.clone();
        async move {
            let notified = h.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let _w = Follower::new(&h);
            notified.await;
        }
    }

    fn epoch(&self, key: &str) -> Option<u64> {
        let s = lock(&self.h.shared.state);
        s.owned.get(key).filter(|_| s.serving()).map(|c| c.epoch)
    }

    fn release(&self, key: &str) {
        let session = lock(&self.h.shared.state).release(key);
        if let Some(session) = session {
            let _ = self.h.cmds.send(Cmd::Release(key.to_owned(), session));
        }
    }
}

/// One waiter on `changed()`: while any is there, the replica claims keys.
struct Follower<'a>(&'a Handle);

impl<'a> Follower<'a> {
    fn new(h: &'a Handle) -> Self {
        let first = {
            let mut s = lock(&h.shared.state);
            // A group that waits again right after a wake-up was following
            // all along: no need to look at the database again.
            let was = s.following(Instant::now(), h.shared.settings.renew_every);
            s.waiters += 1;
            s.idle_since = None;
            !was
        };
        if first {
            let _ = h.cmds.send(Cmd::Kick);
        }
        Follower(h)
    }
}

impl Drop for Follower<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.0.shared.state);
        s.waiters -= 1;
        if s.waiters == 0 {
            s.idle_since = Some(Instant::now());
        }
    }
}
