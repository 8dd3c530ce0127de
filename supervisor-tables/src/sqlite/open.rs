//! Opening a table file: inspect it without writing, refuse what is not
//! ours, then set it up; and SQLite's errors in our words.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{SqliteSettings, APPLICATION_ID, SCHEMA, SCHEMA_VERSION};
use crate::error::{Error, ErrorKind};

/// The file's change counter as this connection sees it: it moves when
/// another connection commits.
pub(super) fn data_version(c: &Connection, path: &Path) -> Result<i64, Error> {
    c.query_row("PRAGMA data_version", [], |r| r.get(0))
        .map_err(|e| sql_error(path, "read", e))
}

pub(super) fn connect(
    path: &Path,
    s: &SqliteSettings,
    flags: OpenFlags,
) -> Result<Connection, Error> {
    let c = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| sql_error(path, "open", e))?;
    c.busy_timeout(s.busy_timeout)
        .map_err(|e| sql_error(path, "open", e))?;
    Ok(c)
}

/// What a file holds, read without writing to it.
struct Inspection {
    application_id: i32,
    user_version: i32,
    objects: i64,
    has_entries: bool,
}

fn inspect(c: &Connection) -> rusqlite::Result<Inspection> {
    Ok(Inspection {
        application_id: c.query_row("PRAGMA application_id", [], |r| r.get(0))?,
        user_version: c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
        objects: c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?,
        has_entries: c.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'entries'",
            [],
            |r| r.get::<_, i64>(0),
        )? > 0,
    })
}

/// Refuses a file that is not ours, newer than us, or damaged.
fn judge(path: &Path, i: &Inspection) -> Result<(), Error> {
    let fresh = i.application_id == 0 && i.objects == 0;
    if fresh {
        return Ok(());
    }
    if i.application_id != APPLICATION_ID {
        return Err(Error::new(
            ErrorKind::NotOurs,
            format!(
                "{} is a SQLite database of another program (application_id {:#x}, {} schema objects), \
                 not a supervisor table; it was left untouched: choose another file for the table",
                path.display(),
                i.application_id,
                i.objects
            ),
        ));
    }
    if i.user_version > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::NotOurs,
            format!(
                "{} is a supervisor table of schema version {}, newer than this version knows ({}); \
                 it was left untouched: upgrade the program, or use another file",
                path.display(),
                i.user_version,
                SCHEMA_VERSION
            ),
        ));
    }
    Ok(())
}

/// Opens `path`, checks that it is ours (or empty) before writing anything,
/// then sets it up: WAL, `synchronous = FULL`, the schema.
pub(super) fn open_checked(path: &Path, s: &SqliteSettings) -> Result<Connection, Error> {
    if path.is_dir() {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "{} is a directory; give the path of a file for the table",
                path.display()
            ),
        ));
    }
    let c = connect(
        path,
        s,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    let first = inspect(&c).map_err(|e| sql_error(path, "open", e))?;
    judge(path, &first)?;
    if !(first.application_id == 0 && first.objects == 0) {
        let verdict: String = c
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
            .map_err(|e| sql_error(path, "check", e))?;
        if verdict != "ok" {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "{} is damaged (SQLite's quick_check says: {verdict}); it was left untouched: \
                     restore it from a backup, or try `sqlite3 {} .recover`",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    // Only now write: WAL mode (kept in the file), then the schema in one
    // transaction that checks again under the write lock.
    let mode: String = c
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| sql_error(path, "set up", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::new(
            ErrorKind::Database,
            format!(
                "{} cannot use write-ahead logging (journal mode stays {mode}); \
                 put the table on a local file system",
                path.display()
            ),
        ));
    }
    c.execute_batch("PRAGMA synchronous = FULL")
        .map_err(|e| sql_error(path, "set up", e))?;
    let setup = || -> Result<(), Error> {
        c.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sql_error(path, "set up", e))?;
        let again = inspect(&c).map_err(|e| sql_error(path, "set up", e))?;
        judge(path, &again)?;
        if !again.has_entries || again.application_id == 0 {
            c.execute_batch(&format!(
                "{SCHEMA}; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(|e| sql_error(path, "create the schema in", e))?;
        }
        c.execute_batch("COMMIT")
            .map_err(|e| sql_error(path, "set up", e))
    };
    if let Err(e) = setup() {
        let _ = c.execute_batch("ROLLBACK");
        return Err(e);
    }
    Ok(c)
}

/// A SQLite error as ours: the file, what we were doing, what to do.
pub(super) fn sql_error(path: &Path, doing: &str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let p = path.display();
    let (kind, message) = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => (
            ErrorKind::Locked,
            format!(
                "could not {doing} {p}: another process holds a lock on it; \
                 stop that process (or end its open transaction) and try again"
            ),
        ),
        Some(C::NotADatabase) => (
            ErrorKind::NotOurs,
            format!(
                "could not {doing} {p}: it is not a SQLite database (or is encrypted); \
                 it was left untouched: choose another file for the table"
            ),
        ),
        Some(C::DatabaseCorrupt) => (
            ErrorKind::Corrupt,
            format!(
                "could not {doing} {p}: the file is damaged; it was left untouched: \
                 restore it from a backup, or try `sqlite3 {p} .recover`"
            ),
        ),
        Some(C::CannotOpen | C::PermissionDenied | C::ReadOnly) => (
            ErrorKind::Database,
            format!(
                "could not {doing} {p}: check that its directory exists and that this \
                 process may read and write both"
            ),
        ),
        _ => (ErrorKind::Database, format!("could not {doing} {p}: {e}")),
    };
    Error::new(kind, message).with_source(e)
}
