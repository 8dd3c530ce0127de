//! Adapters that turn common shapes of services into [`Runnable`]s.
//!
//! - [`start_stop`] / [`start_stop_blocking`]: a resource with a *start*
//!   function that returns a handle and a *stop* function that takes it back
//!   (go.pact.im/process `StartStop`): a connection pool, a background
//!   worker from another library, a listener.
//! - [`serve`]: a server with graceful shutdown, driven by a function that
//!   is given a shutdown future — the shape that axum's
//!   `with_graceful_shutdown`, tonic's `serve_with_shutdown` and hyper's
//!   graceful helpers expect.
//!
//! In both, the graceful stop runs when the node is asked to stop, and is
//! bounded by the node's `shutdown` timeout: once it passes, the supervisor
//! aborts the incarnation (the stop future is dropped).

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::task::JoinHandle;

use crate::engine::Context;
use crate::engine::Runnable;
use crate::error::BoxError;

/// What a stop function may return: `()` (stopping cannot fail) or
/// `Result<(), E>` (an `Err` is reported as the incarnation's error).
///
/// ```
/// use supervisor_runtime::adapters::StopOutcome;
/// assert!(().into_stop_result().is_ok());
/// assert!(Err::<(), _>(std::io::Error::other("flush failed")).into_stop_result().is_err());
/// ```
pub trait StopOutcome {
    /// Converts the stop function's output into the incarnation's result.
    fn into_stop_result(self) -> Result<(), BoxError>;
}

