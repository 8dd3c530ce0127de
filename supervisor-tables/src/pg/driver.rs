//! The background work of a [`PgTable`](super::PgTable): one connection,
//! one lease per replica, claims, releases and notifications.
//!
//! Two tasks per replica. The *driver* owns the connection and does every
//! statement in order: renew the lease every `renew_every`, sync (reap
//! lapsed replicas, read this replica's rows, claim or shed to the fair
//! share) when a notification, a renewal or a release says something
//! moved, unclaim released keys, reconnect with backoff. The *guard* only
//! watches the clock: at `at_risk_at` it stops listing keys (so the group
//! stops their children), at `lapse_at` it forgets the session. It is a
//! task of its own so that a driver stuck on a dead connection cannot make
//! it late.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_postgres::Client;

use super::conn::{open, session_id, Conn};
use super::state::{lock, Session};
use super::{pg_error, Shared};
use crate::error::{Error, ErrorKind};

/// What the table's handles ask of the driver.
pub(super) enum Cmd {
    /// Unclaim `key`, released by the group under session `.1`.
    Release(String, String),
    /// Someone started to follow the table: claim now.
    Kick,
    /// Give every claim back and leave the fleet.
    Close(oneshot::Sender<Result<(), Error>>),
}

/// The driver task.
pub(super) struct Driver {
    pub(super) shared: Arc<Shared>,
    pub(super) cmds: mpsc::UnboundedReceiver<Cmd>,
    pub(super) conn: Option<Conn>,
}

/// Why a step stopped: the connection is gone, or PostgreSQL said no.
enum Failed {
    Connection(Error),
    Statement(Error),
}

