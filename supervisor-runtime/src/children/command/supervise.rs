//! One incarnation of a command: guard, spawn, watch, stop.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::error::CommandError;
use super::notify::Notice;
use super::output::{pump, Stream};
use super::process::ProcessGroup;
use super::ready::probe;
use super::{Command, Readiness};
use crate::engine::Context;

/// How long output is still read after the process group has ended (only
/// matters when a process that left the group still holds the pipes open).
const DRAIN_LIMIT: Duration = Duration::from_millis(500);

/// What an incarnation tells its node while the process runs.
pub(crate) trait Report {
    /// The process is ready (called at most once).
    fn ready(&self);
    /// A heartbeat (`WATCHDOG=1`).
    fn alive(&self);
    /// The incarnation has failed, whatever the process does next: the node
    /// is asked to stop it.
    fn fail(&self, e: CommandError);
}

impl Report for Context {
    fn ready(&self) {
        self.healthy();
    }

    fn alive(&self) {
        Context::alive(self);
    }

    fn fail(&self, e: CommandError) {
        Context::fail(self, Arc::new(e));
    }
}

#[cfg(unix)]
type NotifySocket = super::notify::NotifySocket;

/// Stands for the notify socket where there is none (not Unix).
#[cfg(not(unix))]
struct NotifySocket;

#[cfg(not(unix))]
impl NotifySocket {
    fn bind() -> std::io::Result<NotifySocket> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the notify protocol needs Unix datagram sockets",
        ))
    }

    fn path(&self) -> &std::path::Path {
        std::path::Path::new("")
    }

    async fn recv(&mut self) -> std::io::Result<Vec<Notice>> {
        std::future::pending().await
    }

    fn drain(&mut self) -> Vec<Notice> {
        Vec::new()
    }
}

impl Command {
    /// Runs the process until it exits. `cancelled` resolving is the stop
    /// request; `report` hears that the process is ready (at most once), its
    /// heartbeats, and a failure it reported. Dropping the returned future
    /// kills the process group.
    pub(crate) async fn supervise(
        &self,
        node: &str,
        cancelled: impl Future<Output = ()>,
        report: &impl Report,
    ) -> Result<(), CommandError> {
        let program = || self.program_name();
        let mut notify = if self.notify {
            Some(NotifySocket::bind().map_err(|source| CommandError::Notify {
                program: program(),
                source,
            })?)
        } else {
            None
        };
        let mut group =
            ProcessGroup::guarded(node)
                .await
                .map_err(|source| CommandError::Guardian {
                    program: program(),
                    source,
                })?;
        let mut cmd = self.to_tokio(notify.as_ref().map(|n| n.path()));
        group.join(&mut cmd);
        let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
            program: program(),
            source,
        })?;
        group.spawned(&child);
        let pid = child.id();
        tracing::debug!(target: "supervisor::command", node, pid, program = %program(), "process started");

        let line_ready = Notify::new();
        let pattern = match &self.ready {
            Readiness::Line(p) => Some(p.as_str()),
            _ => None,
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut pumps = pin!(async {
            tokio::join!(
                pump(stdout, node, Stream::Stdout, pattern, &line_ready),
                pump(stderr, node, Stream::Stderr, pattern, &line_ready),
            )
        });

        let mut pumps_done = false;
        let (status, stopping) = {
            let main = async {
                let mut is_ready = false;
                let mut ready = || {
                    if !std::mem::replace(&mut is_ready, true) {
                        report.ready();
                    }
                };
                let mut cancelled = pin!(cancelled);
                let mut probe = pin!(probe(&self.ready));
                let (mut waiting_line, mut waiting_probe) = match &self.ready {
                    Readiness::Spawned => {
                        ready();
                        (false, false)
                    }
                    Readiness::Line(_) => (true, false),
                    Readiness::Port(_) | Readiness::Tcp(_) => (false, true),
                    Readiness::Notified => (false, false),
                };
                let mut stopping = false;
                loop {
                    tokio::select! {
                        biased;
                        status = child.wait() => break (status, stopping),
                        () = &mut cancelled, if !stopping => {
                            stopping = true;
                            tracing::debug!(target: "supervisor::command", node, pid, "stop requested: terminating the process group");
                            group.terminate(&mut child);
                        }
                        () = line_ready.notified(), if waiting_line => {
                            waiting_line = false;
                            ready();
                        }
                        () = &mut probe, if waiting_probe => {
                            waiting_probe = false;
                            ready();
                        }
                        notices = recv(&mut notify) => match notices {
                            Ok(notices) => {
                                for n in notices {
                                    match n {
                                        Notice::Ready if matches!(self.ready, Readiness::Notified) => ready(),
                                        Notice::Watchdog => report.alive(),
                                        Notice::WatchdogTrigger => {
                                            tracing::warn!(target: "supervisor::command", node, pid, "the process reports a watchdog failure (WATCHDOG=trigger)");
                                            report.fail(CommandError::WatchdogTrigger { program: program() });
                                        }
                                        n => log_notice(node, n),
                                    }
                                }
                            }
                            Err(e) => {
                                // Not expected from a bound datagram socket; stop listening
                                // rather than spin on the error.
                                tracing::warn!(target: "supervisor::command", node, error = %e, "reading the notify socket failed; notifications are no longer read");
                                notify = None;
                            }
                        },
                        lost = group.guardian_lost() => {
                            let status = lost.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                            tracing::warn!(target: "supervisor::command", node, pid, %status, "the guardian of this process ended: the process now survives the supervisor's death");
                        }
                    }
                }
            };
            let mut main = pin!(main);
            loop {
                tokio::select! {
                    r = &mut main => break r,
                    _ = &mut pumps, if !pumps_done => pumps_done = true,
                }
            }
        };
        // The program is gone: end whatever is left of its group (the
        // guardian included), so that the pipes close and no stray process
        // outlives the incarnation.
        group.kill();
        group.reap().await;
        // Messages sent just before the exit are queued already: log them.
        if let Some(mut n) = notify.take() {
            for notice in n.drain() {
                if !matches!(
                    notice,
                    Notice::Ready | Notice::Watchdog | Notice::WatchdogTrigger
                ) {
                    log_notice(node, notice);
                }
            }
        }
        if !pumps_done {
            let _ = tokio::time::timeout(DRAIN_LIMIT, pumps).await;
        }

        let status = status.map_err(|source| CommandError::Wait {
            program: program(),
            source,
        })?;
        tracing::debug!(target: "supervisor::command", node, pid, %status, "process exited");
        if stopping || status.success() {
            return Ok(());
        }
        Err(CommandError::from_status(program(), status))
    }
}

