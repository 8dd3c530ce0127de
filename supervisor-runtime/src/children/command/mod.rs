//! [`Command`]: a supervised OS process.
//!
//! Run through the [`Runnable`] implementation of [`Command`]: spawn in a
//! process group, forward output to tracing, probe readiness, stop with
//! `SIGTERM`, kill the group with `SIGKILL` when aborted.

mod error;
mod output;
mod process;
mod ready;

use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::AbortHandle;

pub use self::error::CommandError;
use self::output::{pump, Stream};
use self::process::ProcessGroup;
use self::ready::probe;
use crate::engine::{Context, Runnable};
use crate::error::BoxError;

/// How long output is still read after the process group has ended (only
/// matters when a process that left the group still holds the pipes open).
const DRAIN_LIMIT: Duration = Duration::from_millis(500);

/// A supervised OS process: a program, its arguments, environment and working
/// directory, and when it counts as ready.
///
/// A by-value builder: every method takes and returns the `Command`. It is
/// [`Clone`], and each incarnation of its node starts a fresh process from
/// the same description. It is a [`Runnable`] that runs the program as a
/// child process, once per incarnation of its node:
///
/// - **No shell.** The program is started directly with the arguments exactly
///   as given (through [`tokio::process::Command`]); nothing is split, globbed
///   or expanded. Write `Command::new("sh").arg("-c").arg("…")` when you do
///   want a shell.
/// - **Its own process group** (Unix). The child is the leader of a new
///   process group, and every signal the supervisor sends goes to the whole
///   group, so a grandchild (a worker the program forked, a pipeline started
///   by a wrapper script) is stopped along with it.
/// - **Output as tracing events.** Each line the process writes on stdout
///   becomes an `INFO` event and each line on stderr a `WARN` event, with
///   target `supervisor::command` and the fields `node` (the node's
///   distinguished name) and `stream` (`"stdout"` or `"stderr"`); the line is
///   the event's message. Invalid UTF-8 is replaced, a trailing `\r` is
///   removed, and a line longer than 16 KiB is cut into several events.
///   Stdin is connected to `/dev/null`.
/// - **Readiness.** By default the node is healthy as soon as the process has
///   been spawned. [`Command::ready_when_line`] waits for an output line
///   containing a substring instead, [`Command::ready_when_port`] and
///   [`Command::ready_when_tcp`] for a TCP connection to succeed (tried every
///   50 ms). Combine with the node's `start_timeout` to fail a process that
///   never becomes ready.
/// - **Stopping.** When the node is asked to stop, the process group gets
///   `SIGTERM` and the process is given until the node's `shutdown` timeout
///   to exit. If it has not exited by then, the supervisor aborts the
///   incarnation and the whole process group gets `SIGKILL`: nothing
///   survives. (`shutdown(brutal)` therefore means `SIGKILL` at once.)
///   Whenever the process exits, whatever is left of its process group is
///   killed with `SIGKILL` too: a supervised program must not daemonize or
///   leave background processes behind.
/// - **Exit status.** Exit status 0 ends the incarnation with `Ok(())` (an
///   *exit*: a permanent child is restarted, a transient one is not). Any
///   other status, or death by a signal the supervisor did not send, is a
///   failure whose error is a [`CommandError`] describing it. Once the node
///   was asked to stop, however the process then exits is a normal stop and
///   the incarnation returns `Ok(())`. A program that cannot be started (not
///   found, not executable, bad working directory) is a failure too, and its
///   error names the program and carries the OS error.
///
/// On Windows there are no process groups and no `SIGTERM`: a stop request
/// terminates the process at once (`TerminateProcess`), as does an abort.
///
/// ```no_run
/// use std::time::Duration;
/// use supervisor_runtime::{Child, Command, Group, Shutdown};
///
/// # async fn demo() -> Result<(), supervisor_runtime::Error> {
/// let redis = Command::new("redis-server")
///     .arg("--port")
///     .arg("6380")
///     .env("REDIS_LOG_LEVEL", "notice")
///     .ready_when_port(6380);
/// let tree = Group::parallel("app")
///     .child(Child::new("redis", redis).shutdown(Shutdown::Timeout(Duration::from_secs(30))))
///     .build()?;
/// tree.run().await
/// # }
/// ```
///
/// ```no_run
/// use supervisor_runtime::{Child, Command, Group};
///
/// # async fn demo() -> Result<(), supervisor_runtime::Error> {
/// let worker = Command::new("/usr/local/bin/worker")
///     .args(["--queue", "emails"])
///     .env("RUST_LOG", "info")
///     .current_dir("/srv/worker")
///     .ready_when_line("listening");
/// Group::sequential("app")
///     .child(Child::new("worker", worker))
///     .build()?
///     .run()
///     .await
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a command does nothing until it is run as a child of a tree"]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<EnvOp>,
    current_dir: Option<PathBuf>,
    ready: Readiness,
}