impl Driver {
    fn q<T>(
        &self,
        doing: &str,
        r: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, Failed> {
        match r {
            Err(_) => Failed::Connection(Error::new(
                ErrorKind::Database,
                format!(
                    "PostgreSQL did not answer within {:?} while trying to {doing}",
                    self.shared.settings.query_timeout
                ),
            ))
            .into_err(),
            Ok(Err(e)) if e.is_closed() || e.as_db_error().is_none() => {
                Failed::Connection(pg_error(&self.shared, doing, e)).into_err()
            }
            Ok(Err(e)) => Failed::Statement(pg_error(&self.shared, doing, e)).into_err(),
            Ok(Ok(t)) => Ok(t),
        }
    }

    fn client(&self) -> Result<Arc<Client>, Failed> {
        match &self.conn {
            Some(c) if !c.client.is_closed() => Ok(c.client.clone()),
            _ => Err(Failed::Connection(Error::new(
                ErrorKind::Database,
                "not connected",
            ))),
        }
    }

    pub(super) async fn run(mut self) {
        let st = self.shared.settings.clone();
        let mut next_renew = Instant::now() + st.renew_every;
        let mut sync_at: Option<Instant> = Some(Instant::now());
        let mut reconnect_at = Instant::now();
        let mut backoff = Duration::from_millis(100);
        let mut register_at = Instant::now();
        let mut unclaims: Vec<(String, String)> = Vec::new();
        loop {
            if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
                if self.conn.take().is_some() {
                    tracing::warn!(table = %self.shared.sql.table, "lost the connection to PostgreSQL; reconnecting");
                    *self.shared.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                if Instant::now() >= reconnect_at {
                    match open(&self.shared, false).await {
                        Ok(c) => {
                            *self.shared.client.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(c.client.clone());
                            self.conn = Some(c);
                            backoff = Duration::from_millis(100);
                            // Notifications may have been missed: look again.
                            sync_at = Some(Instant::now());
                            next_renew = Instant::now();
                            tracing::info!(table = %self.shared.sql.table, "reconnected to PostgreSQL");
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, retry_in = ?backoff, "could not reconnect to PostgreSQL");
                            reconnect_at = Instant::now() + backoff;
                            backoff = (backoff * 2).min(st.renew_every);
                        }
                    }
                }
            }
            let connected = self.conn.is_some();
            let closed = lock(&self.shared.state).closed;
            // A replica joins the fleet while a group follows its table; a
            // handle that only writes never does, so it takes no share.
            let (unregistered, idle) = {
                let s = lock(&self.shared.state);
                let following = s.following(Instant::now(), st.renew_every);
                (
                    !closed && s.session.is_none() && following,
                    s.session.is_some() && !following && s.listed.is_empty(),
                )
            };
            if connected && unregistered && Instant::now() >= register_at {
                match self.register().await {
                    Ok(()) => sync_at = Some(Instant::now()),
                    Err(Failed::Connection(e)) => {
                        tracing::warn!(error = %e, "could not join the fleet; reconnecting");
                        self.conn = None;
                        continue;
                    }
                    Err(Failed::Statement(e)) => {
                        tracing::warn!(error = %e, retry_in = ?st.renew_every, "could not join the fleet");
                        register_at = Instant::now() + st.renew_every;
                    }
                }
            }
            if connected && !unclaims.is_empty() {
                match self.unclaim(&mut unclaims).await {
                    Ok(()) | Err(Failed::Statement(_)) => {}
                    Err(Failed::Connection(_)) => continue,
                }
            }
            let wake_reconnect = if !connected {
                Some(reconnect_at)
            } else if unregistered {
                Some(register_at)
            } else {
                None
            };
            let far = Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                cmd = self.cmds.recv() => {
                    let Some(first) = cmd else {
                        if let Err(e) = self.leave().await {
                            tracing::warn!(error = %e, "could not give the keys back on drop");
                        }
                        break;
                    };
                    // Take every command waiting, so that releases go in one statement.
                    let mut batch = vec![first];
                    while let Ok(c) = self.cmds.try_recv() {
                        batch.push(c);
                    }
                    for cmd in batch {
                        match cmd {
                            Cmd::Release(key, session) => unclaims.push((session, key)),
                            Cmd::Kick => sync_at = Some(Instant::now()),
                            Cmd::Close(done) => {
                                lock(&self.shared.state).closed = true;
                                let r = self.leave().await;
                                unclaims.clear();
                                self.shared.changed.notify_waiters();
                                let _ = done.send(r);
                            }
                        }
                    }
                }
                note = async { match &mut self.conn { Some(c) => c.notes.recv().await, None => std::future::pending().await } } => {
                    match note {
                        // Let a burst of changes settle into one sync.
                        Some(()) => {
                            let soon = Instant::now() + st.settle;
                            sync_at = Some(sync_at.map_or(soon, |t| t.min(soon)));
                        }
                        None => self.conn = None,
                    }
                }
                _ = sleep_until(next_renew), if connected && !closed => {
                    next_renew = Instant::now() + st.renew_every;
                    if idle {
                        // No group follows the table any more and nothing runs:
                        // leave, so that the others take the keys now.
                        if let Err(e) = self.leave().await {
                            tracing::warn!(error = %e, "could not leave the fleet");
                        }
                        continue;
                    }
                    match self.renew().await {
                        Ok(true) => sync_at = Some(Instant::now()),
                        Ok(false) => {}
                        Err(Failed::Connection(e)) => {
                            tracing::warn!(error = %e, "could not renew the lease");
                            self.conn = None;
                        }
                        Err(Failed::Statement(e)) => tracing::warn!(error = %e, "could not renew the lease"),
                    }
                }
                _ = sleep_until(sync_at.unwrap_or(far)), if connected && !closed && sync_at.is_some() => {
                    match self.sync().await {
                        Ok(next) => sync_at = next,
                        Err(Failed::Connection(e)) => {
                            tracing::warn!(error = %e, "could not sync claims");
                            self.conn = None;
                            sync_at = Some(Instant::now());
                        }
                        Err(Failed::Statement(e)) => {
                            tracing::warn!(error = %e, "could not sync claims; trying again");
                            sync_at = Some(Instant::now() + st.renew_every);
                        }
                    }
                }
                _ = sleep_until(wake_reconnect.unwrap_or(far)), if wake_reconnect.is_some() => {}
            }
        }
        self.shared.stop_guard.notify_one();
    }

    /// Joins the fleet under a new session.
    async fn register(&mut self) -> Result<(), Failed> {
        let c = self.client()?;
        let id = session_id(&self.shared.settings.name);
        let lease = self.shared.settings.lease;
        let t0 = Instant::now();
        let r = timeout(
            self.shared.settings.query_timeout,
            c.execute(&self.shared.sql.register, &[&id, &lease.as_secs_f64()]),
        )
        .await;
        self.q("join the fleet", r)?;
        {
            let mut s = lock(&self.shared.state);
            s.session = Some(Session {
                id: id.clone(),
                at_risk_at: t0 + lease - self.shared.settings.stop_margin,
                lapse_at: t0 + lease,
            });
            s.at_risk = false;
        }
        self.shared.moved.notify_one();
        tracing::info!(table = %self.shared.sql.table, session = %id, "joined the fleet");
        Ok(())
    }

    /// Renews the lease. `Ok(true)`: the fleet changed (a replica joined,
    /// left or lapsed), sync now.
    async fn renew(&mut self) -> Result<bool, Failed> {
        let Some(id) = lock(&self.shared.state)
            .session
            .as_ref()
            .map(|s| s.id.clone())
        else {
            return Ok(false);
        };
        let c = self.client()?;
        let Some(stmt) = self.conn.as_ref().map(|c| c.renew.clone()) else {
            return Ok(false);
        };
        let lease = self.shared.settings.lease;
        let t0 = Instant::now();
        let r = timeout(
            self.shared.settings.query_timeout,
            c.query_one(&stmt, &[&id, &lease.as_secs_f64()]),
        )
        .await;
        let row = self.q("renew the lease", r)?;
        let (renewed, live, lapsed): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let mut s = lock(&self.shared.state);
        if s.session.as_ref().map(|x| x.id.as_str()) != Some(id.as_str()) {
            return Ok(true);
        }
        if renewed == 0 {
            tracing::warn!(session = %id, "the lease lapsed before it could be renewed; every claim of this replica is void, joining again");
            s.lose_session();
            drop(s);
            self.shared.changed.notify_waiters();
            self.shared.moved.notify_one();
            return Ok(true);
        }
        let was_at_risk = s.at_risk;
        if let Some(x) = s.session.as_mut() {
            x.at_risk_at = t0 + lease - self.shared.settings.stop_margin;
            x.lapse_at = t0 + lease;
        }
        s.at_risk = false;
        let fleet_changed = live != s.live_seen || lapsed > 0;
        s.live_seen = live;
        drop(s);
        self.shared.moved.notify_one();
        if was_at_risk {
            tracing::info!(session = %id, "lease renewed again; listing this replica's keys again");
            self.shared.changed.notify_waiters();
        }
        Ok(fleet_changed || was_at_risk)
    }

    /// Brings this replica's claims to its fair share. Returns when to sync
    /// again by itself (a cool-down that ends), if ever.
    async fn sync(&self) -> Result<Option<Instant>, Failed> {
        let st = self.shared.settings.clone();
        let shared = self.shared.clone();
        let sql = &shared.sql;
        let Some(id) = lock(&self.shared.state)
            .session
            .as_ref()
            .map(|s| s.id.clone())
        else {
            return Ok(None);
        };
        let c = self.client()?;
        let t = st.query_timeout;
        let r = timeout(t, c.execute(&sql.reap, &[])).await;
        let reaped = self.q("remove lapsed replicas", r)?;
        if reaped > 0 {
            tracing::info!(
                replicas = reaped,
                "removed replicas whose lease lapsed; their keys are free"
            );
        }
        let r = timeout(t, c.query_one(&sql.counts, &[])).await;
        let row = self.q("count keys and replicas", r)?;
        let (keys, live): (i64, i64) = (row.get(0), row.get(1));
        let r = timeout(t, c.query(&sql.mine, &[&id])).await;
        let rows = self.q("read this replica's keys", r)?;
        let mine: Vec<(String, String, u64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as u64))
            .collect();
        let now = Instant::now();
        let (unclaim_now, want, cooled, mut changed) = {
            let mut s = lock(&self.shared.state);
            if s.session.as_ref().map(|x| x.id.as_str()) != Some(id.as_str()) || s.at_risk {
                return Ok(None);
            }
            s.live_seen = live;
            let changed = s.apply_mine(mine);
            let held = s.owned.len();
            let target = if s.following(now, st.renew_every) && !s.closed {
                (keys as usize).div_ceil(live.max(1) as usize)
            } else {
                0
            };
            let mut unclaim_now = Vec::new();
            let mut changed = changed;
            let excess = held.saturating_sub(target).saturating_sub(s.shedding());
            if excess > 0 {
                let (now_keys, c) = s.shed(excess);
                unclaim_now = now_keys;
                changed |= c;
            }
            let want = target.saturating_sub(held);
            (unclaim_now, want, s.cooled(now), changed)
        };
        if !unclaim_now.is_empty() {
            let mut list: Vec<(String, String)> =
                unclaim_now.into_iter().map(|k| (id.clone(), k)).collect();
            self.unclaim(&mut list).await?;
        }
        let mut next = None;
        if want > 0 {
            let r = timeout(t, c.query(&sql.claim, &[&id, &(want as i64), &cooled])).await;
            let rows = self.q("claim keys", r)?;
            let mut s = lock(&self.shared.state);
            if s.session.as_ref().map(|x| x.id.as_str()) == Some(id.as_str()) {
                for r in &rows {
                    let key: String = r.get(0);
                    s.owned.insert(
                        key,
                        super::state::Claim {
                            json: r.get(1),
                            epoch: r.get::<_, i64>(2) as u64,
                            shedding: false,
                        },
                    );
                }
                changed |= !rows.is_empty();
                if rows.len() < want {
                    next = s.cooling.values().min().copied();
                }
            }
        }
        if changed {
            self.shared.changed.notify_waiters();
        }
        Ok(next)
    }

    /// Unclaims released keys, each under the session it was held by.
    async fn unclaim(&self, list: &mut Vec<(String, String)>) -> Result<(), Failed> {
        let c = self.client()?;
        list.sort();
        let mut by_session: Vec<(String, Vec<String>)> = Vec::new();
        for (s, k) in list.iter() {
            match by_session.last_mut() {
                Some((last, keys)) if last == s => keys.push(k.clone()),
                _ => by_session.push((s.clone(), vec![k.clone()])),
            }
        }
        for (session, keys) in by_session {
            let r = timeout(
                self.shared.settings.query_timeout,
                c.execute(&self.shared.sql.unclaim, &[&session, &keys]),
            )
            .await;
            let res = self.q("give keys back", r);
            if let Err(Failed::Connection(e)) = res {
                return Err(Failed::Connection(e));
            }
            list.retain(|(s, _)| *s != session);
            let mut s = lock(&self.shared.state);
            let until = Instant::now() + self.shared.settings.renew_every * 2;
            for k in keys {
                s.releasing.remove(&k);
                if res.is_ok() {
                    s.cooling.insert(k, until);
                }
            }
            if let Err(Failed::Statement(e)) = res {
                tracing::warn!(error = %e, "could not give keys back; they free up when the lease lapses");
            }
        }
        Ok(())
    }

    /// Gives every claim back and removes this replica's session.
    async fn leave(&mut self) -> Result<(), Error> {
        let id = {
            let mut s = lock(&self.shared.state);
            let id = s.session.as_ref().map(|x| x.id.clone());
            s.lose_session();
            id
        };
        self.shared.changed.notify_waiters();
        self.shared.moved.notify_one();
        let Some(id) = id else { return Ok(()) };
        let c = match self.client() {
            Ok(c) => c,
            Err(_) => return Err(Error::new(
                ErrorKind::Database,
                "not connected to PostgreSQL: this replica's keys free up when its lease lapses",
            )),
        };
        let r = timeout(
            self.shared.settings.query_timeout,
            c.execute(&self.shared.sql.deregister, &[&id]),
        )
        .await;
        match self.q("leave the fleet", r) {
            Ok(_) => {
                tracing::info!(session = %id, "left the fleet; keys given back");
                Ok(())
            }
            Err(Failed::Connection(e) | Failed::Statement(e)) => Err(e),
        }
    }
}

impl Failed {
    fn into_err<T>(self) -> Result<T, Failed> {
        Err(self)
    }
}
