//! [`Command`]: a supervised OS process.
//!
//! Run through the [`Runnable`] implementation of [`Command`]: start a
//! guardian, spawn the program in its process group, forward output to
//! tracing, probe readiness (or listen for notify messages), stop with
//! `SIGTERM`, kill the group with `SIGKILL` when aborted.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the builder and what it documents |
//! | `supervise.rs` | one incarnation: guard, spawn, watch, stop |
//! | `guardian.rs` | what ends the processes when the supervisor dies (design note there) |
//! | `process.rs` | the process group, signalled and killed as a whole |
//! | `notify.rs` | the systemd notify protocol, spoken by the process to its node |
//! | `output.rs` | output lines as tracing events, the readiness line |
//! | `ready.rs` | TCP readiness probes |
//! | `error.rs` | [`CommandError`] |

mod error;
#[cfg(unix)]
mod guardian;
mod notify;
mod output;
mod process;
mod ready;
mod supervise;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::task::JoinHandle;

pub use self::error::CommandError;
use crate::engine::{Context, Runnable};
use crate::error::BoxError;

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
/// - **Its own process group** (Unix). The process runs in a new process
///   group, and every signal the supervisor sends goes to the whole group,
///   so a grandchild (a worker the program forked, a pipeline started by a
///   wrapper script) is stopped along with it.
/// - **No orphans, even when the supervisor is killed** (Unix). Each
///   incarnation has a *guardian*: a small `/bin/sh` process that leads the
///   process group and waits on a pipe that only the supervising process
///   holds open. When the supervising process ends, by any means,
///   `SIGKILL` and crashes included, the kernel closes the pipe and the
///   guardian kills the whole group with `SIGKILL`: no process of the
///   command is left holding a port or a file. On Linux this is tested: every
///   process is gone well within a second of the supervisor's death. The
///   mechanism is plain POSIX (a pipe, a process group, `kill`), so it holds
///   the same way on the BSDs and macOS, where it is not tested. The
///   guardian ignores `SIGTERM`, `SIGINT`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`,
///   `SIGUSR2`, `SIGALRM` and `SIGPIPE` sent to the group, and ends with it
///   when the incarnation ends. What it costs: one more process per running
///   command (`ps` shows it as `/bin/sh -c … supervisor-guardian <node>`),
///   a few hundred KiB, and one more file descriptor in the supervisor (its
///   pidfd, on Linux); two file descriptors for the whole supervising
///   process (the pipe).
///
///   Where the guarantee does **not** hold: processes that leave the
///   process group on purpose (`setsid`, `setpgid`; daemonizing) are reached
///   neither by a stop nor by the guardian, so run programs in their
///   foreground mode; a system without `/bin/sh` (a distroless image) runs
///   commands without guardians, and says so once in a warning (in a
///   container whose init is the supervisor or `tini`, the kernel ends every
///   process of the container with it anyway); a process that the supervisor
///   forks *without* `exec` keeps the pipe open for as long as it lives; and
///   on Windows there is no guardian at all (`kill_on_drop` only).
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
///   50 ms), [`Command::ready_when_notified`] for the program to send
///   `READY=1` by the systemd notify protocol. Combine with the node's
///   `start_timeout` to fail a process that never becomes ready.
/// - **Environment.** The process inherits the supervisor's environment,
///   except the supervisor's own systemd variables (`NOTIFY_SOCKET`,
///   `WATCHDOG_USEC`, `WATCHDOG_PID`): they speak for the supervising
///   process, and a program that used them would tell systemd about the
///   whole service. Set them with [`env`](Command::env) to pass them on
///   anyway.
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
/// # The notify protocol
///
/// A program written for systemd (`Type=notify`, `sd_notify(3)`) can tell
/// its node when it is ready and that it is alive, with
/// [`ready_when_notified`](Command::ready_when_notified) (and
/// [`notify_watchdog`](Command::notify_watchdog)). Each incarnation then
/// gets its own Unix datagram socket, bound in a private directory (mode
/// 0700) of the temporary directory and removed when the incarnation ends;
/// the process finds it in `NOTIFY_SOCKET`. What the node does with each
/// assignment:
///
/// | sent | effect |
/// |---|---|
/// | `READY=1` | the node is healthy (with `ready_when_notified`; later ones, e.g. after a reload, are ignored) |
/// | `WATCHDOG=1` | a heartbeat: [`Context::alive`], which feeds the node's `watchdog(timeout)` |
/// | `WATCHDOG=trigger` | the incarnation fails at once ([`CommandError::WatchdogTrigger`]) |
/// | `STATUS=…` | an `INFO` event with the text as message, fields `node` and `notify = "STATUS"` |
/// | `STOPPING=1`, `RELOADING=1`, `ERRNO=…` | an `INFO` event (`notify = "STOPPING"`, ...) |
/// | anything else | a `DEBUG` event: `MAINPID=`, `FDSTORE=`, `EXTEND_TIMEOUT_USEC=`, `BARRIER=1` and the rest are not supported |
///
/// Not supported: credentials (any process that can reach the socket may
/// send; only the supervisor's user can, through the directory's mode),
/// passing file descriptors, and a process running as another user (it
/// cannot reach the socket). Messages longer than 4 KiB are cut. If the
/// supervisor is killed, the incarnation's directory is left behind in the
/// temporary directory (`supervisor-notify-<pid>-<random>`).
///
/// ```no_run
/// use std::time::Duration;
/// use supervisor_runtime::{Child, Command, Group};
///
/// # async fn demo() -> Result<(), supervisor_runtime::Error> {
/// let heartbeat = Duration::from_secs(10);
/// let db = Command::new("/usr/lib/postgresql/16/bin/postgres")
///     .args(["-D", "/var/lib/postgresql/16/main"])
///     .ready_when_notified()
///     .notify_watchdog(heartbeat);
/// Group::sequential("app")
///     .child(Child::new("db", db).watchdog(heartbeat))
///     .build()?
///     .run()
///     .await
/// # }
/// ```
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
    /// Each incarnation gets a notify socket.
    notify: bool,
    /// Passed as `WATCHDOG_USEC`.
    notify_watchdog: Option<Duration>,
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
    /// When the process sends `READY=1` to its notify socket.
    Notified,
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
            notify: false,
            notify_watchdog: None,
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

    /// Reports the node healthy when the process sends `READY=1` by the
    /// systemd notify protocol, instead of as soon as it is spawned. Each
    /// incarnation's process finds its own socket in `NOTIFY_SOCKET`; its
    /// `WATCHDOG=1` messages feed the node's watchdog and its `STATUS=`
    /// lines are logged. See [the notify protocol](Command#the-notify-protocol)
    /// for what else is and is not supported.
    ///
    /// ```
    /// use supervisor_runtime::Command;
    /// let daemon = Command::new("my-daemon").arg("--foreground").ready_when_notified();
    /// # drop(daemon);
    /// ```
    pub fn ready_when_notified(mut self) -> Self {
        self.ready = Readiness::Notified;
        self.notify = true;
        self
    }

    /// Tells the process, through `WATCHDOG_USEC`, that it must send
    /// `WATCHDOG=1` at least every `timeout` (programs written for systemd
    /// then ping at half that). Gives the process a notify socket as
    /// [`ready_when_notified`](Command::ready_when_notified) does, without
    /// changing how readiness is decided.
    ///
    /// A command cannot see its node's options: what *enforces* the
    /// heartbeat is the node's `watchdog(timeout)`, so give both the same
    /// duration. `WATCHDOG_PID` is not set (the process id is not known
    /// before the start), so processes that the program starts inherit the
    /// variables too. A zero `timeout` passes nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor_runtime::{Child, Command};
    /// let d = Duration::from_secs(5);
    /// let child = Child::new(
    ///     "daemon",
    ///     Command::new("my-daemon").ready_when_notified().notify_watchdog(d),
    /// )
    /// .watchdog(d);
    /// # drop(child);
    /// ```
    pub fn notify_watchdog(mut self, timeout: Duration) -> Self {
        self.notify = true;
        self.notify_watchdog = Some(timeout);
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

    /// The tokio command for one incarnation; `notify` is the incarnation's
    /// notify socket, if it has one.
    fn to_tokio(&self, notify: Option<&Path>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        // The supervisor's own service variables are never passed on.
        for var in notify::INHERITED {
            cmd.env_remove(var);
        }
        if let Some(path) = notify {
            cmd.env("NOTIFY_SOCKET", path);
            if let Some(d) = self.notify_watchdog.filter(|d| !d.is_zero()) {
                cmd.env("WATCHDOG_USEC", d.as_micros().to_string());
            }
        }
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
        cmd
    }

    /// One incarnation: spawn, watch, stop on cancellation.
    async fn run(self, ctx: Context) -> Result<(), BoxError> {
        if ctx.is_cancelled() {
            return Ok(());
        }
        self.supervise(ctx.name(), ctx.cancelled(), &ctx)
            .await
            .map_err(Into::into)
    }
}