#[derive(Clone, Debug)]
enum EnvOp {
    Set(OsString, OsString),
    Remove(OsString),
    Clear,
}

/// When a [`Command`]'s node reports healthy.
#[derive(Clone, Debug)]
enum Readiness {
    /// As soon as the process is spawned.
    Spawned,
    /// When a stdout or stderr line contains this substring.
    Line(String),
    /// When a TCP connection to this port on the loopback interface succeeds.
    Port(u16),
    /// When a TCP connection to this `host:port` succeeds.
    Tcp(String),
}

impl Command {
    /// A command that runs `program`, found through `PATH` unless it contains
    /// a path separator (as [`std::process::Command::new`]). It inherits the
    /// supervisor's environment and working directory, and is healthy as soon
    /// as it is spawned.
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let cmd = Command::new("sleep").arg("1000");
    /// assert_eq!(cmd.get_program(), "sleep");
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            ready: Readiness::Spawned,
        }
    }

    /// Appends one argument, passed to the program as is (no shell, no
    /// splitting on spaces).
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let cmd = Command::new("echo").arg("two words");
    /// assert_eq!(cmd.get_args().count(), 1);
    /// ```
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends several arguments, each passed as is.
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let cmd = Command::new("redis-server").args(["--port", "6380"]);
    /// assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["--port", "6380"]);
    /// ```
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the process (on top of the
    /// inherited environment, unless [`env_clear`](Command::env_clear) was
    /// called before).
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let cmd = Command::new("worker").env("RUST_LOG", "debug");
    /// # drop(cmd);
    /// ```
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push(EnvOp::Set(
            key.as_ref().to_owned(),
            value.as_ref().to_owned(),
        ));
        self
    }

    /// Sets several environment variables; see [`env`](Command::env).
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let cmd = Command::new("worker").envs([("A", "1"), ("B", "2")]);
    /// # drop(cmd);
    /// ```
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Removes one variable from the environment the process inherits.
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let cmd = Command::new("worker").env_remove("AWS_SECRET_ACCESS_KEY");
    /// # drop(cmd);
    /// ```
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push(EnvOp::Remove(key.as_ref().to_owned()));
        self
    }

    /// Starts the process with an empty environment, apart from the
    /// variables set after this call.
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let cmd = Command::new("/usr/bin/env").env_clear().env("ONLY", "this");
    /// # drop(cmd);
    /// ```
    pub fn env_clear(mut self) -> Self {
        self.env.push(EnvOp::Clear);
        self
    }

    /// Runs the process in `dir` instead of the supervisor's working
    /// directory. A directory that does not exist makes the start fail.
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let cmd = Command::new("ls").current_dir("/tmp");
    /// assert_eq!(cmd.get_current_dir(), Some(std::path::Path::new("/tmp")));
    /// ```
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Reports the node healthy when a line of the process's stdout or stderr
    /// contains `pattern` (a plain substring, not a regular expression),
    /// instead of as soon as it is spawned.
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let pg = Command::new("postgres")
    ///     .args(["-D", "/var/lib/postgresql/data"])
    ///     .ready_when_line("database system is ready to accept connections");
    /// # drop(pg);
    /// ```
    pub fn ready_when_line(mut self, pattern: impl Into<String>) -> Self {
        self.ready = Readiness::Line(pattern.into());
        self
    }

    /// Reports the node healthy once a TCP connection to `port` on the
    /// loopback interface (`127.0.0.1`, then `[::1]`) succeeds, tried every
    /// 50 ms from the moment the process is spawned. The probe connection is
    /// closed at once.
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let redis = Command::new("redis-server").args(["--port", "6380"]).ready_when_port(6380);
    /// # drop(redis);
    /// ```
    pub fn ready_when_port(mut self, port: u16) -> Self {
        self.ready = Readiness::Port(port);
        self
    }

    /// Reports the node healthy once a TCP connection to `addr` succeeds,
    /// tried every 50 ms from the moment the process is spawned. `addr` is
    /// anything that displays as `host:port`: a [`SocketAddr`](std::net::SocketAddr),
    /// `"10.0.0.5:9000"` or `"localhost:8080"` (resolved again on every try).
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use supervisor_runtime::Command;
    /// let a = Command::new("api").ready_when_tcp("localhost:8080");
    /// let b = Command::new("api").ready_when_tcp(SocketAddr::from(([127, 0, 0, 1], 8080)));
    /// # drop((a, b));
    /// ```
    pub fn ready_when_tcp(mut self, addr: impl ToString) -> Self {
        self.ready = Readiness::Tcp(addr.to_string());
        self
    }

    /// The program this command runs.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments, in order.
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The working directory, if one was set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.current_dir.as_deref()
    }

    fn program_name(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    fn to_tokio(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        for op in &self.env {
            match op {
                EnvOp::Set(k, v) => cmd.env(k, v),
                EnvOp::Remove(k) => cmd.env_remove(k),
                EnvOp::Clear => cmd.env_clear(),
            };
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        cmd
    }

    /// One incarnation: spawn, watch, stop on cancellation.
    async fn run(self, ctx: Context) -> Result<(), BoxError> {
        if ctx.is_cancelled() {
            return Ok(());
        }
        self.supervise(ctx.name(), ctx.cancelled(), || ctx.healthy())
            .await
            .map_err(Into::into)
    }

    /// Runs the process until it exits. `cancelled` resolving is the stop
    /// request; `ready` is called (at most once) when the process is ready.
    /// Dropping the returned future kills the process group.
    pub(crate) async fn supervise(
        &self,
        node: &str,
        cancelled: impl Future<Output = ()>,
        ready: impl FnOnce(),
    ) -> Result<(), CommandError> {
        let mut child = self
            .to_tokio()
            .spawn()
            .map_err(|source| CommandError::Spawn {
                program: self.program_name(),
                source,
            })?;
        let mut group = ProcessGroup::new(&child);
        let pid = child.id();
        tracing::debug!(target: "supervisor::command", node, pid, program = %self.program_name(), "process started");

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
                let mut ready = Some(ready);
                let mut cancelled = pin!(cancelled);
                let mut probe = pin!(probe(&self.ready));
                let (mut waiting_line, mut waiting_probe) = match &self.ready {
                    Readiness::Spawned => {
                        if let Some(f) = ready.take() {
                            f();
                        }
                        (false, false)
                    }
                    Readiness::Line(_) => (true, false),
                    Readiness::Port(_) | Readiness::Tcp(_) => (false, true),
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
                            if let Some(f) = ready.take() { f(); }
                        }
                        () = &mut probe, if waiting_probe => {
                            waiting_probe = false;
                            if let Some(f) = ready.take() { f(); }
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
        // The leader is gone: end whatever is left of its group, so that the
        // pipes close and no stray process outlives the incarnation.
        group.kill();
        if !pumps_done {
            let _ = tokio::time::timeout(DRAIN_LIMIT, pumps).await;
        }

        let status = status.map_err(|source| CommandError::Wait {
            program: self.program_name(),
            source,
        })?;
        tracing::debug!(target: "supervisor::command", node, pid, %status, "process exited");
        if stopping || status.success() {
            return Ok(());
        }
        Err(CommandError::from_status(self.program_name(), status))
    }
}

impl crate::engine::Sealed for Command {}

impl Runnable for Command {
    fn __spawn(&self, ctx: Context) -> AbortHandle {
        crate::engine::spawn_incarnation(ctx, |ctx| {
            let me = self.clone();
            async move { me.run(ctx).await }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn supervise_stops_on_cancel() {
        let token = tokio_util::sync::CancellationToken::new();
        let cmd = Command::new("sleep").arg("1000");
        let readied = std::sync::atomic::AtomicBool::new(false);
        let fut = cmd.supervise("t", token.cancelled(), || {
            readied.store(true, std::sync::atomic::Ordering::SeqCst)
        });
        token.cancel();
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .expect("sleep stops on SIGTERM")
            .expect("a requested stop is Ok");
        assert!(readied.load(std::sync::atomic::Ordering::SeqCst));
    }
}
