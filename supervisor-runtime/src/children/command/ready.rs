//! TCP readiness probes of a command.

use std::time::Duration;

use tokio::net::TcpStream;

use super::Readiness;

/// How often a TCP readiness probe is tried.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// How long one TCP connection attempt of a probe may take.
const PROBE_CONNECT_LIMIT: Duration = Duration::from_secs(1);

/// Resolves once the TCP readiness probe succeeds; never for other readiness kinds.
pub(super) async fn probe(ready: &Readiness) {
    loop {
        let up = match ready {
            Readiness::Port(port) => {
                connects(&[
                    std::net::SocketAddr::from(([127, 0, 0, 1], *port)),
                    std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, *port)),
                ])
                .await
            }
            Readiness::Tcp(addr) => match tokio::net::lookup_host(addr.as_str()).await {
                Ok(addrs) => connects(&addrs.collect::<Vec<_>>()).await,
                Err(_) => false,
            },
            Readiness::Spawned | Readiness::Line(_) | Readiness::Notified => {
                return std::future::pending().await
            }
        };
        if up {
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

async fn connects(addrs: &[std::net::SocketAddr]) -> bool {
    for addr in addrs {
        if let Ok(Ok(_stream)) =
            tokio::time::timeout(PROBE_CONNECT_LIMIT, TcpStream::connect(addr)).await
        {
            return true;
        }
    }
    false
}
