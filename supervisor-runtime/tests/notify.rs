//! A `Command` that speaks the systemd notify protocol: `READY=1` makes its
//! node healthy, `WATCHDOG=1` feeds the node's watchdog, `STATUS=` and
//! `STOPPING=1` are logged, `WATCHDOG=trigger` fails it.
//!
//! The program is this test binary, started again to run [`peer`] with a
//! script of steps: it sends real datagrams to the `NOTIFY_SOCKET` its
//! supervisor gave it. Real processes cannot run on paused time, so every
//! wait is on an event (a state change, a log line, a connection); the
//! wall-clock timeouts only guard against a hang.
#![cfg(unix)]

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use supervisor_runtime::{Backoff, Child, Command, Event, Group, NodeState, Restart, TreeHandle};
use tokio::sync::{broadcast, mpsc};

/// The script the peer runs; set only in the peer's process.
const SCRIPT: &str = "SUPERVISOR_TEST_NOTIFY_SCRIPT";
/// Where the peer's `wait-go` step connects.
const GO: &str = "SUPERVISOR_TEST_NOTIFY_GO";

/// Failure guard for anything a test waits on.
const GUARD: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// The peer.

/// The program under supervision, when this binary is started with
/// `SUPERVISOR_TEST_NOTIFY_SCRIPT` (by the tests below); nothing otherwise.
///
/// Steps, separated by `;`: `send:<message>` (one datagram; `\n` written as
/// `|`), `beat:<count>:<ms>` (that many `WATCHDOG=1`, one every `ms`),
/// `print:<line>`, `env` (prints `NOTIFY_SOCKET` and `WATCHDOG_USEC`),
/// `wait-go` (connects to `SUPERVISOR_TEST_NOTIFY_GO`, reads one byte),
/// `exit:<code>`, `sleep` (until killed).
#[test]
#[ignore = "the notify-speaking program: started by the other tests of this file"]
fn peer() {
    let Ok(script) = std::env::var(SCRIPT) else {
        return;
    };
    let socket = std::env::var_os("NOTIFY_SOCKET").expect("NOTIFY_SOCKET is set");
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    let send = |msg: &str| {
        sock.send_to(msg.replace('|', "\n").as_bytes(), &socket)
            .expect("the notify socket accepts");
    };
    let mut out = std::io::stdout();
    for step in script.split(';') {
        let (verb, arg) = step.split_once(':').unwrap_or((step, ""));
        match verb {
            "send" => send(arg),
            "beat" => {
                let (count, ms) = arg.split_once(':').unwrap();
                for _ in 0..count.parse::<u32>().unwrap() {
                    send("WATCHDOG=1");
                    std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
                }
            }
            "print" => writeln!(out, "{arg}").and_then(|()| out.flush()).unwrap(),
            "env" => {
                for var in ["NOTIFY_SOCKET", "WATCHDOG_USEC"] {
                    let v = std::env::var(var).unwrap_or_else(|_| "unset".into());
                    writeln!(out, "{var}={v}").unwrap();
                }
                out.flush().unwrap();
            }
            "wait-go" => {
                let go = std::env::var(GO).expect("the go socket");
                let mut s = std::os::unix::net::UnixStream::connect(go).unwrap();
                let mut byte = [0u8; 1];
                s.read_exact(&mut byte).unwrap();
            }
            "exit" => std::process::exit(arg.parse().unwrap()),
            "sleep" => loop {
                std::thread::park();
            },
            other => panic!("unknown step {other:?}"),
        }
    }
}

/// A command that runs [`peer`] with `script`.
fn peer_command(script: &str) -> Command {
    Command::new(std::env::current_exe().expect("the test binary's path"))
        // `--quiet`: libtest prints nothing on the line of the test, so the
        // program's output lines are its own.
        .args(["--exact", "peer", "--ignored", "--nocapture", "--quiet"])
        .env(SCRIPT, script)
}

// ---------------------------------------------------------------------------
// Waiting.

async fn guarded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

