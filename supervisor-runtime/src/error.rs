//! Errors: what the library returns, and the two errors a child may return to
//! steer its supervisor ([`DoNotRestart`], [`StopTree`]).

use std::fmt;
use std::sync::Arc;

use crate::observe::report::ShutdownReport;

/// The error type children return, boxed: anything that converts into it can be
/// the `E` of a child's `Result<(), E>`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error shared between an [`Event`](crate::Event), a snapshot and the
/// error chain of [`Error`].
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong; see [`Error::kind`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A node name breaks the name rule (1–64 characters of `[a-z0-9_-]`;
    /// static names in a tree also exclude `-`).
    InvalidName,
    /// Two siblings share a name, or a dynamic key is already live.
    DuplicateName,
    /// An `after` edge names no sibling, the node itself, or forms a cycle;
    /// or a tree is otherwise malformed.
    InvalidTree,
    /// The root group exceeded its restart intensity; [`Error::node`] names the
    /// child whose failure crossed the limit.
    GaveUp,
    /// A child returned [`StopTree`].
    StopTree,
    /// The node or tree is shutting down or has ended: nothing new is started.
    ShuttingDown,
    /// A [`Token`](crate::Token) of another dynamic group was passed.
    ForeignToken,
    /// The shutdown had to abort tasks, or could not stop some at all; the
    /// report is in [`Error::report`].
    Unclean,
    /// A signal handler could not be installed.
    Signal,
    /// A child panicked under `Tree::propagate_panics(true)`; the panic
    /// itself was resumed by the first `join()`.
    Panicked,
    /// A [`Table`](crate::Table)'s storage could not be opened, read or
    /// written; [`source()`](std::error::Error::source) is the table's own
    /// error, which says which file or table and what to do.
    Table,
}

/// The library's error: a kind, the node it concerns, and the cause as its
/// [`source()`](std::error::Error::source).
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    node: Option<String>,
    message: String,
    source: Option<SharedError>,
    report: Option<ShutdownReport>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, node: Option<String>, message: impl Into<String>) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                node,
                message: message.into(),
                source: None,
                report: None,
            }),
        }
    }

    pub(crate) fn with_source(self, source: SharedError) -> Self {
        self.map(|i| i.source = Some(source))
    }

    pub(crate) fn with_report(self, report: ShutdownReport) -> Self {
        self.map(|i| i.report = Some(report))
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|arc| Inner {
            kind: arc.kind.clone(),
            node: arc.node.clone(),
            message: arc.message.clone(),
            source: arc.source.clone(),
            report: arc.report.clone(),
        });
        f(&mut inner);
        Error {
            inner: Arc::new(inner),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind.clone()
    }

    /// The distinguished name of the node concerned, when there is one
    /// (for [`ErrorKind::GaveUp`], the child whose failure crossed the limit).
    pub fn node(&self) -> Option<&str> {
        self.inner.node.as_deref()
    }

    /// The shutdown report, for [`ErrorKind::Unclean`].
    pub fn report(&self) -> Option<&ShutdownReport> {
        self.inner.report.as_ref()
    }

    /// The [`StopTree`] a child returned, for [`ErrorKind::StopTree`].
    pub fn stop_tree(&self) -> Option<&StopTree> {
        self.inner
            .source
            .as_deref()
            .and_then(|e| e.downcast_ref::<StopTree>())
    }

    /// An error of a table's storage ([`ErrorKind::Table`]): its message is
    /// `cause`'s, and `cause` is its [`source()`](std::error::Error::source).
    /// The tables of `supervisor::tables` convert their errors with this,
    /// so that `?` works in a function returning this `Error`.
    ///
    /// ```
    /// use supervisor_runtime::{Error, ErrorKind};
    /// let e = Error::table("cannot open `jobs.db`: it is not a table of supervisor");
    /// assert_eq!(e.kind(), ErrorKind::Table);
    /// assert!(e.to_string().starts_with("cannot open `jobs.db`"));
    /// ```
    pub fn table(cause: impl Into<BoxError>) -> Self {
        let cause: BoxError = cause.into();
        Error::new(ErrorKind::Table, None, cause.to_string()).with_source(Arc::from(cause))
    }

    pub(crate) fn invalid_name(name: &str, why: &str) -> Self {
        Error::new(
            ErrorKind::InvalidName,
            None,
            format!("invalid node name `{name}`: {why}; names are 1–64 characters of `a-z`, `0-9`, `_` and `-`"),
        )
    }

    pub(crate) fn shutting_down(node: &str) -> Self {
        Error::new(
            ErrorKind::ShuttingDown,
            Some(node.to_owned()),
            format!("`{node}` is stopping or has ended; nothing new is started under it"),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(node) = &self.inner.node {
            d.field("node", node);
        }
        d.field("message", &self.inner.message);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Return this (as the `Err` of a child) to end the child for good: it is
/// classified as *done* and not restarted, whatever its restart type.
///
/// ```
/// use supervisor_runtime::DoNotRestart;
/// let e = DoNotRestart::new("configuration says this worker is disabled");
/// assert_eq!(e.to_string(), "configuration says this worker is disabled");
/// ```
#[derive(Debug)]
pub struct DoNotRestart {
    reason: BoxError,
}

impl DoNotRestart {
    /// Wraps the reason, which is reported in events and snapshots.
    pub fn new(reason: impl Into<BoxError>) -> Self {
        DoNotRestart {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DoNotRestart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.reason, f)
    }
}

impl std::error::Error for DoNotRestart {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.reason.source()
    }
}

/// Return this (as the `Err` of a child) to shut the whole tree down:
/// `join()` then returns an [`Error`] of kind [`ErrorKind::StopTree`] carrying it.
///
/// ```
/// use supervisor_runtime::StopTree;
/// let e = StopTree::new("license expired");
/// assert_eq!(e.to_string(), "license expired");
/// ```
#[derive(Debug)]
pub struct StopTree {
    reason: BoxError,
}

impl StopTree {
    /// Wraps the reason the tree stops for.
    pub fn new(reason: impl Into<BoxError>) -> Self {
        StopTree {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for StopTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.reason, f)
    }
}

impl std::error::Error for StopTree {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.reason.source()
    }
}

/// A panic of a child, caught and kept as an error.
#[derive(Debug, Clone)]
pub struct PanicError {
    message: String,
}

impl PanicError {
    pub(crate) fn new(message: String) -> Self {
        PanicError { message }
    }

    /// The panic's message (`"<non-string panic payload>"` when it had none).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl std::error::Error for PanicError {}

/// A message as an error (used for the library's own failure reasons).
#[derive(Debug, Clone)]
pub(crate) struct Reason(pub(crate) String);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reason {}
