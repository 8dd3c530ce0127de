//! Integration tests of `Command` (real processes) and of the adapters
//! (`start_stop`, `start_stop_blocking`, `serve`).
//!
//! Real processes cannot run on paused time, so every wait here is on an
//! event (a state change, an output line, a connection); wall-clock timeouts
//! only guard against a hang.
#![cfg(unix)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use supervisor_runtime::adapters::{serve, start_stop, start_stop_blocking};
use supervisor_runtime::{
    Child, Command, Context, Group, NodeState, Restart, Shutdown, TreeHandle,
};
use supervisor_testkit::{start_real_time, within, Events, PAUSED_LIMIT, REAL_LIMIT};
use tokio::sync::{mpsc, oneshot};

/// Bounds anything a test waits on by [`REAL_LIMIT`].
async fn guarded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    within(REAL_LIMIT, what, fut).await
}

/// Builds `root` and starts it, subscribed from the first event; waits on
/// the events are bounded by [`REAL_LIMIT`].
fn start(root: Group) -> (TreeHandle, Events) {
    start_real_time(root.build().expect("a valid tree"))
}

// ---------------------------------------------------------------------------
// Capturing the tracing events of the processes' output.

#[derive(Debug, Clone)]
struct Line {
    level: tracing::Level,
    stream: String,
    message: String,
}

type Routes = Mutex<HashMap<String, mpsc::UnboundedSender<Line>>>;

fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(Default::default)
}

/// A global subscriber that forwards `supervisor::command` events to the test
/// listening for that node name (each test uses its own root name).
struct Capture {
    next_span: AtomicUsize,
}