async fn wait_state(rx: &mut broadcast::Receiver<Event>, name: &str, state: NodeState) -> Event {
    guarded(&format!("{name} to become {state:?}"), async {
        loop {
            match rx.recv().await {
                Ok(e) if e.name == name && e.state == state => return e,
                Ok(_) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    })
    .await
}

fn start(root: Group) -> (TreeHandle, broadcast::Receiver<Event>) {
    let tree = root.build().expect("a valid tree");
    let rx = tree.subscribe();
    (tree.start(), rx)
}

// ---------------------------------------------------------------------------
// The tracing events of a node: output lines and notify messages.

#[derive(Debug, Clone, Default)]
struct Logged {
    level: Option<tracing::Level>,
    /// `stdout`/`stderr` for an output line.
    stream: Option<String>,
    /// `STATUS`, `STOPPING`, ... for a notify message.
    notify: Option<String>,
    message: String,
}

type Routes = Mutex<HashMap<String, mpsc::UnboundedSender<Logged>>>;

fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(Default::default)
}

struct Capture {
    next_span: AtomicUsize,
}

#[derive(Default)]
struct Fields {
    node: Option<String>,
    logged: Logged,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "node" => self.node = Some(value.to_owned()),
            "stream" => self.logged.stream = Some(value.to_owned()),
            "notify" => self.logged.notify = Some(value.to_owned()),
            "message" => self.logged.message = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) as u64 + 1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() != "supervisor::command" {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let Some(node) = f.node else { return };
        f.logged.level = Some(*event.metadata().level());
        if let Some(tx) = routes().lock().unwrap().get(&node) {
            let _ = tx.send(f.logged);
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// The tracing events logged for node `name`.
fn capture(name: &str) -> mpsc::UnboundedReceiver<Logged> {
    static INSTALL: OnceLock<()> = OnceLock::new();
    INSTALL.get_or_init(|| {
        tracing::subscriber::set_global_default(Capture {
            next_span: AtomicUsize::new(0),
        })
        .expect("no other global subscriber in this test binary");
    });
    let (tx, rx) = mpsc::unbounded_channel();
    routes().lock().unwrap().insert(name.to_owned(), tx);
    rx
}

/// The next event logged for the node that `pred` accepts (others are skipped).
async fn logged(
    rx: &mut mpsc::UnboundedReceiver<Logged>,
    what: &str,
    pred: impl Fn(&Logged) -> bool,
) -> Logged {
    guarded(what, async {
        loop {
            let l = rx.recv().await.expect("capture channel open");
            if pred(&l) {
                return l;
            }
        }
    })
    .await
}

fn notified(kind: &'static str) -> impl Fn(&Logged) -> bool {
    move |l| l.notify.as_deref() == Some(kind)
}

fn line(text: &'static str) -> impl Fn(&Logged) -> bool {
    move |l| l.stream.is_some() && l.message == text
}

// ---------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn ready_1_makes_the_node_healthy_and_nothing_before_it() {
    let dir = std::env::temp_dir().join(format!("supervisor-notify-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let go_path = dir.join("go");
    let _ = std::fs::remove_file(&go_path);
    let go = tokio::net::UnixListener::bind(&go_path).unwrap();

    let mut log = capture("ready.p");
    let cmd = peer_command("send:STATUS=booting;wait-go;send:READY=1;sleep")
        .env(GO, &go_path)
        .ready_when_notified();
    let (handle, mut rx) = start(Group::parallel("ready").child(Child::new("p", cmd)));

    let status = logged(&mut log, "the STATUS message", notified("STATUS")).await;
    assert_eq!(status.message, "booting");
    assert_eq!(status.level, Some(tracing::Level::INFO));
    // The program waits for our byte: it cannot have sent READY=1 yet.
    let (mut conn, _) = guarded("the program's connection", go.accept())
        .await
        .unwrap();
    assert_eq!(
        handle.snapshot().node("ready.p").unwrap().state,
        NodeState::Starting
    );
    use tokio::io::AsyncWriteExt;
    conn.write_all(b"!").await.unwrap();
    wait_state(&mut rx, "ready.p", NodeState::Healthy).await;

    let report = guarded("the shutdown", handle.shutdown()).await;
    assert!(report.is_clean(), "{report:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn heartbeats_keep_the_watchdog_happy_and_silence_fails_it() {
    let timeout = Duration::from_millis(500);
    let mut log = capture("beats.p");
    // Ten heartbeats 100 ms apart (one second, twice the timeout), then silence.
    let cmd = peer_command("send:READY=1;beat:10:100;print:silent;sleep")
        .ready_when_notified()
        .notify_watchdog(timeout);
    let (handle, mut rx) = start(
        Group::parallel("beats").child(
            Child::new("p", cmd)
                .watchdog(timeout)
                .backoff(Backoff::Fixed(Duration::from_secs(3600))),
        ),
    );
    wait_state(&mut rx, "beats.p", NodeState::Healthy).await;
    // While it beats, nothing fails.
    guarded("the end of the heartbeats", async {
        loop {
            tokio::select! {
                l = log.recv() => if line("silent")(&l.expect("capture open")) { break },
                e = rx.recv() => {
                    let e = e.expect("event stream");
                    assert!(
                        !(e.name == "beats.p" && e.state == NodeState::Backoff),
                        "failed while it was still beating: {e}"
                    );
                }
            }
        }
    })
    .await;
    let failed = wait_state(&mut rx, "beats.p", NodeState::Backoff).await;
    assert_eq!(
        failed.error.expect("the failure's error").to_string(),
        "no heartbeat for 500ms"
    );
    let snap = handle.snapshot();
    assert_eq!(
        snap.node("beats.p").unwrap().last_error.as_deref(),
        Some("no heartbeat for 500ms")
    );
    guarded("the shutdown", handle.shutdown()).await;
}

#[tokio::test]
async fn status_and_stopping_are_logged_and_the_socket_is_removed_after() {
    let mut log = capture("status.p");
    let cmd = peer_command(
        "env;send:STATUS=serving 3 clients|WATCHDOG=1;send:MAINPID=1|STOPPING=1;exit:0",
    )
    .ready_when_notified()
    .notify_watchdog(Duration::from_millis(1500));
    let (handle, _rx) =
        start(Group::parallel("status").child(Child::new("p", cmd).restart(Restart::Transient)));
    guarded("the tree to complete", handle.join())
        .await
        .expect("exit 0 of a transient child");
    // Everything was logged before the incarnation ended. Output lines and
    // notify messages travel separately: look for each, in any order.
    let mut all = Vec::new();
    while let Ok(l) = log.try_recv() {
        all.push(l);
    }
    let find = |pred: &dyn Fn(&Logged) -> bool, what: &str| {
        all.iter()
            .find(|l| pred(l))
            .unwrap_or_else(|| panic!("no {what} in {all:#?}"))
            .clone()
    };
    let socket = find(
        &|l| l.message.starts_with("NOTIFY_SOCKET="),
        "NOTIFY_SOCKET line",
    );
    let socket = std::path::PathBuf::from(socket.message.trim_start_matches("NOTIFY_SOCKET="));
    assert!(
        socket.starts_with(std::env::temp_dir()),
        "{}",
        socket.display()
    );
    let usec = find(
        &|l| l.message.starts_with("WATCHDOG_USEC="),
        "WATCHDOG_USEC line",
    );
    assert_eq!(usec.message, "WATCHDOG_USEC=1500000");
    let status = find(&notified("STATUS"), "STATUS message");
    assert_eq!(
        (status.level, status.message.as_str()),
        (Some(tracing::Level::INFO), "serving 3 clients")
    );
    let stopping = find(&notified("STOPPING"), "STOPPING message");
    assert_eq!(stopping.level, Some(tracing::Level::INFO));
    assert!(!socket.exists(), "the socket is removed");
    assert!(
        !socket.parent().unwrap().exists(),
        "its private directory too"
    );
}

#[tokio::test]
async fn watchdog_trigger_fails_the_incarnation() {
    let cmd = peer_command("send:READY=1;send:WATCHDOG=trigger;sleep").ready_when_notified();
    let (_handle, mut rx) =
        start(Group::parallel("trigger").child(Child::new("p", cmd).restart(Restart::Temporary)));
    wait_state(&mut rx, "trigger.p", NodeState::Healthy).await;
    let failed = wait_state(&mut rx, "trigger.p", NodeState::Failed).await;
    let msg = failed.error.expect("an error").to_string();
    assert!(
        msg.ends_with("reported a watchdog failure (WATCHDOG=trigger)"),
        "{msg}"
    );
}

#[tokio::test]
async fn without_ready_when_notified_ready_1_does_not_decide() {
    // Heartbeats by the protocol, readiness by an output line.
    let cmd = peer_command("send:READY=1;print:marker-line;sleep")
        .notify_watchdog(Duration::from_secs(60))
        .ready_when_line("never printed");
    let mut log = capture("other.p");
    let (handle, mut rx) = start(Group::parallel("other").child(Child::new("p", cmd)));
    wait_state(&mut rx, "other.p", NodeState::Starting).await;
    // The datagram was sent before the line was printed.
    logged(&mut log, "the marker line", line("marker-line")).await;
    assert_eq!(
        handle.snapshot().node("other.p").unwrap().state,
        NodeState::Starting,
        "READY=1 is not this command's readiness"
    );
    guarded("the shutdown", handle.shutdown()).await;
}
