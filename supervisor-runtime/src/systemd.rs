//! A tree under systemd (feature `systemd`): what
//! [`Tree::run_until_signal`](crate::Tree::run_until_signal) tells the
//! service manager through `NOTIFY_SOCKET` (`sd_notify(3)`).
//!
//! - `READY=1` once the root is first healthy (for `Type=notify` units: the
//!   unit is *active* when the whole tree is up, not when the process
//!   starts).
//! - `STATUS=` lines that `systemctl status` shows: `12 nodes healthy`,
//!   `app.db failed: connection refused, restarting in 2s; 11 of 12 nodes
//!   healthy`. At most one per second (the latest wins), and only when the
//!   text changes.
//! - `STOPPING=1` as soon as the shutdown begins (a signal, or the tree
//!   ending by itself).
//! - `WATCHDOG=1` every half of `WATCHDOG_USEC` (when `WatchdogSec=` is set
//!   and `WATCHDOG_PID` is unset or this process), but only while the root
//!   is healthy: before the root is first healthy, and once it has failed,
//!   systemd's watchdog is left to run out. A child restarting under its
//!   group does not stop the pings (the tree is handling it); a stalled
//!   runtime does.
//!
//! `NOTIFY_SOCKET` may be a path or, on Linux, an abstract name (`@...`);
//! other kinds (`vsock:`) are not supported: a `WARN` event says so.
//! The variables are left in the environment (changing the environment of
//! a running multi-threaded process is not sound); commands do not inherit
//! them (see [`Command`](crate::Command)). Without `NOTIFY_SOCKET` nothing is
//! done at all, and without the feature none of this is compiled.
//!
//! Written with std's `UnixDatagram` (the protocol is one datagram of
//! `KEY=VALUE` lines) rather than a crate: nothing else is needed.

use std::io;
use std::os::unix::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::observe::event::Event;
use crate::observe::state::NodeState;
use crate::TreeHandle;

/// At most one `STATUS=` per this long (apart from the ones that go with
/// `READY=1` and `STOPPING=1`).
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Where the service manager listens, and the socket this process sends
/// from.
pub(crate) struct Target {
    addr: SocketAddr,
    sock: std::os::unix::net::UnixDatagram,
}

impl Target {
    /// The address in `NOTIFY_SOCKET`'s syntax: an absolute path, or `@name`
    /// for an abstract socket (Linux).
    pub(crate) fn parse(s: &std::ffi::OsStr) -> io::Result<Target> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = s.as_bytes();
        let addr = match bytes.first() {
            Some(b'/') => SocketAddr::from_pathname(s)?,
            #[cfg(target_os = "linux")]
            Some(b'@') => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(&bytes[1..])?
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "unsupported NOTIFY_SOCKET {s:?}: only paths and (on Linux) @abstract names"
                    ),
                ))
            }
        };
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        // Never wait for the service manager: a full queue drops the message.
        sock.set_nonblocking(true)?;
        Ok(Target { addr, sock })
    }

    /// Sends one message. Not connected: every message finds the socket
    /// again by its address, so a re-executed systemd still gets it.
    fn send(&self, msg: &str) {
        if let Err(e) = self.sock.send_to_addr(msg.as_bytes(), &self.addr) {
            tracing::debug!(target: "supervisor::systemd", error = %e, "sending to NOTIFY_SOCKET failed");
        }
    }
}

/// Follows a running tree and tells systemd about it, until the shutdown
/// begins. Dropping it stops following (and says `STOPPING=1` if that was
/// not said yet).
pub(crate) struct Notifier {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// What the follower task and its [`Notifier`] share.
struct Shared {
    target: Target,
    stopping_sent: AtomicBool,
}

impl Shared {
    /// `STOPPING=1`, once.
    fn stopping(&self) {
        if !self.stopping_sent.swap(true, Ordering::AcqRel) {
            self.target.send("STOPPING=1\nSTATUS=stopping");
        }
    }
}

impl Notifier {
    /// Under systemd (`NOTIFY_SOCKET` set), starts following `handle`.
    pub(crate) fn from_env(handle: &TreeHandle) -> Option<Notifier> {
        let socket = std::env::var_os("NOTIFY_SOCKET")?;
        let target = match Target::parse(&socket) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(target: "supervisor::systemd", error = %e, "not telling systemd about the tree");
                return None;
            }
        };
        let watchdog = watchdog_from(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        Some(Notifier::start(handle, target, watchdog))
    }

