//! The process group of a command's process: guarded against the
//! supervisor's death, signalled as a whole, and killed when the incarnation
//! ends or is dropped.

use std::io;

/// How long the reaping of a killed guardian may take before it is left to
/// tokio's background reaper.
#[cfg(unix)]
const REAP_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The process group of one incarnation, killed with `SIGKILL` when dropped
/// while still armed: this is what makes an aborted incarnation leave no
/// process behind. On Unix it is led by the incarnation's guardian (see
/// `guardian.rs`), when there is one.
pub(super) struct ProcessGroup {
    #[cfg(unix)]
    pgid: Option<rustix::process::Pid>,
    #[cfg(unix)]
    guardian: Option<tokio::process::Child>,
}

#[cfg(unix)]
impl ProcessGroup {
    /// A new group for an incarnation of `node`, led by a guardian that is
    /// ready by the time this returns (unless this system has no `/bin/sh`).
    /// Dropping the future meanwhile kills the guardian.
    pub(super) async fn guarded(node: &str) -> io::Result<ProcessGroup> {
        let mut group = ProcessGroup {
            pgid: None,
            guardian: None,
        };
        if let Some(mut g) = super::guardian::spawn(node)? {
            let stdout = g.child.stdout.take();
            group.pgid = Some(g.pgid);
            group.guardian = Some(g.child);
            super::guardian::ready(stdout).await?;
        }
        Ok(group)
    }

    /// Makes the program start in this group: the guardian's, or (without a
    /// guardian) a new one that the program leads.
    pub(super) fn join(&self, cmd: &mut tokio::process::Command) {
        cmd.process_group(self.pgid.map_or(0, |p| p.as_raw_nonzero().get()));
    }

    /// The program was spawned: without a guardian, its group is its own.
    pub(super) fn spawned(&mut self, child: &tokio::process::Child) {
        if self.pgid.is_none() {
            self.pgid = child
                .id()
                .and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
        }
    }

    /// Asks every process of the group to terminate (`SIGTERM`; the
    /// guardian ignores it).
    pub(super) fn terminate(&mut self, _child: &mut tokio::process::Child) {
        if let Some(pgid) = self.pgid {
            // ESRCH: the group is already gone, nothing to do.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::TERM);
        }
    }

    /// Kills every process left in the group (`SIGKILL`), the guardian
    /// included, and disarms.
    pub(super) fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }

    /// Resolves if the guardian ends while the group is armed (someone
    /// killed it): the program then runs unguarded. Never resolves without
    /// a guardian, nor twice.
    pub(super) async fn guardian_lost(&mut self) -> io::Result<std::process::ExitStatus> {
        match self.guardian.as_mut() {
            Some(g) => {
                let status = g.wait().await;
                self.guardian = None;
                status
            }
            None => std::future::pending().await,
        }
    }

    /// After [`kill`](Self::kill): waits (briefly) for the guardian to be
    /// reaped, so that no process of this incarnation is left, not even a
    /// zombie. Past the limit, tokio's background reaper takes it over.
    pub(super) async fn reap(&mut self) {
        if let Some(mut g) = self.guardian.take() {
            let _ = tokio::time::timeout(REAP_LIMIT, g.wait()).await;
        }
    }
}

#[cfg(not(unix))]
impl ProcessGroup {
    pub(super) async fn guarded(_node: &str) -> io::Result<ProcessGroup> {
        Ok(ProcessGroup {})
    }

    pub(super) fn join(&self, _cmd: &mut tokio::process::Command) {}

    pub(super) fn spawned(&mut self, _child: &tokio::process::Child) {}

    /// No process groups or `SIGTERM` here: terminate the process itself.
    pub(super) fn terminate(&mut self, child: &mut tokio::process::Child) {
        let _ = child.start_kill();
    }

    /// Nothing to do: `kill_on_drop` ends the process itself.
    pub(super) fn kill(&mut self) {}

    pub(super) async fn guardian_lost(&mut self) -> io::Result<std::process::ExitStatus> {
        std::future::pending().await
    }

    pub(super) async fn reap(&mut self) {}
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
