//! [`SqliteTable`]: the desired set of a dynamic group in one SQLite file.
//!
//! # Design
//!
//! Two connections per table, each behind a mutex and only ever used inside
//! [`tokio::task::spawn_blocking`], so no SQLite call runs on an async worker
//! thread: one reads and writes the entries, the other only polls
//! `PRAGMA data_version` (which moves when *another* connection, in this
//! process or another, commits). The poller is a small tokio task that
//! sleeps while nobody waits on [`Table::changed`] and checks every
//! [`poll_every`](SqliteSettings::poll_every) while someone does.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use supervisor_runtime::{BoxError, Table};
use tokio::sync::Notify;

use crate::error::{check_key, key_problem, Error, ErrorKind};

mod open;
mod watch;

use self::open::{connect, data_version, open_checked, sql_error};
use self::watch::{poll_changes, Waiting};

/// `PRAGMA application_id` of a table file: "SUPV" in ASCII. A file with
/// another id is not ours.
pub const APPLICATION_ID: i32 = 0x5355_5056;
/// `PRAGMA user_version` of the schema this version writes.
pub const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS entries (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)";

/// Settings of a [`SqliteTable`]; [`SqliteTable::open`] uses the defaults.
#[derive(Clone, Debug)]
#[must_use]
pub struct SqliteSettings {
    busy_timeout: Duration,
    poll_every: Duration,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings {
            busy_timeout: Duration::from_secs(5),
            poll_every: Duration::from_millis(200),
        }
    }
}

impl SqliteSettings {
    /// The defaults: a 5 s busy timeout, polled every 200 ms.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a statement waits for another process's lock before it
    /// fails with [`ErrorKind::Locked`]. Default: 5 s.
    pub fn busy_timeout(mut self, d: Duration) -> Self {
        self.busy_timeout = d;
        self
    }

    /// How often `PRAGMA data_version` is polled while a group waits for
    /// changes made by other processes. Default: 200 ms, so a change is seen
    /// within a quarter of a second. Nothing is polled while nobody waits.
    pub fn poll_every(mut self, d: Duration) -> Self {
        self.poll_every = d.max(Duration::from_millis(1));
        self
    }
}

/// The desired set of a [`DynamicGroup`](supervisor_runtime::DynamicGroup)
/// in one SQLite file: it survives restarts of the program, and a person or
/// another program may edit it while the group runs.
///
/// ```
/// use supervisor_runtime::{Child, Context, DynamicGroup, Group, Table};
/// use supervisor_tables::SqliteTable;
///
/// #[derive(serde::Serialize, serde::Deserialize, Clone, PartialEq)]
/// struct Tenant { port: u16 }
///
/// async fn serve(ctx: Context, key: String, t: Tenant) -> Result<(), std::io::Error> {
///     ctx.healthy();
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), supervisor_runtime::BoxError> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("tenants.db");
///
/// let table = SqliteTable::<Tenant>::open(&path).await?;
/// table.insert("eu-1", &Tenant { port: 9001 }).await?; // on disk when this returns
///
/// let tenants = DynamicGroup::with_table(table.clone(), |key: &str, t: &Tenant| {
///     let (key, t) = (key.to_owned(), t.clone());
///     move |ctx: Context| serve(ctx, key.clone(), t.clone())
/// });
/// let tree = Group::parallel("app").child(Child::new("tenants", tenants.clone())).build()?;
/// let handle = tree.start();
///
/// // Later, or from another process, or with `sqlite3 tenants.db`:
/// table.insert("us-1", &Tenant { port: 9002 }).await?; // starts `app.tenants.us-1`
/// table.remove("eu-1").await?;                        // stops `app.tenants.eu-1`
///
/// // A new program opening the same file finds the same set.
/// let again = SqliteTable::<Tenant>::open(&path).await?;
/// let keys: Vec<String> = again.load().await?.into_iter().map(|(k, _)| k).collect();
/// assert_eq!(keys, ["us-1"]);
/// handle.shutdown().await;
/// # Ok(()) }
/// ```
///
/// # The file
///
/// An ordinary SQLite database, marked as ours by `PRAGMA application_id =
/// 0x53555056` ("SUPV") and `PRAGMA user_version = 1`, with one table:
///
/// ```sql
/// CREATE TABLE entries (
///     key        TEXT PRIMARY KEY NOT NULL,    -- 1-64 characters of [a-z0-9_-]
///     value      TEXT NOT NULL CHECK (json_valid(value)),  -- serde_json of V
///     updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
/// );
/// ```
///
/// Read and edit it with the `sqlite3` shell, even while groups run from
/// it: `INSERT INTO entries(key, value) VALUES ('eu-2', '{"port":9003}');`.
/// A row that is not valid (a key that breaks the name rule, JSON that does
/// not decode into `V`) is skipped by [`load`](Table::load) with a `warn`
/// log line naming the key and the reason, once per distinct problem; the
/// other rows are not affected.
///
/// # Durability
///
/// The file is in WAL mode with `synchronous = FULL`: the write-ahead log
/// is flushed to stable storage (fsync) before each commit returns, so a
/// write acknowledged by [`insert`](SqliteTable::insert) or
/// [`remove`](SqliteTable::remove) survives `kill -9` of the process and a
/// power loss. (With `synchronous = NORMAL`, the SQLite default in WAL mode,
/// the last commits may be lost on power loss; this table does not use it.)
///
/// # Opening
///
/// [`open`](SqliteTable::open) creates the file and the schema if the file
/// does not exist or is an empty database. It refuses, with an error that
/// names the file and says what to do, and without writing a byte to it: a
/// file that is not a SQLite database or another program's database
/// ([`ErrorKind::NotOurs`]), a damaged one (`PRAGMA quick_check` fails,
/// [`ErrorKind::Corrupt`]), and one that another process keeps locked for
/// longer than the busy timeout ([`ErrorKind::Locked`]).
///
/// # Changes from other processes
///
/// [`changed`](Table::changed) resolves within
/// [`poll_every`](SqliteSettings::poll_every) (200 ms) of a commit by any
/// other connection, and at once after [`insert`](SqliteTable::insert) or
/// [`remove`](SqliteTable::remove) through any clone of this table.
pub struct SqliteTable<V> {
    inner: Arc<Inner>,
    _values: PhantomData<fn() -> V>,
}