    /// Starts following `handle`, telling `target`; `watchdog` is the
    /// interval systemd asks for (pings go at half of it).
    pub(crate) fn start(
        handle: &TreeHandle,
        target: Target,
        watchdog: Option<Duration>,
    ) -> Notifier {
        let shared = Arc::new(Shared {
            target,
            stopping_sent: AtomicBool::new(false),
        });
        // Subscribe before the first look at the tree: nothing is missed.
        let events = handle.subscribe();
        let follower = Follower {
            handle: handle.clone(),
            shared: shared.clone(),
        };
        let task = tokio::spawn(follower.run(events, watchdog));
        Notifier { shared, task }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.stopping();
    }
}

/// The watchdog interval systemd asks this process for, if any.
fn watchdog_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec = usec?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(me) {
            return None; // meant for another process
        }
    }
    match usec.trim().parse::<u64>() {
        Ok(0) => None,
        Ok(us) => Some(Duration::from_micros(us)),
        Err(_) => {
            tracing::warn!(target: "supervisor::systemd", value = usec, "WATCHDOG_USEC is not a number of microseconds; no watchdog pings");
            None
        }
    }
}

struct Follower {
    handle: TreeHandle,
    shared: Arc<Shared>,
}

impl Follower {
    async fn run(
        self,
        mut events: tokio::sync::broadcast::Receiver<Event>,
        watchdog: Option<Duration>,
    ) {
        let token = self.handle.token();
        let Some(root) = self
            .handle
            .snapshot()
            .nodes()
            .first()
            .map(|n| n.name.clone())
        else {
            return; // no tree: it failed to build
        };
        let mut root_state = self.root_state(&root);
        let mut status = Status::default();
        let mut ready_sent = false;
        let mut ping = watchdog.map(|d| {
            let mut i = tokio::time::interval((d / 2).max(Duration::from_millis(1)));
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        loop {
            if !ready_sent && root_state == NodeState::Healthy {
                ready_sent = true;
                let text = status.compose(&self.handle);
                self.send(&format!("READY=1\nSTATUS={text}"));
                status.sent(text);
            }
            let due = status.due();
            tokio::select! {
                biased;
                () = token.cancelled() => break,
                e = events.recv() => match e {
                    Ok(e) => {
                        if e.name == root {
                            root_state = e.state;
                        }
                        status.note(&e);
                    }
                    Err(RecvError::Lagged(_)) => {
                        root_state = self.root_state(&root);
                        status.dirty = true;
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = tick(&mut ping), if root_state == NodeState::Healthy => {
                    self.send("WATCHDOG=1");
                }
                () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    let text = status.compose(&self.handle);
                    if status.last.as_deref() != Some(text.as_str()) {
                        self.send(&format!("STATUS={text}"));
                    }
                    status.sent(text);
                }
            }
        }
        self.shared.stopping();
    }

    fn send(&self, msg: &str) {
        self.shared.target.send(msg);
    }

    fn root_state(&self, root: &str) -> NodeState {
        self.handle
            .snapshot()
            .node(root)
            .map_or(NodeState::Stopped, |n| n.state)
    }
}

async fn tick(ping: &mut Option<tokio::time::Interval>) {
    match ping {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The `STATUS=` line: what changed, rate-limited.
#[derive(Default)]
struct Status {
    /// Something changed since the last line.
    dirty: bool,
    /// The latest failure, while its node has not recovered.
    failure: Option<(String, String)>,
    last: Option<String>,
    last_at: Option<Instant>,
}

impl Status {
    fn note(&mut self, e: &Event) {
        self.dirty = true;
        let ours = |f: &Option<(String, String)>| f.as_ref().is_some_and(|(n, _)| *n == e.name);
        match (e.state, &e.error) {
            (NodeState::Backoff | NodeState::Failed, Some(err)) => {
                let text = match e.delay {
                    Some(d) => format!("{} failed: {err}, restarting in {d:?}", e.name),
                    None => format!("{} failed: {err}", e.name),
                };
                self.failure = Some((e.name.clone(), text));
            }
            // Recovered.
            (NodeState::Healthy | NodeState::Done, _) if ours(&self.failure) => {
                self.failure = None;
            }
            _ => {}
        }
    }

    /// When the next line may go, if one is owed.
    fn due(&self) -> Option<Instant> {
        if !self.dirty {
            return None;
        }
        Some(self.last_at.map_or_else(Instant::now, |t| t + STATUS_EVERY))
    }

    fn sent(&mut self, text: String) {
        self.dirty = false;
        self.last = Some(text);
        self.last_at = Some(Instant::now());
    }

    /// The line for the tree as it is now.
    fn compose(&self, handle: &TreeHandle) -> String {
        let snap = handle.snapshot();
        // Nodes that ended for good without failing are not counted.
        let live = snap
            .nodes()
            .iter()
            .filter(|n| n.state != NodeState::Stopped);
        let (mut up, mut total) = (0, 0);
        for n in live {
            total += 1;
            if matches!(n.state, NodeState::Healthy | NodeState::Done) {
                up += 1;
            }
        }
        let count = if up == total {
            format!("{total} nodes healthy")
        } else {
            format!("{up} of {total} nodes healthy")
        };
        match &self.failure {
            Some((_, f)) => format!("{f}; {count}"),
            None => count,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against a real Unix datagram socket standing for systemd's, on a
    //! paused clock: the follower's timers are virtual, its datagrams real.

    use std::path::PathBuf;
    use std::sync::atomic::AtomicU32;

    use tokio::sync::Notify;

    use super::*;
    use crate::{Backoff, Child, Context, Group, Intensity};

    /// Stands for systemd's notify socket.
    struct Listener {
        sock: tokio::net::UnixDatagram,
        dir: PathBuf,
        t0: Instant,
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    impl Listener {
        fn new() -> (Listener, Target) {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "supervisor-systemd-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("notify");
            let sock = tokio::net::UnixDatagram::bind(&path).unwrap();
            let target = Target::parse(path.as_os_str()).unwrap();
            let t0 = Instant::now();
            (Listener { sock, dir, t0 }, target)
        }

        /// The next message and when it came (since the listener was
        /// made), if one comes within `within`.
        async fn next(&mut self, within: Duration) -> Option<(Duration, String)> {
            let mut buf = vec![0u8; 4096];
            let n = tokio::time::timeout(within, self.sock.recv(&mut buf))
                .await
                .ok()?
                .unwrap();
            let at = self.t0.elapsed();
            Some((at, String::from_utf8(buf[..n].to_vec()).unwrap()))
        }

        /// Every message that comes until nothing has come for `quiet`.
        async fn until_quiet(&mut self, quiet: Duration) -> Vec<(Duration, String)> {
            let mut all = Vec::new();
            while let Some(m) = self.next(quiet).await {
                all.push(m);
            }
            all
        }
    }

    const S: Duration = Duration::from_secs(1);

    /// Healthy once the gate opens.
    fn gated(
        gate: Arc<Notify>,
    ) -> impl Fn(Context) -> crate::engine::BoxFuture<'static, Result<(), std::io::Error>> + Send + Sync
    {
        move |ctx: Context| {
            let gate = gate.clone();
            Box::pin(async move {
                gate.notified().await;
                ctx.healthy();
                ctx.cancelled().await;
                Ok(())
            })
        }
    }

    async fn idle(ctx: Context) -> Result<(), std::io::Error> {
        ctx.healthy();
        ctx.cancelled().await;
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn ready_once_the_root_is_healthy_then_pings_at_half_the_interval_then_stopping() {
        let gate = Arc::new(Notify::new());
        let tree = Group::parallel("app")
            .child(Child::new("db", idle))
            .child(Child::new("slow", gated(gate.clone())))
            .build()
            .unwrap();
        let (mut systemd, target) = Listener::new();
        let handle = tree.start();
        let _notifier = Notifier::start(&handle, target, Some(2 * S));

        // Thirty seconds without a healthy root: no READY=1, no WATCHDOG=1.
        let before = systemd.until_quiet(30 * S).await;
        for (at, msg) in &before {
            assert!(
                msg.starts_with("STATUS=") && !msg.contains("READY") && !msg.contains("WATCHDOG"),
                "{msg:?} at {at:?}, before the root was healthy"
            );
        }
        let ready_at = systemd.t0.elapsed();
        gate.notify_one();
        // A STATUS= of the way up may come first, no WATCHDOG=1.
        let (at, msg) = loop {
            let (at, msg) = systemd.next(S).await.expect("READY=1");
            if !msg.starts_with("STATUS=") {
                break (at, msg);
            }
        };
        assert_eq!(at, ready_at);
        assert_eq!(msg, "READY=1\nSTATUS=3 nodes healthy");

        // WATCHDOG=1 every second (half of 2 s) from then on.
        let mut pings = Vec::new();
        while pings.len() < 10 {
            let (at, msg) = systemd.next(2 * S).await.expect("a ping");
            assert_eq!(msg, "WATCHDOG=1", "at {at:?}");
            pings.push(at);
        }
        for (k, at) in pings.iter().enumerate() {
            assert_eq!(*at, ready_at + S * k as u32, "{pings:?}");
        }

        // The shutdown: STOPPING=1 at once, then silence.
        let stop = tokio::spawn({
            let handle = handle.clone();
            async move { handle.shutdown().await }
        });
        let stop_at = systemd.t0.elapsed();
        let (at, msg) = systemd.next(S).await.expect("STOPPING=1");
        assert_eq!((at, msg.as_str()), (stop_at, "STOPPING=1\nSTATUS=stopping"));
        assert!(stop.await.unwrap().is_clean());
        assert_eq!(systemd.until_quiet(60 * S).await, []);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_root_gets_no_more_pings() {
        // The root gives up at the first failure, 5 s after the start.
        let tree = Group::parallel("app")
            .intensity(Intensity::new(0, S))
            .child(Child::new("w", |ctx: Context| async move {
                ctx.healthy();
                ctx.sleep(5 * S).await;
                Err::<(), _>(std::io::Error::other("disk full"))
            }))
            .build()
            .unwrap();
        let (mut systemd, target) = Listener::new();
        let handle = tree.start();
        let _notifier = Notifier::start(&handle, target, Some(2 * S));
        let all = systemd.until_quiet(60 * S).await;
        let pings: Vec<Duration> = all
            .iter()
            .filter(|(_, m)| m == "WATCHDOG=1")
            .map(|(at, _)| *at)
            .collect();
        // Every second while healthy; the one due at 5 s races the failure.
        let k = pings.len() as u32;
        assert!((5..=6).contains(&k), "{all:?}");
        assert_eq!(pings, (0..k).map(|k| S * k).collect::<Vec<_>>(), "{all:?}");
        let (at, last) = all.last().unwrap();
        assert_eq!(
            (*at, last.as_str()),
            (5 * S, "STOPPING=1\nSTATUS=stopping"),
            "{all:?}"
        );
        assert!(handle.join().await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn status_says_what_failed_at_most_once_a_second() {
        // Fails every 100 ms of running, restarts after 200 ms: a change
        // every 150 ms on average.
        let tree = Group::parallel("app")
            .intensity(Intensity::Unlimited)
            .child(Child::new("db", idle))
            .child(
                Child::new("flaky", |ctx: Context| async move {
                    ctx.healthy();
                    ctx.sleep(Duration::from_millis(100)).await;
                    Err::<(), _>(std::io::Error::other("boom"))
                })
                .backoff(Backoff::Fixed(Duration::from_millis(200))),
            )
            .build()
            .unwrap();
        let (mut systemd, target) = Listener::new();
        let handle = tree.start();
        let _notifier = Notifier::start(&handle, target, None);
        let mut statuses = Vec::new();
        while let Some((at, msg)) = systemd.next(5 * S).await {
            if at > 20 * S {
                break;
            }
            assert!(!msg.contains("WATCHDOG"), "no watchdog was asked for");
            if let Some(text) = msg.strip_prefix("STATUS=") {
                statuses.push((at, text.to_owned()));
            }
        }
        assert!(statuses.len() >= 5, "{statuses:?}");
        for pair in statuses.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= S, "rate limit: {pair:?}");
            assert_ne!(pair[0].1, pair[1].1, "only changes: {pair:?}");
        }
        assert!(
            statuses
                .iter()
                .any(|(_, t)| t.starts_with("app.flaky failed: boom, restarting in 200ms; ")),
            "{statuses:?}"
        );
        handle.shutdown().await;
    }

    #[test]
    fn the_watchdog_interval_comes_from_the_environment() {
        let me = 4242;
        assert_eq!(watchdog_from(Some("2000000"), None, me), Some(2 * S));
        assert_eq!(watchdog_from(Some("500000"), Some("4242"), me), Some(S / 2));
        assert_eq!(
            watchdog_from(Some("500000"), Some("17"), me),
            None,
            "another process's"
        );
        assert_eq!(watchdog_from(Some("0"), None, me), None);
        assert_eq!(watchdog_from(Some("soon"), None, me), None);
        assert_eq!(watchdog_from(None, Some("4242"), me), None);
    }

    #[test]
    fn notify_socket_addresses() {
        use std::ffi::OsStr;
        assert!(Target::parse(OsStr::new("/run/systemd/notify")).is_ok());
        for bad in ["vsock:2:1234", "run/relative", ""] {
            let e = Target::parse(OsStr::new(bad)).err().expect(bad);
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{bad}: {e}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_abstract_socket_is_reached() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("supervisor-systemd-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let systemd = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        let target = Target::parse(std::ffi::OsStr::new(&format!("@{name}"))).unwrap();
        target.send("READY=1");
        let mut buf = [0u8; 64];
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
