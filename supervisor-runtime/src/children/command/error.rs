//! [`CommandError`]: why a command's incarnation failed.

use std::fmt;
use std::io;
use std::process::ExitStatus;

/// Why a [`Command`](crate::Command) incarnation failed: the `Err` its node reports.
///
/// ```
/// use supervisor_runtime::CommandError;
/// fn exit_code(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
///     match e.downcast_ref::<CommandError>()? {
///         CommandError::Exited { code, .. } => Some(*code),
///         _ => None,
///     }
/// }
/// # let _ = exit_code;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CommandError {
    /// The process could not be started: program not found, not executable,
    /// bad working directory, or out of resources.
    Spawn {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// The OS error.
        source: io::Error,
    },
    /// The process exited on its own with a non-zero status.
    Exited {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// Its exit status.
        code: i32,
    },
    /// The process was killed by a signal that the supervisor did not send
    /// (Unix).
    Signaled {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// The signal number.
        signal: i32,
        /// Whether a core dump was written.
        core_dumped: bool,
    },
    /// Waiting for the process failed (an OS error; rare).
    Wait {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// The OS error.
        source: io::Error,
    },
    /// The guardian that ends the process if the supervisor dies could not
    /// be started (Unix; out of processes or file descriptors, rare). The
    /// program was not started.
    Guardian {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// The OS error.
        source: io::Error,
    },
    /// The notify socket of a [`ready_when_notified`](crate::Command::ready_when_notified)
    /// command could not be made (a temporary directory that is not
    /// writable, or whose path is too long for a socket address: set
    /// `TMPDIR` to a short, writable directory). The program was not started.
    Notify {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// The OS error, naming the path concerned.
        source: io::Error,
    },
    /// The process reported itself as hung: it sent `WATCHDOG=trigger` by
    /// the notify protocol.
    WatchdogTrigger {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
    },
}

impl CommandError {
    pub(super) fn from_status(program: String, status: ExitStatus) -> Self {
        if let Some(code) = status.code() {
            return CommandError::Exited { program, code };
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return CommandError::Signaled {
                    program,
                    signal,
                    core_dumped: status.core_dumped(),
                };
            }
        }
        // Neither a code nor a signal: report the raw status as best we can.
        CommandError::Exited { program, code: -1 }
    }

    /// The program concerned, as given to [`Command::new`](crate::Command::new).
    pub fn program(&self) -> &str {
        match self {
            CommandError::Spawn { program, .. }
            | CommandError::Exited { program, .. }
            | CommandError::Signaled { program, .. }
            | CommandError::Wait { program, .. }
            | CommandError::Guardian { program, .. }
            | CommandError::Notify { program, .. }
            | CommandError::WatchdogTrigger { program } => program,
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Spawn { program, source } => {
                write!(f, "failed to start `{program}`: {source}")
            }
            CommandError::Exited { program, code } => {
                write!(f, "`{program}` exited with status {code}")
            }
            CommandError::Signaled {
                program,
                signal,
                core_dumped,
            } => {
                write!(f, "`{program}` was killed by signal {signal}")?;
                if let Some(name) = signal_name(*signal) {
                    write!(f, " ({name})")?;
                }
                if *core_dumped {
                    f.write_str(", core dumped")?;
                }
                Ok(())
            }
            CommandError::Wait { program, source } => {
                write!(f, "failed to wait for `{program}`: {source}")
            }
            CommandError::Guardian { program, source } => write!(
                f,
                "failed to start the guardian of `{program}` (the /bin/sh process that ends it \
                 if the supervisor dies), so `{program}` was not started: {source}"
            ),
            CommandError::Notify { program, source } => write!(
                f,
                "failed to make the notify socket of `{program}`, so it was not started \
                 (set TMPDIR to a short, writable directory): {source}"
            ),
            CommandError::WatchdogTrigger { program } => {
                write!(
                    f,
                    "`{program}` reported a watchdog failure (WATCHDOG=trigger)"
                )
            }
        }
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CommandError::Spawn { source, .. }
            | CommandError::Wait { source, .. }
            | CommandError::Guardian { source, .. }
            | CommandError::Notify { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(unix)]
fn signal_name(signal: i32) -> Option<&'static str> {
    use rustix::process::Signal;
    const NAMES: &[(Signal, &str)] = &[
        (Signal::HUP, "SIGHUP"),
        (Signal::INT, "SIGINT"),
        (Signal::QUIT, "SIGQUIT"),
        (Signal::ILL, "SIGILL"),
        (Signal::TRAP, "SIGTRAP"),
        (Signal::ABORT, "SIGABRT"),
        (Signal::BUS, "SIGBUS"),
        (Signal::FPE, "SIGFPE"),
        (Signal::KILL, "SIGKILL"),
        (Signal::USR1, "SIGUSR1"),
        (Signal::SEGV, "SIGSEGV"),
        (Signal::USR2, "SIGUSR2"),
        (Signal::PIPE, "SIGPIPE"),
        (Signal::ALARM, "SIGALRM"),
        (Signal::TERM, "SIGTERM"),
        (Signal::XCPU, "SIGXCPU"),
        (Signal::XFSZ, "SIGXFSZ"),
        (Signal::SYS, "SIGSYS"),
    ];
    NAMES
        .iter()
        .find(|(s, _)| s.as_raw() == signal)
        .map(|(_, name)| *name)
}

#[cfg(not(unix))]
fn signal_name(_signal: i32) -> Option<&'static str> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let e = CommandError::Exited {
            program: "false".into(),
            code: 1,
        };
        assert_eq!(e.to_string(), "`false` exited with status 1");
        let e = CommandError::Spawn {
            program: "nope".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(e.to_string().starts_with("failed to start `nope`: "));
        #[cfg(unix)]
        {
            let e = CommandError::Signaled {
                program: "sleep".into(),
                signal: 9,
                core_dumped: false,
            };
            assert_eq!(e.to_string(), "`sleep` was killed by signal 9 (SIGKILL)");
        }
    }
}