struct Inner {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// Only polls `PRAGMA data_version`; closed with the table.
    watch: Arc<Mutex<Connection>>,
    changed: Notify,
    waiters: AtomicUsize,
    /// Wakes the poller when someone starts waiting or the table is dropped.
    wake: Arc<Notify>,
    /// Problems with rows already logged: key -> reason.
    warned: Mutex<HashMap<String, String>>,
    /// The rows the last `load()` skipped, with why.
    skipped: Mutex<Vec<(String, String)>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.wake.notify_one();
        // Closing may checkpoint the log into the file: on the blocking
        // pool too, when there is one.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let conns = (self.conn.clone(), self.watch.clone());
            drop(rt.spawn_blocking(move || drop(conns)));
        }
    }
}

impl<V> Clone for SqliteTable<V> {
    fn clone(&self) -> Self {
        SqliteTable {
            inner: self.inner.clone(),
            _values: PhantomData,
        }
    }
}

impl<V> std::fmt::Debug for SqliteTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTable")
            .field("path", &self.inner.path)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::new(ErrorKind::Database, "a SQLite call panicked").with_source(e)),
    }
}

impl<V> SqliteTable<V> {
    /// Opens the table in the file at `path`, creating the file and its
    /// schema if needed, with the default [`SqliteSettings`].
    ///
    /// Errors (each names the file and says what to do; none writes to the
    /// file): not a table of ours, corrupt, locked, or not openable.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(path, SqliteSettings::default()).await
    }

    /// [`open`](SqliteTable::open) with settings.
    pub async fn open_with(
        path: impl AsRef<Path>,
        settings: SqliteSettings,
    ) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let s = settings.clone();
        let (conn, watch, version) = blocking(move || {
            let conn = open_checked(&p, &s)?;
            let watch = connect(&p, &s, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            let version = data_version(&watch, &p)?;
            Ok((conn, watch, version))
        })
        .await?;
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            path,
            conn: Arc::new(Mutex::new(conn)),
            watch: Arc::new(Mutex::new(watch)),
            changed: Notify::new(),
            waiters: AtomicUsize::new(0),
            wake: wake.clone(),
            warned: Mutex::new(HashMap::new()),
            skipped: Mutex::new(Vec::new()),
        });
        tokio::spawn(poll_changes(
            Arc::downgrade(&inner),
            wake,
            version,
            settings.poll_every,
        ));
        Ok(SqliteTable {
            inner,
            _values: PhantomData,
        })
    }

    /// The file this table lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Removes `key`; removing a key that is not there is not an error.
    /// Durable when it returns (see "Durability" above).
    pub async fn remove(&self, key: &str) -> Result<(), Error> {
        let conn = self.inner.conn.clone();
        let path = self.inner.path.clone();
        let key = key.to_owned();
        blocking(move || {
            lock(&conn)
                .execute("DELETE FROM entries WHERE key = ?1", [&key])
                .map_err(|e| sql_error(&path, "remove a key from", e))
        })
        .await?;
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn rows(&self, key: Option<String>) -> Result<Vec<(String, String)>, Error> {
        let conn = self.inner.conn.clone();
        let path = self.inner.path.clone();
        blocking(move || {
            let c = lock(&conn);
            let read = || -> rusqlite::Result<Vec<(String, String)>> {
                match key {
                    Some(k) => Ok(c
                        .query_row("SELECT key, value FROM entries WHERE key = ?1", [&k], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()?
                        .into_iter()
                        .collect()),
                    None => {
                        let mut st =
                            c.prepare_cached("SELECT key, value FROM entries ORDER BY key")?;
                        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                        rows.collect()
                    }
                }
            };
            read().map_err(|e| sql_error(&path, "read", e))
        })
        .await
    }
}

impl<V: Serialize> SqliteTable<V> {
    /// Sets the value of `key` (1–64 characters of `[a-z0-9_-]`, the
    /// runtime's name rule), stored as JSON. Durable when it returns (see
    /// "Durability" above).
    ///
    /// Errors: a bad key ([`ErrorKind::BadKey`], nothing written), a value
    /// that cannot be encoded ([`ErrorKind::BadValue`]), or the file.
    pub async fn insert(&self, key: &str, value: &V) -> Result<(), Error> {
        check_key(key)?;
        let json = serde_json::to_string(value).map_err(|e| {
            Error::new(
                ErrorKind::BadValue,
                format!("the value for key {key:?} cannot be encoded as JSON: {e}"),
            )
            .with_source(e)
        })?;
        let conn = self.inner.conn.clone();
        let path = self.inner.path.clone();
        let key = key.to_owned();
        blocking(move || {
            lock(&conn)
                .execute(
                    "INSERT INTO entries (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                         updated_at = excluded.updated_at",
                    [&key, &json],
                )
                .map_err(|e| sql_error(&path, "write to", e))
        })
        .await?;
        self.inner.changed.notify_waiters();
        Ok(())
    }
}

impl<V: DeserializeOwned> SqliteTable<V> {
    /// Decodes one row, or logs why it is skipped (once per distinct
    /// problem) and returns the key and the reason.
    fn decode(&self, key: String, json: &str) -> Result<(String, V), (String, String)> {
        let problem = match key_problem(&key) {
            Some(why) => format!("the key is not valid: {why}"),
            None => match serde_json::from_str::<V>(json) {
                Ok(v) => {
                    lock(&self.inner.warned).remove(&key);
                    return Ok((key, v));
                }
                Err(e) => format!("its value does not decode: {e}"),
            },
        };
        let mut warned = lock(&self.inner.warned);
        if warned.get(&key) != Some(&problem) {
            tracing::warn!(
                file = %self.inner.path.display(),
                key = %key,
                reason = %problem,
                "table row skipped: fix or delete it (e.g. with the sqlite3 shell)"
            );
            warned.insert(key.clone(), problem.clone());
        }
        Err((key, problem))
    }
}

impl<V> Table<V> for SqliteTable<V>
where
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn load(&self) -> Result<Vec<(String, V)>, BoxError> {
        let rows = self.rows(None).await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut skipped = Vec::new();
        for (k, json) in rows {
            match self.decode(k, &json) {
                Ok(entry) => out.push(entry),
                Err(bad) => skipped.push(bad),
            }
        }
        *lock(&self.inner.skipped) = skipped;
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<V>, BoxError> {
        let rows = self.rows(Some(key.to_owned())).await?;
        Ok(rows
            .into_iter()
            .find_map(|(k, json)| self.decode(k, &json).ok())
            .map(|(_, v)| v))
    }

    fn skipped(&self) -> Vec<(String, String)> {
        lock(&self.inner.skipped).clone()
    }

    fn changed(&self) -> impl std::future::Future<Output = ()> + Send {
        let inner = self.inner.clone();
        async move {
            let notified = inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let _waiting = Waiting::new(&inner);
            notified.await;
        }
    }
}
