//! The children of the demo's tree, other than the jobs.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use supervisor::adapters::serve;
use supervisor::{BoxError, Command, Context, DynamicGroup, Runnable, StopTree, TreeHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::api::{self, Api};
use crate::jobs::JobTable;

/// The argument that makes this program the worker process.
pub const WORKER_ARG: &str = "--worker";

/// What the worker prints once it accepts connections: its readiness probe.
const WORKER_READY: &str = "echo worker ready on";

/// The HTTP server: binds `port` on the loopback interface, then serves the
/// live view of the tree at `/` and the demo's API, until it is asked to
/// stop; then it stops accepting, ends the open event streams and finishes
/// the requests in flight.
///
/// A port that is taken stops the whole tree with a message that says what
/// to do: the demo cannot be reached without its server.
pub fn http_server(
    port: u16,
    tree: watch::Receiver<Option<TreeHandle>>,
    table: JobTable,
    jobs: DynamicGroup,
    flaky: Arc<watch::Sender<u64>>,
) -> impl Runnable {
    serve(move |_ctx, shutdown| {
        let (mut tree, table, jobs, flaky) =
            (tree.clone(), table.clone(), jobs.clone(), flaky.clone());
        async move {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let listener = match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(BoxError::from(StopTree::new(format!(
                        "port {port} is already in use; stop what uses it, \
                         or choose another port with `--port`"
                    ))));
                }
                Err(e) => return Err(format!("cannot listen on {addr}: {e}").into()),
            };
            // The tree's handle exists once the tree has started, which is
            // about now: the server is the first child.
            let handle = tree
                .wait_for(Option::is_some)
                .await
                .map_err(|_| "the demo ended before its tree started")?
                .clone();
            let Some(handle) = handle else {
                return Err("no tree to show".into());
            };
            let stop = CancellationToken::new();
            let app = supervisor::web::router_with_shutdown(handle.clone(), stop.clone()).merge(
                api::routes(Api {
                    handle,
                    table,
                    jobs,
                    flaky,
                }),
            );
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    shutdown.await;
                    stop.cancel(); // end the live view's open event streams
                })
                .await
                .map_err(BoxError::from)
        }
    })
}

/// A child that loses its upstream now and then: healthy, then a failure
/// after 10 to 30 s, or at once when `POST /flaky/fail` bumps `fail`.
pub fn flaky(fail: watch::Receiver<u64>) -> impl Runnable {
    move |ctx: Context| {
        let mut fail = fail.clone();
        async move {
            fail.borrow_and_update(); // only requests from now on count
            ctx.healthy();
            let after =
                Duration::from_secs(10 + RandomState::new().hash_one(ctx.incarnation()) % 21);
            tokio::select! {
                _ = ctx.cancelled() => Ok(()),
                _ = tokio::time::sleep(after) => {
                    Err(BoxError::from("lost the connection to upstream"))
                }
                Ok(()) = fail.changed() => Err(BoxError::from("failed on request (POST /flaky/fail)")),
            }
        }
    }
}

/// The worker: this same program started again as a separate OS process
/// (`demo --worker`), healthy once it prints that it accepts connections.
pub fn worker() -> Result<Command, BoxError> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    Ok(Command::new(exe)
        .arg(WORKER_ARG)
        .ready_when_line(WORKER_READY))
}

/// The worker process: a TCP echo server on a port of the system's choice.
/// It stops when the supervisor sends SIGTERM, or when the demo is gone.
pub async fn run_worker() -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // If the demo itself is killed (SIGKILL, no chance to stop its
    // children), this process is handed to another parent: end then, so
    // that nothing of the demo outlives it.
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(0);
                }
            }
        });
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{WORKER_READY} {}", listener.local_addr()?);
    loop {
        let (mut socket, peer) = listener.accept().await?;
        println!("connection from {peer}");
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.read(&mut buf).await {
                if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}
