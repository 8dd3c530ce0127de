//! What one replica knows about its claims, shared by the table's handles
//! (which the group calls), the driver (which talks to PostgreSQL) and the
//! guard (which watches the lease deadlines).
//!
//! Every decision that the group's view depends on is taken under the one
//! mutex: a key is either listed to the group (and then given back only
//! through [`Table::release`](supervisor_runtime::Table::release)) or not,
//! never both, so the driver cannot unclaim a key whose child may run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// This replica's claim on one key.
#[derive(Debug)]
pub(super) struct Claim {
    /// The value, as the JSON text PostgreSQL returned.
    pub(super) json: String,
    pub(super) epoch: u64,
    /// Given up to rebalance: no longer listed; unclaimed once released.
    pub(super) shedding: bool,
}

/// One registration of this replica in the replicas table.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) id: String,
    /// Children are stopped from here on unless the lease is renewed
    /// (lease − stop margin after the last successful renewal was sent).
    pub(super) at_risk_at: Instant,
    /// The lease may have lapsed in PostgreSQL from here on.
    pub(super) lapse_at: Instant,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) session: Option<Session>,
    /// The lease is at risk: nothing is listed until it is renewed.
    pub(super) at_risk: bool,
    pub(super) owned: BTreeMap<String, Claim>,
    /// Keys handed to the group by `load()` and not released since.
    pub(super) listed: HashSet<String>,
    /// Released here; the unclaim has not reached PostgreSQL yet.
    pub(super) releasing: HashSet<String>,
    /// Released here recently: not claimed again by this replica until then.
    pub(super) cooling: HashMap<String, Instant>,
    /// `close()` was called: nothing is claimed any more.
    pub(super) closed: bool,
    /// How many wait on `changed()` now, and since when nobody does.
    pub(super) waiters: usize,
    pub(super) idle_since: Option<Instant>,
    /// Live replicas at the last look, to notice joins and leaves.
    pub(super) live_seen: i64,
}

