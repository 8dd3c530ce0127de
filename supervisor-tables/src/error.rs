//! [`Error`]: what opening, reading and writing a table can fail with.

use std::fmt;

use supervisor_runtime::BoxError;

/// What went wrong; see [`Error::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A key breaks the runtime's name rule (1–64 characters of `[a-z0-9_-]`).
    BadKey,
    /// A value could not be encoded as JSON.
    BadValue,
    /// The file or table exists but is not a table of this crate (another
    /// program's database, or a newer schema than this version knows).
    NotOurs,
    /// The file is damaged (or is not a database at all).
    Corrupt,
    /// Another process holds a lock on the file for longer than the busy
    /// timeout.
    Locked,
    /// The database could not be reached or answered with an error.
    Database,
    /// A setting or a name passed in is not valid.
    Config,
}

/// The error of the tables: a kind, a message that names the file or table
/// and says what to do, and the cause as its
/// [`source()`](std::error::Error::source).
///
/// It converts into the runtime's [`BoxError`] with `?` and `.into()`, so a
/// [`Table`](supervisor_runtime::Table) method or a child may return it as
/// it is.
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<BoxError>,
}

impl Error {
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Checks a key against the runtime's name rule: 1–64 characters of
/// `[a-z0-9_-]`. `Err` carries the reason, in words.
pub(crate) fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("it is empty".into());
    }
    if key.len() > 64 {
        return Some(format!("it is {} bytes long (at most 64)", key.len()));
    }
    key.chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
        .map(|c| format!("it contains {c:?}"))
}

/// [`key_problem`] as an [`Error`] of kind [`ErrorKind::BadKey`].
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn check_key(key: &str) -> Result<(), Error> {
    match key_problem(key) {
        None => Ok(()),
        Some(why) => Err(Error::new(
            ErrorKind::BadKey,
            format!(
                "key {key:?} is not valid: {why}; keys are 1-64 characters of a-z, 0-9, `_` and `-`"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_runtime_name_rule() {
        assert!(check_key("eu-1_a").is_ok());
        assert!(check_key(&"a".repeat(64)).is_ok());
        for bad in ["", "Eu", "a.b", "a b", "é", &"a".repeat(65)] {
            let e = check_key(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadKey, "{bad:?}");
            assert!(e.to_string().contains("1-64 characters"), "{e}");
        }
    }
}

/// A table's error as the runtime's error (kind
/// [`Table`](supervisor_runtime::ErrorKind::Table), this error as its
/// source), so that `?` works in a function returning `supervisor::Error`.
impl From<Error> for supervisor_runtime::Error {
    fn from(e: Error) -> Self {
        supervisor_runtime::Error::table(e)
    }
}

#[cfg(test)]
mod conversion_tests {
    use super::*;

    #[test]
    fn converts_into_the_runtime_error_keeping_itself_as_the_source() {
        fn open() -> Result<(), supervisor_runtime::Error> {
            Err(Error::new(
                ErrorKind::NotOurs,
                "`x.db` is not a table of supervisor",
            ))?;
            Ok(())
        }
        let e = open().unwrap_err();
        assert_eq!(e.kind(), supervisor_runtime::ErrorKind::Table);
        assert_eq!(e.to_string(), "`x.db` is not a table of supervisor");
        let source = std::error::Error::source(&e).expect("the table's error");
        let ours = source.downcast_ref::<Error>().expect("kept as it is");
        assert_eq!(ours.kind(), ErrorKind::NotOurs);
    }
}
