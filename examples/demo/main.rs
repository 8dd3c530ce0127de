//! A small real service under supervision, with its tree live in the browser.
//!
//! ```text
//! cargo run --example demo                   # until Ctrl-C
//! cargo run --example demo -- --seconds 5    # stop by itself after 5 s
//! cargo run --example demo -- --port 9000    # another port (default 7380)
//! ```
//!
//! The tree, started in this order and stopped in the reverse one:
//!
//! - `app.http`: an axum server on 127.0.0.1 serving the live view of this
//!   tree at `/` (`supervisor::web`, feature `web`) and a small API (see
//!   `api.rs`): `GET /jobs`, `POST /jobs/{key}`, `DELETE /jobs/{key}`,
//!   `POST /flaky/fail`;
//! - `app.worker`: a real OS process (this program again, as a TCP echo
//!   server), healthy once it says it accepts connections;
//! - `app.jobs`: a dynamic group with one child per job in a table, a
//!   SQLite file next to this program (`--jobs` moves it) that the API
//!   edits and the group follows: jobs added in one run are there in the
//!   next;
//! - `app.flaky`: fails every 10 to 30 s (or on `POST /flaky/fail`) and
//!   comes back after its backoff.
//!
//! Every state change is printed; Ctrl-C (or SIGTERM, or `--seconds`) stops
//! the tree in order and prints the shutdown report. `RUST_LOG=info` shows
//! the log lines of every node, the worker's output included.

/// `println!` that does not panic when stdout is gone (`demo | head`): the
/// service goes on, and stops in order, whether anyone reads it or not.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod api;
mod jobs;
mod parts;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use supervisor::prelude::*;
use supervisor::BoxError;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

const DEFAULT_PORT: u16 = 7380;
const JOBS_FILE: &str = "demo-jobs.sqlite3";
const USAGE: &str = "usage: demo [--port P] [--seconds N] [--jobs FILE]\n  \
    --port P     serve on 127.0.0.1:P (default 7380)\n  \
    --seconds N  stop by itself after N seconds (default: run until Ctrl-C)\n  \
    --jobs FILE  keep the jobs in this SQLite file (default: demo-jobs.sqlite3\n               \
    next to this program; created on first run)";