pub(super) fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    /// Whether the group may be shown keys now.
    pub(super) fn serving(&self) -> bool {
        self.session.is_some() && !self.at_risk && !self.closed
    }

    /// The keys to list: owned, not being shed; marks them listed.
    pub(super) fn list(&mut self) -> Vec<(String, String, u64)> {
        if !self.serving() {
            return Vec::new();
        }
        let out: Vec<_> = self
            .owned
            .iter()
            .filter(|(_, c)| !c.shedding)
            .map(|(k, c)| (k.clone(), c.json.clone(), c.epoch))
            .collect();
        self.listed.extend(out.iter().map(|(k, _, _)| k.clone()));
        out
    }

    /// The group let go of `key`: forget the claim, unclaim it in PostgreSQL.
    /// Returns the session to unclaim it under.
    pub(super) fn release(&mut self, key: &str) -> Option<String> {
        self.listed.remove(key);
        let id = self.session.as_ref()?.id.clone();
        self.owned.remove(key);
        self.releasing.insert(key.to_owned());
        Some(id)
    }

    /// The session is gone (lapsed or removed): every claim with it.
    pub(super) fn lose_session(&mut self) {
        self.session = None;
        self.at_risk = true;
        self.owned.clear();
        self.releasing.clear();
        self.cooling.clear();
    }

    /// Whether a group follows the table (waits on `changed()`), or did
    /// within `grace`.
    pub(super) fn following(&self, now: Instant, grace: std::time::Duration) -> bool {
        self.waiters > 0
            || self
                .idle_since
                .is_some_and(|t| now.duration_since(t) < grace)
    }

    /// Applies the authoritative list of this session's rows. Returns
    /// whether the listed set or a value changed.
    pub(super) fn apply_mine(&mut self, rows: Vec<(String, String, u64)>) -> bool {
        let mut changed = false;
        let mut seen = HashSet::with_capacity(rows.len());
        for (key, json, epoch) in rows {
            if self.releasing.contains(&key) {
                continue;
            }
            seen.insert(key.clone());
            match self.owned.get_mut(&key) {
                Some(c) => {
                    if c.json != json {
                        c.json = json;
                        changed |= !c.shedding;
                    }
                    c.epoch = epoch;
                }
                None => {
                    self.owned.insert(
                        key,
                        Claim {
                            json,
                            epoch,
                            shedding: false,
                        },
                    );
                    changed = true;
                }
            }
        }
        let before = self.owned.len();
        self.owned.retain(|k, _| seen.contains(k));
        changed | (self.owned.len() != before)
    }

    /// Gives up `n` more keys to rebalance. Keys the group was never shown
    /// are returned to be unclaimed at once (and forgotten); listed ones are
    /// marked and wait for their release. Returns (unclaim now, changed).
    pub(super) fn shed(&mut self, n: usize) -> (Vec<String>, bool) {
        // Keys being shed that the group no longer holds (a value that did
        // not decode was never started): nothing to wait for.
        let mut now: Vec<String> = self
            .owned
            .iter()
            .filter(|(k, c)| c.shedding && !self.listed.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &now {
            self.owned.remove(k);
            self.releasing.insert(k.clone());
        }
        let mut changed = false;
        let candidates: Vec<String> = self
            .owned
            .iter()
            .rev()
            .filter(|(_, c)| !c.shedding)
            .map(|(k, _)| k.clone())
            .collect();
        // Unlisted keys first: they cost no child a restart.
        let (unlisted, listed): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|k| !self.listed.contains(k));
        for k in unlisted.into_iter().chain(listed).take(n) {
            if self.listed.contains(&k) {
                if let Some(c) = self.owned.get_mut(&k) {
                    c.shedding = true;
                    changed = true;
                }
            } else {
                self.owned.remove(&k);
                self.releasing.insert(k.clone());
                now.push(k);
            }
        }
        (now, changed)
    }

    /// Keys being shed, still waiting for their release.
    pub(super) fn shedding(&self) -> usize {
        self.owned.values().filter(|c| c.shedding).count()
    }

    /// Keys not to claim now; drops cool-downs that have ended.
    pub(super) fn cooled(&mut self, now: Instant) -> Vec<String> {
        self.cooling.retain(|_, until| *until > now);
        self.cooling
            .keys()
            .chain(self.releasing.iter())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn serving() -> State {
        let now = Instant::now();
        State {
            session: Some(Session {
                id: "r1".into(),
                at_risk_at: now + Duration::from_secs(10),
                lapse_at: now + Duration::from_secs(20),
            }),
            ..State::default()
        }
    }

    fn row(k: &str, n: u64) -> (String, String, u64) {
        (k.into(), format!("{{\"n\":{n}}}"), 1)
    }

    #[test]
    fn a_listed_key_is_only_given_back_through_release() {
        let mut s = serving();
        assert!(s.apply_mine(vec![row("a", 1), row("b", 1), row("c", 1)]));
        let listed: Vec<_> = s.list().into_iter().map(|r| r.0).collect();
        assert_eq!(listed, ["a", "b", "c"]);
        s.apply_mine(vec![row("a", 1), row("b", 1), row("c", 1), row("d", 1)]);
        // Shedding two: the unlisted `d` goes at once, then one listed key
        // waits for its release.
        let (now, changed) = s.shed(2);
        assert_eq!(now, ["d"]);
        assert!(changed);
        assert_eq!(s.shedding(), 1);
        let listed: Vec<_> = s.list().into_iter().map(|r| r.0).collect();
        assert_eq!(listed, ["a", "b"]);
        // A stale read of this session's rows does not bring `d` back.
        assert!(!s.apply_mine(vec![row("a", 1), row("b", 1), row("c", 1), row("d", 1)]));
        assert!(!s.owned.contains_key("d"));
        assert_eq!(s.release("c").as_deref(), Some("r1"));
        assert!(s.releasing.contains("c") && !s.owned.contains_key("c"));
    }

    #[test]
    fn nothing_is_listed_at_risk_and_a_lost_session_forgets_its_claims() {
        let mut s = serving();
        s.apply_mine(vec![row("a", 1)]);
        s.at_risk = true;
        assert!(s.list().is_empty());
        s.at_risk = false;
        assert_eq!(s.list().len(), 1);
        s.lose_session();
        assert!(s.list().is_empty() && s.owned.is_empty());
        assert_eq!(s.release("a"), None);
        assert!(!s.listed.contains("a"));
    }

    #[test]
    fn a_changed_value_is_a_change_and_a_vanished_row_too() {
        let mut s = serving();
        s.apply_mine(vec![row("a", 1), row("b", 1)]);
        assert!(!s.apply_mine(vec![row("a", 1), row("b", 1)]));
        assert!(s.apply_mine(vec![row("a", 2), row("b", 1)]));
        assert!(s.apply_mine(vec![row("a", 2)]));
        assert_eq!(s.owned.len(), 1);
    }
}
