//! The guardian: what ends a command's processes when the supervising
//! process itself dies, by any means, `SIGKILL` included.
//!
//! # Design note
//!
//! Stopping a node ends its process group (`SIGTERM`, then `SIGKILL`), but
//! that needs the supervisor to be alive. When the supervisor is killed, the
//! kernel closes its file descriptors and nothing else: the command's
//! processes are reparented and keep running (holding their ports, their
//! files). Something that outlives the supervisor must end them.
//!
//! **The lifeline.** The supervising process makes one pipe, once, and keeps
//! both ends open for as long as it lives; both are close-on-exec, so no
//! program it starts inherits them. Nobody ever writes to it: its read end
//! reaches end of file exactly when the last copy of the write end is
//! closed, that is when the supervising process has ended (every copy of its
//! file table is gone).
//!
//! **One guardian per incarnation.** Before the program starts, a guardian
//! is started: `/bin/sh` running a three-line script, whose stdin is the
//! read end of the lifeline. It is the leader of a new process group, and the
//! command's process then joins that group (`setpgid`), so everything the
//! program forks is in it too. The guardian ignores the signals a process
//! group is commonly sent (`SIGTERM`, `SIGINT`, `SIGHUP`, ...; `SIGKILL`
//! cannot be ignored), says it is ready by writing one byte, and waits for
//! end of file on its stdin. When that comes, it sends `SIGKILL` to its own
//! process group: the program, every process the program started that stayed
//! in the group, and the guardian itself, at once.
//!
//! The supervisor starts the program only after the guardian's byte arrived,
//! so there is no moment where the program runs unguarded, and none where a
//! stop's `SIGTERM` could reach a guardian that does not ignore it yet. When
//! the incarnation ends normally, the final `SIGKILL` to the group ends the
//! guardian along with the rest, and the supervisor reaps it.
//!
//! Because the guardian stays in the group until that last `SIGKILL`, the
//! group's id (the guardian's pid) cannot be reused by the system while the
//! supervisor may still signal it.
//!
//! **Why a shell and not a process forked from the supervisor.** A process
//! forked without `exec` shares the supervisor's memory copy-on-write: every
//! page the supervisor writes afterwards is duplicated, and the guardian
//! keeps the old copy, so each guardian would slowly pin a snapshot of the
//! whole supervisor (and it could only make raw system calls, the supervisor
//! being multi-threaded). An `exec`ed `/bin/sh` costs a few hundred KiB of
//! its own, needs no `unsafe` code, works the same on every Unix, and leaves
//! the program a direct child of the supervisor, so its exit status and
//! signals are seen exactly as before.
//!
//! **Limits.** Processes that leave the group on purpose (`setsid`,
//! `setpgid`: daemonizing) are not reached, neither by a stop nor by the
//! guardian. A process the supervisor forks *without* `exec` keeps a copy of
//! the write end, and while it lives the guardians are not released. Without
//! `/bin/sh` (a distroless image), commands run unguarded; a warning says so
//! once. (In a container whose init is the supervisor, or `tini`, the kernel
//! ends every process of the container with it anyway.)

use std::io;
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// The guardian's interpreter, by absolute path: neither `PATH` nor the
/// command's environment matter.
const SHELL: &str = "/bin/sh";

/// The guardian's script: ignore what a process group is commonly sent, say
/// "ready", wait for end of file on stdin (the lifeline), kill the group.
const SCRIPT: &str = "trap '' HUP INT QUIT TERM USR1 USR2 ALRM PIPE; echo; \
                      while read -r _; do :; done; kill -s KILL 0";

/// How long a guardian may take to say it is ready.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// The lifeline's two ends, kept open until this process ends.
struct Lifeline {
    read: OwnedFd,
    /// Never written to, never closed: its closing by the kernel is the message.
    _write: OwnedFd,
}

fn lifeline() -> io::Result<&'static Lifeline> {
    static LIFELINE: OnceLock<Lifeline> = OnceLock::new();
    if let Some(l) = LIFELINE.get() {
        return Ok(l);
    }
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // Two threads may race here: the loser's pipe is closed at once, unused.
    let _ = LIFELINE.set(Lifeline {
        read,
        _write: write,
    });
    Ok(LIFELINE.get().expect("set above"))
}

/// A running guardian, leader of the process group it guards.
pub(super) struct Guardian {
    pub(super) child: tokio::process::Child,
    pub(super) pgid: rustix::process::Pid,
}

/// Spawns the guardian of an incarnation of `node` (not yet known to be
/// ready: see [`ready`]). `None` when there is no `/bin/sh` here.
pub(super) fn spawn(node: &str) -> io::Result<Option<Guardian>> {
    let lifeline = lifeline()?;
    let mut cmd = tokio::process::Command::new(SHELL);
    // `$0` and `$1` only show in `ps`: which node this process guards.
    cmd.args(["-c", SCRIPT, "supervisor-guardian", node])
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::from(lifeline.read.try_clone()?))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            warn_unavailable(&e);
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let pgid = child
        .id()
        .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
        .ok_or_else(|| io::Error::other("the guardian has no process id"))?;
    Ok(Some(Guardian { child, pgid }))
}

/// Waits until the guardian said it is ready (its handlers are in place).
pub(super) async fn ready(stdout: Option<tokio::process::ChildStdout>) -> io::Result<()> {
    let Some(mut out) = stdout else {
        return Err(io::Error::other("the guardian has no stdout"));
    };
    let mut byte = [0u8; 1];
    match tokio::time::timeout(READY_LIMIT, out.read(&mut byte)).await {
        Ok(Ok(1)) => Ok(()),
        Ok(Ok(_)) => Err(io::Error::other("the guardian ended before it was ready")),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the guardian was not ready within {READY_LIMIT:?}"),
        )),
    }
}

fn warn_unavailable(e: &io::Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "supervisor::command",
            error = %e,
            "cannot start {SHELL}: commands run without a guardian, and their processes \
             survive if this supervisor is killed (SIGKILL); install a shell to get the guarantee"
        );
    }
}