struct Args {
    port: u16,
    seconds: Option<u64>,
    jobs: Option<PathBuf>,
    worker: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: DEFAULT_PORT,
        seconds: None,
        jobs: None,
        worker: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => {
                let v = it
                    .next()
                    .ok_or("`--port` needs a number, e.g. `--port 9000`")?;
                args.port = v
                    .parse()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or(format!("`--port {v}`: not a port (1 to 65535)"))?;
            }
            "--seconds" => {
                let v = it
                    .next()
                    .ok_or("`--seconds` needs a number, e.g. `--seconds 5`")?;
                args.seconds = Some(
                    v.parse()
                        .map_err(|_| format!("`--seconds {v}`: not a whole number of seconds"))?,
                );
            }
            "--jobs" => {
                let v = it
                    .next()
                    .ok_or("`--jobs` needs a file, e.g. `--jobs jobs.sqlite3`")?;
                args.jobs = Some(PathBuf::from(v));
            }
            parts::WORKER_ARG => args.worker = true,
            "-h" | "--help" => {
                say!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    if args.worker {
        return match parts::run_worker().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("worker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            // Quiet, but for rows of the jobs file that cannot be read.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "supervisor_tables=warn".into()),
        )
        .init();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, BoxError> {
    let file = match args.jobs {
        Some(f) => f,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program to put the jobs next to it: {e}"))?
            .with_file_name(JOBS_FILE),
    };
    let opened = jobs::open(&file).await?;
    let table = opened.table;
    if opened.created {
        jobs::put(&table, "hello", &jobs::Job::default()).await?;
    }
    let jobs_group = DynamicGroup::with_table(table.clone(), jobs::job)
        .backoff(Backoff::exponential().initial(Duration::from_secs(1)))
        .intensity(Intensity::new(5, Duration::from_secs(30)));
    let (tree_tx, tree_rx) = watch::channel(None);
    let (flaky_tx, flaky_rx) = watch::channel(0u64);
    let http = parts::http_server(
        args.port,
        tree_rx,
        table.clone(),
        jobs_group.clone(),
        Arc::new(flaky_tx),
    );
    let worker = parts::worker()?;

    let tree = supervision_tree! {
        #[strategy(one_for_one)]
        #[intensity(unlimited)]
        sequential app {
            http: http,
            worker: worker,
            jobs: jobs_group,
            #[backoff(initial = 1s, max = 8s)]
            flaky: parts::flaky(flaky_rx),
        }
    };
    let mut events = tree.subscribe();
    let handle = tree.start();
    tree_tx.send_replace(Some(handle.clone()));
    let started = Instant::now();

    // Up, or stopped before it was (a port in use).
    loop {
        if handle.snapshot().node("app").map(|n| n.state) == Some(NodeState::Healthy) {
            break;
        }
        tokio::select! {
            r = events.recv() => if let Err(RecvError::Closed) = r { break },
            r = handle.join() => {
                return Err(match r {
                    Ok(()) => "the tree ended before it was up".into(),
                    Err(e) => e.into(),
                });
            }
        }
    }
    // The banner draws the tree as it is: the changes so far are in it.
    while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) =
        events.try_recv()
    {}
    banner(&handle, args.port, &opened.location, args.seconds);

    let reason = tokio::select! {
        r = follow(&mut events, started) => r,
        r = handle.join() => {
            // Only a node returning `StopTree` ends this tree by itself.
            return Err(match r {
                Ok(()) => "the tree ended by itself".into(),
                Err(e) => e.into(),
            });
        }
        s = stop_signal() => s.to_owned(),
        _ = deadline(args.seconds) => format!("{} s are up", args.seconds.unwrap_or_default()),
    };
    say!("\n{reason}: stopping in reverse start order (again to abort)");
    let shutdown = handle.shutdown();
    tokio::pin!(shutdown);
    let report = loop {
        tokio::select! {
            report = &mut shutdown => break report,
            Ok(ev) = events.recv() => print_change(started, &ev),
            _ = stop_signal() => {
                say!("second signal: aborting what is left");
                handle.abort_all();
            }
        }
    };
    while let Ok(ev) = events.try_recv() {
        print_change(started, &ev);
    }
    Ok(print_report(&report))
}

fn banner(handle: &TreeHandle, port: u16, jobs_at: &str, seconds: Option<u64>) {
    say!("\nsupervising a small service:\n\n{}", handle.snapshot());
    say!("  live view     http://127.0.0.1:{port}/");
    say!("  add a job     curl -X POST localhost:{port}/jobs/nightly -d '{{\"every_secs\": 5}}'");
    say!("  make a fault  curl -X POST localhost:{port}/flaky/fail");
    say!("  jobs table    {jobs_at}");
    match seconds {
        Some(s) => say!("\nCtrl-C stops everything in order (or wait {s} s).\n"),
        None => say!("\nCtrl-C stops everything in order.\n"),
    }
}

/// Prints every change until the stream ends.
async fn follow(events: &mut tokio::sync::broadcast::Receiver<Event>, started: Instant) -> String {
    loop {
        match events.recv().await {
            Ok(ev) => print_change(started, &ev),
            Err(RecvError::Lagged(n)) => say!("({n} changes not shown)"),
            Err(RecvError::Closed) => return "the event stream ended".into(),
        }
    }
}

fn print_change(started: Instant, ev: &Event) {
    let t = started.elapsed().as_secs_f64();
    let mut line = format!("[{t:7.2}s] {:<20} {}", ev.name, ev.state);
    if let Some(d) = ev.delay {
        line.push_str(&format!(", restart in {} ms", d.as_millis()));
    }
    if let Some(e) = &ev.error {
        line.push_str(&format!(": {e}"));
    }
    say!("{line}");
}

fn print_report(report: &ShutdownReport) -> ExitCode {
    say!("\nshutdown report:");
    for n in report.nodes() {
        let mut line = format!("  {:<20} {}", n.name, n.state);
        if n.aborted {
            line.push_str("  (aborted)");
        }
        if n.unstopped {
            line.push_str("  (could not be stopped)");
        }
        say!("{line}");
    }
    if report.is_clean() {
        say!("stopped cleanly, nothing aborted");
        ExitCode::SUCCESS
    } else {
        say!(
            "not clean: aborted {:?}, could not stop {:?}",
            report.aborted(),
            report.unstopped()
        );
        ExitCode::FAILURE
    }
}

async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

async fn deadline(seconds: Option<u64>) {
    match seconds {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => std::future::pending().await,
    }
}
