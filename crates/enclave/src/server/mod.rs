//! The HTTPS accept loop, and [`tls`]: the TLS identity it serves. TLS terminates here, inside the enclave; the
//! host only ever sees TLS records.
//!
//! Limits: at most [`MAX_CONNECTIONS`] open connections (further clients
//! wait in the kernel's backlog), a TLS handshake must finish within
//! [`HANDSHAKE_TIMEOUT`], and on shutdown open connections get
//! [`DRAIN_TIMEOUT`] to finish what they are doing.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::http::attestation::ConnectionKey;
use tls::TlsState;

pub mod tls;

pub const MAX_CONNECTIONS: usize = 1024;
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` over TLS on `listener` until `stop` turns true, then drains.
/// With `keep_server_up = false` it serves the first connection to the end
/// and returns (the tutorial's one-shot mode).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<TlsState>,
    app: Router,
    keep_server_up: bool,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut one_shot = None;

    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        // No Nagle: the handshake's flights and small answers would wait
        // for the client's delayed ACK (40 ms on Linux).
        let _ = tcp.set_nodelay(true);
        // The certificate this connection gets, and which requests on it
        // can learn (attestation binds the key of the connection it is on).
        let served = tls.current();
        let acceptor = TlsAcceptor::from(served.config);
        let service = TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(ConnectionKey(served.pubkey_hash))),
        );
        let watcher = graceful.watcher();
        let task = tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                // Failed handshakes are the client's business; logging
                // each would let anyone flood the host's log.
                _ => return,
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
        if !keep_server_up {
            one_shot = Some(task);
            break;
        }
    }
    drop(listener);

    if let Some(task) = one_shot {
        // Serve the single connection to its end unless told to stop.
        tokio::select! {
            _ = task => return,
            _ = stopped(&mut stop) => {}
        }
    }
    info!("draining open connections");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