impl StopOutcome for () {
    fn into_stop_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> StopOutcome for Result<(), E> {
    fn into_stop_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// A [`Runnable`] built from an async start function and an async stop
/// function; made by [`start_stop`].
///
/// One incarnation:
/// 1. calls `start(ctx)`; an `Err` fails the incarnation (stop is not called);
/// 2. reports the node healthy;
/// 3. waits until the node is asked to stop;
/// 4. calls `stop(value)` with what `start` returned, and returns its outcome.
///
/// `start` runs to completion even if a stop is requested meanwhile (it
/// receives the [`Context`] and may watch [`Context::cancelled`] itself); the
/// stop then follows at once. Both are bounded by the node's `shutdown`
/// timeout once a stop is requested: past it, the incarnation is aborted and
/// the value is dropped without `stop`.
///
/// The adapter reports health itself: `start` must not call
/// [`Context::healthy`] (a second signal fails the incarnation). Use a plain
/// closure runnable when readiness comes later than the end of `start`.
///
/// Cheap to clone (the functions are shared).
pub struct StartStop<S, P> {
    inner: Arc<(S, P)>,
}

/// Wraps a start function and a stop function into a [`Runnable`]; see
/// [`StartStop`].
///
/// `start` is an async function of the [`Context`] returning
/// `Result<T, E>`; `stop` is an async function of the `T` returning `()` or
/// `Result<(), E2>`.
///
/// ```
/// use supervisor_runtime::adapters::start_stop;
/// use supervisor_runtime::{Child, Context, Group};
/// use tokio::sync::oneshot;
///
/// // A background job with its own stop channel, as many libraries offer.
/// struct Job {
///     stop: oneshot::Sender<()>,
///     task: tokio::task::JoinHandle<()>,
/// }
///
/// let job = start_stop(
///     |_ctx: Context| async move {
///         let (stop, mut stopped) = oneshot::channel::<()>();
///         let task = tokio::spawn(async move {
///             // ... work until told to stop ...
///             let _ = (&mut stopped).await;
///         });
///         Ok::<_, std::io::Error>(Job { stop, task })
///     },
///     |job: Job| async move {
///         let _ = job.stop.send(());
///         job.task.await
///     },
/// );
/// let tree = Group::parallel("app").child(Child::new("job", job)).build();
/// assert!(tree.is_ok());
/// ```
pub fn start_stop<S, SFut, T, E, P, PFut>(start: S, stop: P) -> StartStop<S, P>
where
    S: Fn(Context) -> SFut + Send + Sync + 'static,
    SFut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError>,
    P: Fn(T) -> PFut + Send + Sync + 'static,
    PFut: Future + Send + 'static,
    PFut::Output: StopOutcome,
{
    StartStop {
        inner: Arc::new((start, stop)),
    }
}

impl<S, P> Clone for StartStop<S, P> {
    fn clone(&self) -> Self {
        StartStop {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, P> fmt::Debug for StartStop<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartStop").finish_non_exhaustive()
    }
}

impl<S, P> crate::engine::Sealed for StartStop<S, P> {}

impl<S, SFut, T, E, P, PFut> Runnable for StartStop<S, P>
where
    S: Fn(Context) -> SFut + Send + Sync + 'static,
    SFut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError>,
    P: Fn(T) -> PFut + Send + Sync + 'static,
    PFut: Future + Send + 'static,
    PFut::Output: StopOutcome,
{
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        crate::engine::spawn_incarnation(ctx, |ctx| {
            let inner = Arc::clone(&self.inner);
            async move {
                let value = (inner.0)(ctx.clone()).await.map_err(Into::into)?;
                ctx.healthy();
                ctx.cancelled().await;
                (inner.1)(value).await.into_stop_result()
            }
        })
    }
}

/// A [`Runnable`] built from a synchronous start function and a synchronous
/// stop function; made by [`start_stop_blocking`].
///
/// Like [`StartStop`], but both functions run on tokio's blocking thread
/// pool ([`tokio::task::spawn_blocking`]), so they may block (open files,
/// join threads, call C libraries). A blocking function cannot be
/// interrupted: if the incarnation is aborted while one runs, it runs to
/// completion on its own thread, and a value `start` returns after that is
/// dropped without `stop`. As with [`StartStop`], `start` must not call
/// [`Context::healthy`].
///
/// Cheap to clone (the functions are shared).
pub struct StartStopBlocking<S, P> {
    inner: Arc<(S, P)>,
}

/// Wraps a blocking start function and a blocking stop function into a
/// [`Runnable`]; see [`StartStopBlocking`].
///
/// `start` is a function of the [`Context`] returning `Result<T, E>`; `stop`
/// a function of the `T` returning `()` or `Result<(), E2>`.
///
/// ```
/// use std::net::TcpListener;
/// use supervisor_runtime::adapters::start_stop_blocking;
/// use supervisor_runtime::{Child, Context, Group};
///
/// let listener = start_stop_blocking(
///     |_ctx: Context| TcpListener::bind("127.0.0.1:0"),
///     |listener: TcpListener| drop(listener),
/// );
/// let tree = Group::parallel("app").child(Child::new("listener", listener)).build();
/// assert!(tree.is_ok());
/// ```
pub fn start_stop_blocking<S, T, E, P, R>(start: S, stop: P) -> StartStopBlocking<S, P>
where
    S: Fn(Context) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
    P: Fn(T) -> R + Send + Sync + 'static,
    R: StopOutcome + 'static,
{
    StartStopBlocking {
        inner: Arc::new((start, stop)),
    }
}

impl<S, P> Clone for StartStopBlocking<S, P> {
    fn clone(&self) -> Self {
        StartStopBlocking {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, P> fmt::Debug for StartStopBlocking<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartStopBlocking").finish_non_exhaustive()
    }
}

impl<S, P> crate::engine::Sealed for StartStopBlocking<S, P> {}

impl<S, T, E, P, R> Runnable for StartStopBlocking<S, P>
where
    S: Fn(Context) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
    P: Fn(T) -> R + Send + Sync + 'static,
    R: StopOutcome + 'static,
{
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        crate::engine::spawn_incarnation(ctx, |ctx| {
            let inner = Arc::clone(&self.inner);
            async move {
                let start = {
                    let inner = Arc::clone(&inner);
                    let ctx = ctx.clone();
                    tokio::task::spawn_blocking(move || (inner.0)(ctx).map_err(Into::into))
                };
                let value = join_blocking(start.await)?;
                ctx.healthy();
                ctx.cancelled().await;
                let stop = tokio::task::spawn_blocking(move || (inner.1)(value).into_stop_result());
                join_blocking(stop.await)
            }
        })
    }
}

/// The result of a blocking call; a panic in it is resumed in the
/// incarnation (where the supervisor catches and reports it).
fn join_blocking<T>(r: Result<Result<T, BoxError>, tokio::task::JoinError>) -> Result<T, BoxError> {
    match r {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Box::new(e)),
    }
}

/// The future a [`serve`] function hands to its server: it completes when the
/// node is asked to stop. `Send + 'static`, so it can be given to axum's
/// `with_graceful_shutdown`, tonic's `serve_with_shutdown` or a `select!`.
pub struct ShutdownSignal {
    fut: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl ShutdownSignal {
    /// A signal that completes when `ctx`'s incarnation is asked to stop.
    pub fn new(ctx: Context) -> Self {
        ShutdownSignal {
            fut: Box::pin(async move { ctx.cancelled().await }),
        }
    }
}

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.fut.as_mut().poll(cx)
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").finish_non_exhaustive()
    }
}

