//! Opening a replica's connection: connect, create or check the schema,
//! listen, prepare the renewal.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_postgres::{AsyncMessage, Client};

use super::{pg_error, Shared};
use crate::error::{Error, ErrorKind};

/// A live connection: the client and the stream of notifications, which
/// ends when the connection does.
pub(super) struct Conn {
    pub(super) client: Arc<Client>,
    pub(super) notes: mpsc::UnboundedReceiver<()>,
    /// The renewal, prepared once per connection: at rest it is the only
    /// statement, and an unprepared one costs a second round trip.
    pub(super) renew: tokio_postgres::Statement,
}

/// Connects, creates the schema if needed (refusing a table that is not
/// ours) and listens for changes; all of it within the connect timeout plus
/// the query timeout (a server that accepts the socket but never answers
/// does not hold the replica up).
pub(super) async fn open(shared: &Shared, setup: bool) -> Result<Conn, Error> {
    let within = shared.settings.connect_timeout + shared.settings.query_timeout;
    match timeout(within, open_inner(shared, setup)).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(
            ErrorKind::Database,
            format!(
                "PostgreSQL (table {}) did not complete the connection within {within:?}",
                shared.sql.table
            ),
        )),
    }
}

async fn open_inner(shared: &Shared, setup: bool) -> Result<Conn, Error> {
    let s = &shared.sql;
    let (client, mut connection) = shared
        .config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| pg_error(shared, "connect to", e))?;
    let (tx, notes) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if tx.send(()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "PostgreSQL connection ended");
                    return;
                }
                None => return,
            }
        }
    });
    let q = |e| pg_error(shared, "set up", e);
    if setup {
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtext('supervisor-tables:{}'))",
                s.table
            ))
            .await
            .map_err(q)?;
        let row = client.query_one(&s.check_ours, &[]).await.map_err(q)?;
        let comment: Option<String> = row.get(0);
        let replicas: bool = row.get(1);
        match comment {
            None if !replicas => client.batch_execute(&s.schema).await.map_err(q)?,
            Some(c) if c == super::sql::MARK && replicas => {}
            other => {
                let _ = client.batch_execute("ROLLBACK").await;
                let what = match other {
                    None => format!("table {}_replicas exists without {}", s.table, s.table),
                    Some(c) => format!(
                        "table {} already exists and is not a supervisor table (its comment is {c:?}, not {:?})",
                        s.table,
                        super::sql::MARK
                    ),
                };
                return Err(Error::new(
                    ErrorKind::NotOurs,
                    format!("{what}; it was left untouched: choose another table name"),
                ));
            }
        }
        client.batch_execute("COMMIT").await.map_err(q)?;
    }
    client.batch_execute(&s.listen).await.map_err(q)?;
    let renew = client.prepare(&s.renew).await.map_err(q)?;
    Ok(Conn {
        client: Arc::new(client),
        notes,
        renew,
    })
}

/// A new random session id: the replica's name and 64 random bits.
pub(super) fn session_id(name: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(t.as_nanos());
    h.write_u32(std::process::id());
    format!("{name}-{:016x}", h.finish())
}