#[derive(Default)]
struct Fields {
    node: Option<String>,
    stream: Option<String>,
    message: Option<String>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "node" => self.node = Some(value.to_owned()),
            "stream" => self.stream = Some(value.to_owned()),
            "message" => self.message = Some(value.to_owned()),
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
        let (Some(node), Some(stream), Some(message)) = (f.node, f.stream, f.message) else {
            return;
        };
        if let Some(tx) = routes().lock().unwrap().get(&node) {
            let _ = tx.send(Line {
                level: *event.metadata().level(),
                stream,
                message,
            });
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// The output lines of node `name`, as tracing events.
fn capture(name: &str) -> mpsc::UnboundedReceiver<Line> {
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

async fn next_line(rx: &mut mpsc::UnboundedReceiver<Line>) -> Line {
    guarded("an output line", rx.recv())
        .await
        .expect("capture channel open")
}

// ---------------------------------------------------------------------------
// Processes.

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped).
fn is_dead(pid: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            // The state follows the command name, which is in parentheses.
            Ok(stat) => {
                let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
                matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X'))
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let pid = rustix::process::Pid::from_raw(pid).expect("a positive pid");
        rustix::process::test_kill_process(pid).is_err()
    }
}

/// Waits until `pid` has ended (SIGKILL takes effect asynchronously). On
/// Linux a pidfd becomes readable when the process ends, even one that is
/// not our child; elsewhere this polls.
async fn wait_dead(pid: i32) {
    guarded(&format!("process {pid} to die"), async {
        #[cfg(target_os = "linux")]
        {
            let p = rustix::process::Pid::from_raw(pid).expect("a positive pid");
            // An error is ESRCH: the process is gone already.
            if let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
                tokio::task::spawn_blocking(move || {
                    let mut fds = [rustix::event::PollFd::new(
                        &fd,
                        rustix::event::PollFlags::IN,
                    )];
                    loop {
                        match rustix::event::poll(&mut fds, None) {
                            Ok(_) => break,
                            Err(rustix::io::Errno::INTR) => continue,
                            Err(e) => panic!("poll on a pidfd: {e}"),
                        }
                    }
                })
                .await
                .expect("the pidfd wait ends");
            }
            assert!(is_dead(pid));
        }
        #[cfg(not(target_os = "linux"))]
        while !is_dead(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn exit_status_zero_is_a_normal_exit() {
    let (handle, mut rx) = start(
        Group::parallel("exit_ok")
            .child(Child::new("p", Command::new("true")).restart(Restart::Transient)),
    );
    let e = rx.wait("exit_ok.p", NodeState::Stopped).await;
    assert!(e.error.is_none(), "unexpected error: {:?}", e.error);
    guarded("the tree to complete", handle.join())
        .await
        .expect("the tree completes cleanly");
}

#[tokio::test]
async fn non_zero_exit_is_a_failure_with_the_status() {
    let (handle, mut rx) = start(
        Group::parallel("exit_err")
            .child(Child::new("f", Command::new("false")).restart(Restart::Temporary))
            .child(
                Child::new("three", Command::new("sh").args(["-c", "exit 3"]))
                    .restart(Restart::Temporary),
            ),
    );
    let mut seen = HashMap::new();
    while seen.len() < 2 {
        let e = rx.wait_for(|e| e.state == NodeState::Failed).await;
        seen.insert(e.name, e.error.expect("a failure carries its error"));
    }
    let f = &seen["exit_err.f"];
    assert_eq!(f.to_string(), "`false` exited with status 1");
    assert_eq!(
        seen["exit_err.three"].to_string(),
        "`sh` exited with status 3"
    );
    drop(handle);
}

#[tokio::test]
async fn death_by_signal_is_a_failure_naming_the_signal() {
    let (_handle, mut rx) = start(Group::parallel("signaled").child(
        Child::new("p", Command::new("sh").args(["-c", "kill -9 $$"])).restart(Restart::Temporary),
    ));
    let e = rx.wait("signaled.p", NodeState::Failed).await;
    assert_eq!(
        e.error.expect("an error").to_string(),
        "`sh` was killed by signal 9 (SIGKILL)"
    );
}

#[tokio::test]
async fn spawn_failure_names_the_program_and_the_os_error() {
    let (_handle, mut rx) =
        start(Group::parallel("nospawn").child(
            Child::new("p", Command::new("no-such-program-7f3a")).restart(Restart::Temporary),
        ));
    let e = rx.wait("nospawn.p", NodeState::Failed).await;
    let msg = e.error.expect("an error").to_string();
    assert!(
        msg.contains("failed to start `no-such-program-7f3a`"),
        "{msg}"
    );
    assert!(msg.contains("No such file or directory"), "{msg}");
}

#[tokio::test]
async fn stop_sends_sigterm_and_is_a_clean_stop() {
    // The trap runs on SIGTERM only: it writes the file, then lets the
    // shell die of the same signal, as an untrapped process would. It is
    // set before `ready` is printed, and the node is healthy only then.
    let seen = std::env::temp_dir().join(format!("supervisor-term-test-{}", std::process::id()));
    let _ = std::fs::remove_file(&seen);
    let script = r#"trap 'echo TERM > "$1"; trap - TERM; kill -TERM $$' TERM; echo ready; sleep 1000 & wait"#;
    let cmd = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&seen)
        .ready_when_line("ready");
    let (handle, mut rx) = start(Group::parallel("term").child(Child::new("p", cmd)));
    rx.wait("term.p", NodeState::Healthy).await;
    let report = guarded("the shutdown", handle.shutdown()).await;
    let got = std::fs::read_to_string(&seen);
    let _ = std::fs::remove_file(&seen);
    assert_eq!(
        got.ok().as_deref(),
        Some("TERM\n"),
        "the process was not sent SIGTERM"
    );
    assert!(report.is_clean(), "{report:?}");
    assert!(report.aborted().is_empty());
    let node = report.node("term.p").expect("the node is in the report");
    assert_eq!(node.state, NodeState::Stopped);
    assert_eq!(node.error, None);
}

#[tokio::test]
async fn abort_kills_the_whole_process_group() {
    // The shell ignores SIGTERM, and so does its background `sleep` (ignored
    // signals are inherited): only the SIGKILL of the abort can end them.
    let script = r#"trap '' TERM; sleep 1000 & echo "grandchild $!"; echo "leader $$"; wait"#;
    let mut lines = capture("abort.p");
    let (handle, mut rx) = start(
        Group::parallel("abort").child(
            Child::new("p", Command::new("sh").args(["-c", script]))
                .shutdown(Shutdown::Timeout(Duration::from_millis(200))),
        ),
    );
    rx.wait("abort.p", NodeState::Healthy).await;
    let mut pids = HashMap::new();
    while pids.len() < 2 {
        let line = next_line(&mut lines).await;
        let (who, pid) = line.message.split_once(' ').expect("`<who> <pid>`");
        pids.insert(who.to_owned(), pid.parse::<i32>().expect("a pid"));
    }
    assert!(!is_dead(pids["grandchild"]) && !is_dead(pids["leader"]));

    let report = guarded("the shutdown", handle.shutdown()).await;
    assert_eq!(report.aborted(), ["abort.p"], "{report:?}");
    wait_dead(pids["leader"]).await;
    wait_dead(pids["grandchild"]).await;
}

#[tokio::test]
async fn leftovers_of_the_group_are_killed_when_the_leader_exits() {
    let mut lines = capture("leftover.p");
    let cmd = Command::new("sh").args(["-c", "sleep 1000 & echo $!; exit 0"]);
    let (handle, _rx) =
        start(Group::parallel("leftover").child(Child::new("p", cmd).restart(Restart::Transient)));
    let pid: i32 = next_line(&mut lines).await.message.parse().expect("a pid");
    guarded("the tree to complete", handle.join())
        .await
        .unwrap();
    wait_dead(pid).await;
}

#[tokio::test]
async fn ready_when_a_line_matches() {
    let dir = std::env::temp_dir().join(format!("supervisor-cmd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("go");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());

    let mut lines = capture("line.p");
    let script = r#"echo booting; read x < "$1"; echo "server is ready now"; exec sleep 1000"#;
    let cmd = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&fifo)
        .ready_when_line("is ready");
    let (handle, mut rx) = start(Group::parallel("line").child(Child::new("p", cmd)));

    let first = next_line(&mut lines).await;
    assert_eq!(first.message, "booting");
    // The script is blocked on the fifo: it cannot have printed the pattern.
    assert_eq!(
        handle.snapshot().node("line.p").unwrap().state,
        NodeState::Starting
    );

    let writer = fifo.clone();
    let unblock = tokio::task::spawn_blocking(move || std::fs::write(writer, "go\n"));
    rx.wait("line.p", NodeState::Healthy).await;
    guarded("the fifo write", unblock).await.unwrap().unwrap();
    assert_eq!(next_line(&mut lines).await.message, "server is ready now");

    let report = guarded("the shutdown", handle.shutdown()).await;
    assert!(report.is_clean(), "{report:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn ready_when_the_port_accepts() {
    // The port stays ours from the start: bound but not listening, so the
    // probe's connections are refused and no other process can take it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let cmd = Command::new("sleep").arg("1000").ready_when_port(port);
    let (handle, mut rx) = start(Group::parallel("port").child(Child::new("p", cmd)));
    rx.wait("port.p", NodeState::Starting).await;
    // Nothing listens yet: the probe cannot have succeeded.
    assert_eq!(
        handle.snapshot().node("port.p").unwrap().state,
        NodeState::Starting
    );

    let listener = socket.listen(16).unwrap();
    guarded("the probe's connection", listener.accept())
        .await
        .unwrap();
    rx.wait("port.p", NodeState::Healthy).await;

    let report = guarded("the shutdown", handle.shutdown()).await;
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test]
async fn output_lines_become_tracing_events() {
    let mut lines = capture("trace.p");
    let cmd = Command::new("sh").args(["-c", "echo hello out; echo hello err >&2"]);
    let (handle, _rx) =
        start(Group::parallel("trace").child(Child::new("p", cmd).restart(Restart::Transient)));
    let mut got = [next_line(&mut lines).await, next_line(&mut lines).await];
    got.sort_by(|a, b| a.stream.cmp(&b.stream));
    assert_eq!(got[0].stream, "stderr");
    assert_eq!(got[0].level, tracing::Level::WARN);
    assert_eq!(got[0].message, "hello err");
    assert_eq!(got[1].stream, "stdout");
    assert_eq!(got[1].level, tracing::Level::INFO);
    assert_eq!(got[1].message, "hello out");
    guarded("the tree to complete", handle.join())
        .await
        .unwrap();
}

#[tokio::test]
async fn arguments_env_and_dir_are_passed_as_given() {
    let mut lines = capture("args.p");
    let mut dirs = capture("args.d");
    let (handle, _rx) = start(
        Group::parallel("args")
            // No shell: `$HOME` and `*` reach `echo` untouched.
            .child(
                Child::new("p", Command::new("echo").arg("$HOME *").arg("two  spaces"))
                    .restart(Restart::Transient),
            )
            .child(
                Child::new(
                    "d",
                    Command::new("sh")
                        .args(["-c", r#"echo "$GREETING $(pwd) ${HOME:-unset}""#])
                        .env("GREETING", "hi")
                        .env_remove("HOME")
                        .current_dir("/"),
                )
                .restart(Restart::Transient),
            ),
    );
    assert_eq!(next_line(&mut lines).await.message, "$HOME * two  spaces");
    assert_eq!(next_line(&mut dirs).await.message, "hi / unset");
    guarded("the tree to complete", handle.join())
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// Adapters.

#[tokio::test]
async fn start_stop_starts_reports_healthy_and_stops_with_the_value() {
    let (stopped_tx, stopped_rx) = oneshot::channel::<u32>();
    let stopped_tx = Arc::new(Mutex::new(Some(stopped_tx)));
    let starts = Arc::new(AtomicUsize::new(0));
    let runnable = {
        let starts = starts.clone();
        start_stop(
            move |_ctx: Context| {
                let starts = starts.clone();
                async move {
                    starts.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(42_u32)
                }
            },
            move |value: u32| {
                let tx = stopped_tx.lock().unwrap().take();
                async move {
                    if let Some(tx) = tx {
                        let _ = tx.send(value);
                    }
                }
            },
        )
    };
    let (handle, mut rx) = start(Group::parallel("ss").child(Child::new("r", runnable)));
    rx.wait("ss.r", NodeState::Healthy).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    let report = guarded("the shutdown", handle.shutdown()).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(stopped_rx.await.expect("stop was called"), 42);
}

#[tokio::test]
async fn start_stop_failed_start_is_a_failure_without_stop() {
    let stops = Arc::new(AtomicUsize::new(0));
    let runnable = {
        let stops = stops.clone();
        start_stop(
            |_ctx: Context| async { Err::<(), _>(std::io::Error::other("cannot connect")) },
            move |()| {
                stops.fetch_add(1, Ordering::SeqCst);
                async { Ok::<(), std::io::Error>(()) }
            },
        )
    };
    let (_handle, mut rx) = start(
        Group::parallel("ssfail").child(Child::new("r", runnable).restart(Restart::Temporary)),
    );
    let e = rx.wait("ssfail.r", NodeState::Failed).await;
    assert_eq!(e.error.unwrap().to_string(), "cannot connect");
    assert_eq!(stops.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn start_stop_error_of_stop_is_reported() {
    let runnable = start_stop(
        |_ctx: Context| async { Ok::<_, std::io::Error>(()) },
        |()| async { Err::<(), _>(std::io::Error::other("flush failed")) },
    );
    let (handle, mut rx) =
        start(Group::parallel("ssstop").child(Child::new("r", runnable.clone())));
    rx.wait("ssstop.r", NodeState::Healthy).await;
    let report = guarded("the shutdown", handle.shutdown()).await;
    let node = report.node("ssstop.r").unwrap();
    assert_eq!(node.error.as_deref(), Some("flush failed"), "{report:?}");
}

/// Both functions run off the runtime's thread (this test's runtime has
/// only one), and while `start` blocks the runtime keeps running: the node
/// stays `Starting` and the test goes on.
#[tokio::test]
async fn start_stop_blocking_runs_both_functions_on_the_blocking_pool() {
    let runtime_thread = std::thread::current().id();
    let (ran_tx, mut ran_rx) = mpsc::unbounded_channel::<(&'static str, std::thread::ThreadId)>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let (stopped_tx, mut stopped_rx) = mpsc::unbounded_channel::<String>();
    let ran_stop = ran_tx.clone();
    let runnable = start_stop_blocking(
        move |ctx: Context| {
            let _ = ran_tx.send(("start", std::thread::current().id()));
            // Blocks until the test says go; bounded, so that a start run on
            // the runtime's own thread fails the test instead of hanging it.
            go_rx
                .lock()
                .unwrap()
                .recv_timeout(REAL_LIMIT)
                .map_err(|_| std::io::Error::other("never released"))?;
            Ok::<_, std::io::Error>(format!("resource of {}", ctx.name()))
        },
        move |value: String| {
            let _ = ran_stop.send(("stop", std::thread::current().id()));
            let _ = stopped_tx.send(value);
        },
    );
    let (handle, mut rx) = start(Group::parallel("ssb").child(Child::new("r", runnable)));
    let (what, start_thread) = guarded("start to run", ran_rx.recv()).await.unwrap();
    assert_eq!(what, "start");
    assert_ne!(
        start_thread, runtime_thread,
        "start ran on the runtime's thread"
    );
    assert_eq!(
        handle.snapshot().node("ssb.r").unwrap().state,
        NodeState::Starting,
        "healthy only once start has returned"
    );
    go_tx.send(()).unwrap();
    rx.wait("ssb.r", NodeState::Healthy).await;
    let report = guarded("the shutdown", handle.shutdown()).await;
    assert!(report.is_clean(), "{report:?}");
    let (what, stop_thread) = ran_rx.try_recv().expect("stop ran");
    assert_eq!(what, "stop");
    assert_ne!(
        stop_thread, runtime_thread,
        "stop ran on the runtime's thread"
    );
    assert_eq!(stopped_rx.try_recv().unwrap(), "resource of ssb.r");
}

#[tokio::test]
async fn serve_reports_healthy_once_running_and_shuts_down_gracefully() {
    let (port_tx, mut port_rx) = mpsc::unbounded_channel::<u16>();
    let drained = Arc::new(AtomicUsize::new(0));
    let server = {
        let drained = drained.clone();
        serve(move |_ctx, shutdown| {
            let port_tx = port_tx.clone();
            let drained = drained.clone();
            async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let _ = port_tx.send(listener.local_addr()?.port());
                let mut shutdown = std::pin::pin!(shutdown);
                loop {
                    tokio::select! {
                        _ = &mut shutdown => break,
                        conn = listener.accept() => drop(conn?),
                    }
                }
                drained.fetch_add(1, Ordering::SeqCst); // the graceful part
                Ok::<(), std::io::Error>(())
            }
        })
    };
    let (handle, mut rx) = start(Group::parallel("srv").child(Child::new("http", server)));
    rx.wait("srv.http", NodeState::Healthy).await;
    // Healthy after the first poll: the listener is bound already.
    let port = port_rx.try_recv().expect("bound before healthy");
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the server accepts");

    let report = guarded("the shutdown", handle.shutdown()).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(drained.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn serve_that_fails_at_once_never_becomes_healthy() {
    let server =
        serve(|_ctx, _shutdown| async { Err::<(), _>(std::io::Error::other("address in use")) });
    let (_handle, mut rx) = start(
        Group::parallel("srvfail").child(Child::new("http", server).restart(Restart::Temporary)),
    );
    let e = rx.wait("srvfail.http", NodeState::Failed).await;
    assert!(
        !rx.saw("srvfail.http", NodeState::Healthy),
        "reported healthy before failing: {:?}",
        rx.trace()
    );
    assert_eq!(e.error.unwrap().to_string(), "address in use");
}

#[tokio::test(start_paused = true)]
async fn serve_graceful_stop_is_bounded_by_the_shutdown_timeout() {
    let server = serve(|_ctx, shutdown| async move {
        shutdown.await;
        std::future::pending::<()>().await; // a drain that never ends
        Ok::<(), std::io::Error>(())
    });
    let (handle, mut rx) = start(
        Group::parallel("srvslow")
            .child(Child::new("http", server).shutdown(Shutdown::Timeout(Duration::from_secs(3)))),
    );
    rx.wait("srvslow.http", NodeState::Healthy).await;
    let t0 = tokio::time::Instant::now();
    let report = within(PAUSED_LIMIT, "the shutdown", handle.shutdown()).await;
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(3),
        "aborted after the configured 3 s (the default is 5 s)"
    );
    assert_eq!(report.aborted(), ["srvslow.http"], "{report:?}");
}

#[tokio::test]
async fn serve_ready_manually_waits_for_the_server() {
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go_rx = Arc::new(tokio::sync::Mutex::new(Some(go_rx)));
    let server = serve(move |ctx, shutdown| {
        let go_rx = go_rx.clone();
        async move {
            if let Some(go) = go_rx.lock().await.take() {
                let _ = go.await;
            }
            ctx.healthy();
            shutdown.await;
            Ok::<(), std::io::Error>(())
        }
    })
    .ready_manually();
    let (handle, mut rx) = start(Group::parallel("srvman").child(Child::new("http", server)));
    rx.wait("srvman.http", NodeState::Starting).await;
    assert_eq!(
        handle.snapshot().node("srvman.http").unwrap().state,
        NodeState::Starting
    );
    go_tx.send(()).unwrap();
    rx.wait("srvman.http", NodeState::Healthy).await;
    let report = guarded("the shutdown", handle.shutdown()).await;
    assert!(report.is_clean(), "{report:?}");
}