/// A [`Runnable`] for a server with graceful shutdown; made by [`serve`].
///
/// One incarnation:
/// 1. calls `f(ctx, shutdown)`, where `shutdown` is a [`ShutdownSignal`]
///    that completes when the node is asked to stop;
/// 2. polls the returned future once: if it has already finished (a failed
///    bind, say), that is the incarnation's result and the node never became
///    healthy; otherwise the server is running — it got as far as its first
///    real wait, normally its accept loop after binding — and the node is
///    reported healthy at once;
/// 3. awaits the future: the server's graceful drain after `shutdown`
///    completes is bounded by the node's `shutdown` timeout, after which the
///    incarnation is aborted (the server future is dropped).
///
/// The server returning `Ok(())` on its own, without a stop request, is an
/// *exit* (a permanent child restarts); an `Err` is a failure.
///
/// If being up means more than "called and waiting" (a warm-up, a first
/// successful health check), call [`ready_manually`](Server::ready_manually)
/// and report [`Context::healthy`] yourself.
///
/// Cheap to clone (the function is shared).
pub struct Server<F> {
    f: Arc<F>,
    manual_ready: bool,
}

/// Wraps a server function into a [`Runnable`]; see [`Server`].
///
/// The function receives the incarnation's [`Context`] and a
/// [`ShutdownSignal`], and returns a future of `Result<(), E>`. With axum:
///
/// ```ignore
/// // needs axum; `app` is an `axum::Router`
/// let http = serve(move |_ctx, shutdown| {
///     let app = app.clone();
///     async move {
///         let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
///         axum::serve(listener, app).with_graceful_shutdown(shutdown).await
///     }
/// });
/// ```
///
/// With tonic: `Server::builder().add_service(svc).serve_with_shutdown(addr,
/// shutdown)`. A hand-written server, with tokio only:
///
/// ```
/// use supervisor_runtime::adapters::serve;
/// use supervisor_runtime::{Child, Group};
/// use tokio::net::TcpListener;
///
/// let echo = serve(|_ctx, shutdown| async move {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut shutdown = std::pin::pin!(shutdown);
///     loop {
///         tokio::select! {
///             _ = &mut shutdown => return Ok::<(), std::io::Error>(()),
///             conn = listener.accept() => {
///                 let (mut socket, _) = conn?;
///                 tokio::spawn(async move {
///                     let (mut r, mut w) = socket.split();
///                     let _ = tokio::io::copy(&mut r, &mut w).await;
///                 });
///             }
///         }
///     }
/// });
/// let tree = Group::parallel("app").child(Child::new("echo", echo)).build();
/// assert!(tree.is_ok());
/// ```
pub fn serve<F, Fut, E>(f: F) -> Server<F>
where
    F: Fn(Context, ShutdownSignal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    Server {
        f: Arc::new(f),
        manual_ready: false,
    }
}

impl<F> Server<F> {
    /// Does not report the node healthy: the server function calls
    /// [`Context::healthy`] itself when it is ready.
    ///
    /// ```
    /// use supervisor_runtime::adapters::serve;
    /// let server = serve(|ctx, shutdown| async move {
    ///     // ... bind, warm caches ...
    ///     ctx.healthy();
    ///     shutdown.await;
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .ready_manually();
    /// # drop(server);
    /// ```
    pub fn ready_manually(mut self) -> Self {
        self.manual_ready = true;
        self
    }
}

impl<F> Clone for Server<F> {
    fn clone(&self) -> Self {
        Server {
            f: Arc::clone(&self.f),
            manual_ready: self.manual_ready,
        }
    }
}

impl<F> fmt::Debug for Server<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("manual_ready", &self.manual_ready)
            .finish_non_exhaustive()
    }
}

impl<F> crate::engine::Sealed for Server<F> {}

impl<F, Fut, E> Runnable for Server<F>
where
    F: Fn(Context, ShutdownSignal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn __spawn(&self, ctx: Context) -> JoinHandle<()> {
        let manual_ready = self.manual_ready;
        crate::engine::spawn_incarnation(ctx, |ctx| {
            let f = Arc::clone(&self.f);
            async move {
                let mut server = pin!(f(ctx.clone(), ShutdownSignal::new(ctx.clone())));
                if !manual_ready {
                    // One poll: run the server up to its first real wait.
                    let first =
                        std::future::poll_fn(|cx| Poll::Ready(server.as_mut().poll(cx))).await;
                    if let Poll::Ready(r) = first {
                        return r.map_err(Into::into);
                    }
                    ctx.healthy();
                }
                server.await.map_err(Into::into)
            }
        })
    }
}
