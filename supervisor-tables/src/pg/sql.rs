//! The SQL of a [`PgTable`](super::PgTable): schema and statements, for one
//! table name.

use crate::error::{Error, ErrorKind};

/// The comment that marks a table as ours (and its schema version).
pub(super) const MARK: &str = "supervisor table v1";

/// Every statement, with the table names filled in.
#[derive(Debug)]
pub(super) struct Sql {
    pub(super) table: String,
    pub(super) schema: String,
    pub(super) check_ours: String,
    pub(super) register: String,
    pub(super) renew: String,
    pub(super) reap: String,
    pub(super) counts: String,
    pub(super) mine: String,
    pub(super) claim: String,
    pub(super) unclaim: String,
    pub(super) deregister: String,
    pub(super) insert: String,
    pub(super) remove: String,
    pub(super) listen: String,
}

/// Checks a table name: a plain lowercase SQL identifier, short enough for
/// the suffixes of its companion objects.
pub(super) fn check_table_name(t: &str) -> Result<(), Error> {
    let ok = !t.is_empty()
        && t.len() <= 40
        && t.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Config,
            format!(
                "table name {t:?} is not valid: use 1-40 characters of a-z, 0-9 and `_`, \
                 not starting with a digit (it is also used for `{t}_replicas`)"
            ),
        ))
    }
}

impl Sql {
    pub(super) fn new(t: &str) -> Sql {
        let r = format!("{t}_replicas");
        Sql {
            table: t.to_owned(),
            schema: format!(
                r#"
CREATE TABLE {t} (
    key        text PRIMARY KEY CHECK (key ~ '^[a-z0-9_-]{{1,64}}$'),
    value      jsonb NOT NULL,
    owner      text,
    epoch      bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX {t}_owner ON {t} (owner);
COMMENT ON TABLE {t} IS '{MARK}';
COMMENT ON COLUMN {t}.key IS 'the key of a child: 1-64 characters of [a-z0-9_-]';
COMMENT ON COLUMN {t}.value IS 'its value, as JSON';
COMMENT ON COLUMN {t}.owner IS 'the replica that runs it ({r}.id), NULL when free';
COMMENT ON COLUMN {t}.epoch IS 'fencing epoch: grows by one at every claim';
CREATE TABLE {r} (
    id          text PRIMARY KEY,
    lease_until timestamptz NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {r} IS 'live replicas of {t}: a replica owns its keys while now() < lease_until';
CREATE FUNCTION {t}_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{t}', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER {t}_changed AFTER INSERT OR DELETE ON {t}
    FOR EACH ROW EXECUTE FUNCTION {t}_notify();
CREATE TRIGGER {t}_updated AFTER UPDATE ON {t}
    FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value OR NEW.owner IS NULL
                       OR OLD.key IS DISTINCT FROM NEW.key)
    EXECUTE FUNCTION {t}_notify();
CREATE TRIGGER {t}_truncated AFTER TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION {t}_notify();
CREATE TRIGGER {r}_changed AFTER INSERT OR DELETE ON {r}
    FOR EACH ROW EXECUTE FUNCTION {t}_notify();
"#
            ),
            // NULL: no such table; otherwise its comment.
            check_ours: format!(
                "SELECT CASE WHEN to_regclass('{t}') IS NULL THEN NULL
                        ELSE coalesce(obj_description(to_regclass('{t}'), 'pg_class'), '') END,
                        to_regclass('{r}') IS NOT NULL"
            ),
            register: format!(
                "INSERT INTO {r} (id, lease_until) VALUES ($1, now() + $2::float8 * interval '1 second')"
            ),
            // One statement per replica per interval: renews this replica's
            // lease (only if it has not lapsed) and says how many replicas
            // are live and lapsed.
            renew: format!(
                "WITH renewed AS (
                     UPDATE {r} SET lease_until = now() + $2::float8 * interval '1 second'
                     WHERE id = $1 AND lease_until > now()
                     RETURNING id)
                 SELECT (SELECT count(*) FROM renewed),
                        (SELECT count(*) FROM {r} WHERE lease_until > now()),
                        (SELECT count(*) FROM {r} WHERE lease_until <= now())"
            ),
            reap: format!("DELETE FROM {r} WHERE lease_until <= now()"),
            counts: format!(
                "SELECT (SELECT count(*) FROM {t}),
                        (SELECT count(*) FROM {r} WHERE lease_until > now())"
            ),
            mine: format!("SELECT key, value::text, epoch FROM {t} WHERE owner = $1"),
            // Free keys: no owner, or an owner whose lease has lapsed.
            // SKIP LOCKED lets replicas claim at the same time without
            // waiting on each other; the row lock re-checks the condition.
            claim: format!(
                "UPDATE {t} SET owner = $1, epoch = {t}.epoch + 1
                 FROM (SELECT c.key FROM {t} c
                       WHERE (c.owner IS NULL
                              OR NOT EXISTS (SELECT 1 FROM {r}
                                             WHERE {r}.id = c.owner AND {r}.lease_until > now()))
                         AND NOT (c.key = ANY($3::text[]))
                       ORDER BY c.key
                       LIMIT $2
                       FOR UPDATE OF c SKIP LOCKED) free
                 WHERE {t}.key = free.key
                   AND EXISTS (SELECT 1 FROM {r} WHERE id = $1 AND lease_until > now())
                 RETURNING {t}.key, {t}.value::text, {t}.epoch"
            ),
            unclaim: format!(
                "UPDATE {t} SET owner = NULL WHERE owner = $1 AND key = ANY($2::text[])"
            ),
            deregister: format!(
                "WITH gone AS (DELETE FROM {r} WHERE id = $1)
                 UPDATE {t} SET owner = NULL WHERE owner = $1"
            ),
            insert: format!(
                "INSERT INTO {t} (key, value) VALUES ($1, $2::text::jsonb)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()"
            ),
            remove: format!("DELETE FROM {t} WHERE key = $1"),
            listen: format!("LISTEN \"{t}\""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        assert!(check_table_name("supervisor_keys").is_ok());
        assert!(check_table_name("_t9").is_ok());
        for bad in ["", "9t", "Keys", "a-b", "a.b", "a;drop", &"t".repeat(41)] {
            let e = check_table_name(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad:?}");
        }
    }
}