/// The next message of the notify socket; never, without one.
async fn recv(notify: &mut Option<NotifySocket>) -> std::io::Result<Vec<Notice>> {
    match notify {
        Some(n) => n.recv().await,
        None => std::future::pending().await,
    }
}

/// What the node only logs.
fn log_notice(node: &str, n: Notice) {
    match n {
        Notice::Status(s) => {
            tracing::info!(target: "supervisor::command", node, notify = "STATUS", "{s}")
        }
        Notice::Stopping => {
            tracing::info!(target: "supervisor::command", node, notify = "STOPPING", "the process is stopping")
        }
        Notice::Reloading => {
            tracing::info!(target: "supervisor::command", node, notify = "RELOADING", "the process is reloading")
        }
        Notice::Errno(e) => {
            tracing::info!(target: "supervisor::command", node, notify = "ERRNO", "the process reports error number {e}")
        }
        Notice::Ready => {
            tracing::debug!(target: "supervisor::command", node, notify = "READY", "READY=1 ignored: this command's readiness is not notified")
        }
        Notice::Ignored(line) => {
            tracing::debug!(target: "supervisor::command", node, notify = "ignored", "unsupported notify message ignored: {line}")
        }
        Notice::Watchdog | Notice::WatchdogTrigger => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Default)]
    struct Heard {
        ready: AtomicBool,
    }

    impl Report for Heard {
        fn ready(&self) {
            self.ready.store(true, Ordering::SeqCst);
        }
        fn alive(&self) {}
        fn fail(&self, _: CommandError) {}
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn supervise_stops_on_cancel() {
        let token = tokio_util::sync::CancellationToken::new();
        let cmd = Command::new("sleep").arg("1000");
        let heard = Heard::default();
        let fut = cmd.supervise("t", token.cancelled(), &heard);
        token.cancel();
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .expect("sleep stops on SIGTERM")
            .expect("a requested stop is Ok");
        assert!(heard.ready.load(Ordering::SeqCst));
    }
}