impl crate::engine::Sealed for Command {}

impl Runnable for Command {
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        crate::engine::spawn_incarnation(ctx, |ctx| {
            let me = self.clone();
            async move { me.run(ctx).await }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn envs(cmd: &tokio::process::Command) -> HashMap<String, Option<String>> {
        cmd.as_std()
            .get_envs()
            .map(|(k, v)| {
                let s = |x: &OsStr| x.to_string_lossy().into_owned();
                (s(k), v.map(s))
            })
            .collect()
    }

    #[test]
    fn the_supervisors_own_systemd_variables_are_not_passed_on() {
        let plain = Command::new("x").env("WATCHDOG_PID", "7").to_tokio(None);
        let e = envs(&plain);
        assert_eq!(e["NOTIFY_SOCKET"], None, "removed");
        assert_eq!(e["WATCHDOG_USEC"], None, "removed");
        assert_eq!(e["WATCHDOG_PID"].as_deref(), Some("7"), "set explicitly");

        let notified = Command::new("x")
            .ready_when_notified()
            .notify_watchdog(Duration::from_millis(1500));
        let e = envs(&notified.to_tokio(Some(Path::new("/run/x/notify"))));
        assert_eq!(e["NOTIFY_SOCKET"].as_deref(), Some("/run/x/notify"));
        assert_eq!(e["WATCHDOG_USEC"].as_deref(), Some("1500000"));
        assert_eq!(e["WATCHDOG_PID"], None);

        let zero = Command::new("x").notify_watchdog(Duration::ZERO);
        let e = envs(&zero.to_tokio(Some(Path::new("/s"))));
        assert_eq!(e["WATCHDOG_USEC"], None, "a zero timeout passes nothing");
    }
}
