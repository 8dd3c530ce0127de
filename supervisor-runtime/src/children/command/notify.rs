//! The systemd notify protocol, spoken by a command's process to its node:
//! a private datagram socket per incarnation, and the messages it carries.
//!
//! A message is one datagram of newline-separated `KEY=VALUE` assignments
//! (`READY=1\nSTATUS=serving`), as `sd_notify(3)` sends it. Credentials and
//! file descriptors passed along with a message are not looked at.

#[cfg(unix)]
use std::io;
#[cfg(unix)]
use std::path::{Path, PathBuf};

/// The variables of the supervisor's own systemd service, which a command
/// never inherits (they speak for the supervising process).
pub(super) const INHERITED: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Longest message read; the rest of a longer datagram is cut (systemd
/// itself reads at most this much).
const MAX_MESSAGE: usize = 4096;

/// One assignment of a notify message that the node acts on.
#[derive(Debug, PartialEq)]
pub(super) enum Notice {
    /// `READY=1`: the program is up.
    Ready,
    /// `WATCHDOG=1`: a heartbeat.
    Watchdog,
    /// `WATCHDOG=trigger`: the program reports itself as hung.
    WatchdogTrigger,
    /// `STATUS=...`: a line of status for humans.
    Status(String),
    /// `STOPPING=1`: the program is shutting down.
    Stopping,
    /// `RELOADING=1`: the program is reloading its configuration.
    Reloading,
    /// `ERRNO=...`: the program reports an error number.
    Errno(String),
    /// Anything else (`MAINPID=`, `FDSTORE=`, `EXTEND_TIMEOUT_USEC=`, ...):
    /// not supported, logged at debug level.
    Ignored(String),
}

/// Parses one datagram. Invalid UTF-8 is replaced; empty lines are skipped.
pub(super) fn parse(datagram: &[u8]) -> Vec<Notice> {
    String::from_utf8_lossy(datagram)
        .split('\n')
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once('=') {
            Some(("READY", "1")) => Notice::Ready,
            Some(("WATCHDOG", "1")) => Notice::Watchdog,
            Some(("WATCHDOG", "trigger")) => Notice::WatchdogTrigger,
            Some(("STATUS", s)) => Notice::Status(s.to_owned()),
            Some(("STOPPING", "1")) => Notice::Stopping,
            Some(("RELOADING", "1")) => Notice::Reloading,
            Some(("ERRNO", e)) => Notice::Errno(e.to_owned()),
            _ => Notice::Ignored(line.to_owned()),
        })
        .collect()
}

/// The socket one incarnation's process sends its notifications to: bound
/// in a directory of its own (mode 0700) under the temporary directory;
/// both are removed when this is dropped.
#[cfg(unix)]
pub(super) struct NotifySocket {
    sock: tokio::net::UnixDatagram,
    dir: PathBuf,
    path: PathBuf,
    buf: Vec<u8>,
}

#[cfg(unix)]
impl NotifySocket {
    /// Makes the directory and binds the socket.
    pub(super) fn bind() -> io::Result<NotifySocket> {
        use std::os::unix::fs::DirBuilderExt;

        let base = std::env::temp_dir();
        let mut attempts = 0;
        let dir = loop {
            let dir = base.join(format!(
                "supervisor-notify-{}-{:08x}",
                std::process::id(),
                fastrand::u32(..)
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
                Err(e) => return Err(with_path(e, &dir)),
            }
        };
        let path = dir.join("notify");
        match tokio::net::UnixDatagram::bind(&path) {
            Ok(sock) => Ok(NotifySocket {
                sock,
                dir,
                path,
                buf: vec![0; MAX_MESSAGE],
            }),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(with_path(e, &path))
            }
        }
    }

    /// Where the process sends its messages: its `NOTIFY_SOCKET`.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The next message's assignments.
    pub(super) async fn recv(&mut self) -> io::Result<Vec<Notice>> {
        let n = self.sock.recv(&mut self.buf).await?;
        Ok(parse(&self.buf[..n]))
    }

    /// The assignments of every message already queued, without waiting:
    /// what a process sent just before it exited.
    pub(super) fn drain(&mut self) -> Vec<Notice> {
        use std::os::fd::AsFd;
        // Read through a plain handle on the same (non-blocking) socket:
        // tokio's `try_recv` does not even try until its event loop has seen
        // the socket readable, and it may not have yet.
        let mut all = Vec::new();
        let Ok(fd) = self.sock.as_fd().try_clone_to_owned() else {
            return all;
        };
        let sock = std::os::unix::net::UnixDatagram::from(fd);
        while let Ok(n) = sock.recv(&mut self.buf) {
            all.extend(parse(&self.buf[..n]));
        }
        all
    }
}

#[cfg(unix)]
impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// An error that names the path it is about (a temporary directory that is
/// not writable, a path too long for a socket address).
#[cfg(unix)]
fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_assignments_of_one_datagram() {
        let got = parse(b"READY=1\nSTATUS=serving 3 clients\nWATCHDOG=1\n\nMAINPID=42\nWATCHDOG=trigger\nSTOPPING=1\nRELOADING=1\nERRNO=2\nREADY=0\njunk");
        assert_eq!(
            got,
            [
                Notice::Ready,
                Notice::Status("serving 3 clients".into()),
                Notice::Watchdog,
                Notice::Ignored("MAINPID=42".into()),
                Notice::WatchdogTrigger,
                Notice::Stopping,
                Notice::Reloading,
                Notice::Errno("2".into()),
                Notice::Ignored("READY=0".into()),
                Notice::Ignored("junk".into()),
            ]
        );
        assert_eq!(
            parse(b"STATUS=caf\xc3\xa9 \xff"),
            [Notice::Status("café \u{fffd}".into())]
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_socket_receives_and_cleans_up_after_itself() {
        let mut sock = NotifySocket::bind().unwrap();
        let path = sock.path().to_owned();
        let dir = path.parent().unwrap().to_owned();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "a private directory");
        let peer = std::os::unix::net::UnixDatagram::unbound().unwrap();
        peer.send_to(b"READY=1\nSTATUS=up", &path).unwrap();
        assert_eq!(
            sock.recv().await.unwrap(),
            [Notice::Ready, Notice::Status("up".into())]
        );
        drop(sock);
        assert!(!path.exists() && !dir.exists());
    }
}
