//! The signals that stop a tree run with `run_until_signal`: SIGINT,
//! SIGTERM, SIGHUP and SIGQUIT on Unix, Ctrl-C elsewhere.

use crate::error::{Error, ErrorKind};

/// The signals that stop a tree.
pub(crate) struct Signals {
    #[cfg(unix)]
    sigs: Vec<tokio::signal::unix::Signal>,
}

impl Signals {
    pub(crate) fn new() -> Result<Self, Error> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let kinds = [
                SignalKind::interrupt(),
                SignalKind::terminate(),
                SignalKind::hangup(),
                SignalKind::quit(),
            ];
            let mut sigs = Vec::new();
            for k in kinds {
                sigs.push(signal(k).map_err(|e| {
                    Error::new(
                        ErrorKind::Signal,
                        None,
                        format!("cannot install a signal handler: {e}"),
                    )
                })?);
            }
            Ok(Signals { sigs })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            let futs = self.sigs.iter_mut().map(|s| Box::pin(s.recv()));
            let _ = futures_select_all(futs).await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(unix)]
async fn futures_select_all<F: std::future::Future + Unpin>(futs: impl Iterator<Item = F>) {
    let mut futs: Vec<F> = futs.collect();
    std::future::poll_fn(move |cx| {
        for f in futs.iter_mut() {
            if std::pin::Pin::new(f).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}
