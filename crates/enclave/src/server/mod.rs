//! The HTTPS accept loop, and [`tls`]: the TLS identity it serves. TLS
//! terminates here, inside the enclave; the host only ever sees TLS
//! records. [`limits`] bounds what one client may hold and for how long;
//! [`slots`] holds every connection to them; [`watchdog`] closes idle
//! connections; [`client_auth`] accepts optional client certificates.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::http::attestation::{ClientKey, ConnectionKey};
use crate::http::body::BodyLimit;
use crate::metrics::{self, Limit};
use crate::services::source::{Peer, Source};
use limits::{Limits, DRAIN_TIMEOUT, HANDSHAKE_TIMEOUT, HEADER_TIMEOUT};
use slots::Slots;
use tls::TlsState;
use unread::Unread;
use watchdog::{Activity, Handling};

pub mod client_auth;
pub mod limits;
pub mod slots;
pub mod tls;
mod unread;
pub mod watchdog;

/// Serves `app` over TLS on `listener` until `stop` turns true, then drains,
/// holding open connections within `limits`, and request bodies within
/// `body_limit`. With `keep_server_up = false`
/// it serves the first connection to the end and returns (the tutorial's
/// one-shot mode).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<TlsState>,
    app: Router,
    limits: Limits,
    body_limit: BodyLimit,
    keep_server_up: bool,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Slots::new(limits);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let mut one_shot = None;

    loop {
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
        // Accepted even when full, to see who it is: over its share it is
        // closed at once (so it cannot take the slots of everyone else);
        // under it, another connection is closed for it ([`slots`]).
        let activity = Activity::new();
        let Some(slot) = slots.take(peer.ip(), &activity) else {
            continue;
        };
        // No Nagle: the handshake's flights and small answers would wait
        // for the client's delayed ACK (40 ms on Linux).
        let _ = tcp.set_nodelay(true);
        // The certificate this connection gets, and which requests on it
        // can learn (attestation binds the key of the connection it is on).
        let served = tls.current();
        let acceptor = TlsAcceptor::from(served.config);
        // Who is asking, for the per-address bounds of the layers above
        // (nonces).
        let mut about = About {
            connection: ConnectionKey(served.pubkey_hash),
            peer: Peer(Source::of(peer.ip())),
            client: None,
            body_limit,
        };
        let app = app.clone();
        let handling = activity.clone();
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let task = tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Err(_) => {
                    metrics::get().refused(Limit::HandshakeTimeout);
                    return;
                }
                // Failed handshakes are the client's business; logging
                // each would let anyone flood the host's log.
                _ => return,
            };
            // A client certificate's key, for tokens bound to one.
            about.client =
                client_auth::client_key(tls.get_ref().1.peer_certificates()).map(ClientKey);
            let service = hyper::service::service_fn(move |request| {
                handle(app.clone(), about, handling.handling(), request)
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                debug!("connection from {peer} ended: {e}");
            }
        });
        activity.watch(task.abort_handle(), peer);
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

/// What the handlers may ask about the connection a request came on.
/// Put into each request here rather than by `Router::layer` on every
/// connection, which rebuilt the whole route table per connection and
/// cloned a boxed service per request.
#[derive(Clone, Copy)]
struct About {
    /// Attestation binds the key of the connection it is on.
    connection: ConnectionKey,
    /// Who is asking, for the per-address bounds of the layers above.
    peer: Peer,
    /// A client certificate's key, for tokens bound to one.
    client: Option<ClientKey>,
    /// How large a request body may be (`kms-host run --max-request-size`).
    body_limit: BodyLimit,
}

/// One request through `app`, counted in the metrics by route family and
/// status; the connection counts as busy until it is answered.
async fn handle(
    app: Router,
    about: About,
    _handling: Handling,
    request: Request<hyper::body::Incoming>,
) -> Result<Response, Infallible> {
    let start = std::time::Instant::now();
    let family = metrics::family(request.uri().path());
    let Ok(response) = handle_request(app, about, request).await;
    metrics::get().request(family, response.status().as_u16(), start);
    Ok(response)
}

/// Over HTTP/2, what the handlers left of the body is read before the
/// answer goes ([`unread`]).
async fn handle_request(
    mut app: Router,
    about: About,
    mut request: Request<hyper::body::Incoming>,
) -> Result<Response, Infallible> {
    use hyper::body::Body as _;
    crate::http::help::rewrite(&mut request);
    let extensions = request.extensions_mut();
    extensions.insert(about.connection);
    extensions.insert(about.peer);
    extensions.insert(about.body_limit);
    if let Some(client) = about.client {
        extensions.insert(client);
    }
    if request.version() != axum::http::Version::HTTP_2 || request.body().is_end_stream() {
        return tower::Service::call(&mut app, request).await;
    }
    let (parts, body) = request.into_parts();
    let unread = Unread::new(body);
    let request = Request::from_parts(parts, unread.body());
    let response = tower::Service::call(&mut app, request).await;
    unread.drain().await;
    response
}
