//! The process group of a command's process: signalled as a whole, and
//! killed when the incarnation ends or is dropped.

/// The child's process group, killed with `SIGKILL` when dropped while still
/// armed: this is what makes an aborted incarnation leave no process behind.
pub(super) struct ProcessGroup {
    #[cfg(unix)]
    pgid: Option<rustix::process::Pid>,
}

#[cfg(unix)]
impl ProcessGroup {
    pub(super) fn new(child: &tokio::process::Child) -> Self {
        // `process_group(0)` made the child the leader of a group whose id is its pid.
        let pgid = child
            .id()
            .and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
        ProcessGroup { pgid }
    }

    /// Asks every process of the group to terminate (`SIGTERM`).
    pub(super) fn terminate(&mut self, _child: &mut tokio::process::Child) {
        if let Some(pgid) = self.pgid {
            // ESRCH: the group is already gone, nothing to do.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::TERM);
        }
    }

    /// Kills every process left in the group (`SIGKILL`) and disarms.
    pub(super) fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(not(unix))]
impl ProcessGroup {
    pub(super) fn new(_child: &tokio::process::Child) -> Self {
        ProcessGroup {}
    }

    /// No process groups or `SIGTERM` here: terminate the process itself.
    pub(super) fn terminate(&mut self, child: &mut tokio::process::Child) {
        let _ = child.start_kill();
    }

    /// Nothing to do: `kill_on_drop` ends the process itself.
    pub(super) fn kill(&mut self) {}
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
