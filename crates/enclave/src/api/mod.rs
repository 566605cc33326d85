//! The HTTP API, one module per operation, all behind [`router`].
//! Every error leaves as JSON `{"errors": [...]}` with the right status and
//! never carries a secret or an internal detail; details go to the log.

mod attestation;
mod generate;
pub mod rsa_pool;
mod status;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::audit::AuditLog;
use crate::ca::TlsCa;
use crate::platform::Platform;
use crate::transit::Transit;

pub use attestation::claims;

/// Shared state of every handler: one `Arc`, since axum clones the state
/// for every request and every middleware.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What the handlers share.
pub struct Services {
    pub platform: Arc<dyn Platform>,
    /// Managed keys (the `/v1` routes).
    pub transit: Arc<Transit>,
    /// The TLS CA, whose key evidence binds.
    pub ca: Arc<TlsCa>,
    /// The audit log every `/v1` request is recorded in.
    pub audit: Arc<AuditLog>,
    /// RSA-2048 pairs made ahead of demand.
    pub rsa_pool: Arc<rsa_pool::RsaPool>,
    /// `GET /`'s answer, written once ([`status::document`]).
    pub status: axum::body::Bytes,
}

pub fn router(
    platform: Arc<dyn Platform>,
    transit: Arc<Transit>,
    ca: Arc<TlsCa>,
    audit: Arc<AuditLog>,
) -> Router {
    let state = AppState(Arc::new(Services {
        status: status::document(platform.as_ref()),
        platform,
        transit,
        ca,
        audit,
        rsa_pool: rsa_pool::RsaPool::new(rsa_pool::CAPACITY),
    }));
    // Every matched `/v1` route is audited (unmatched paths touch nothing):
    // a `/v1` router takes the audit layer and puts it in front of each of
    // its routes, outside its guard (so refusals are audited too).
    let v1 = crate::transit::routes(
        state.clone(),
        StateLayer::new(state.clone(), crate::audit::Audit),
    );
    Router::new()
        .route("/", get(status::status))
        .route("/generate-aes-key", get(generate::aes_key))
        .route("/generate-rsa-key-pair", get(generate::rsa_key_pair))
        .route("/attestation", get(attestation::evidence))
        .merge(v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// A route layer that puts a middleware of kind `K` in front of each
/// route, with the app state: `Middleware<K, S>` implements tower's
/// `Service` once per kind ([`crate::audit::Audit`],
/// [`crate::transit::auth::Guard`]). Hand-written rather than axum's
/// `from_fn`, whose future keeps the request's parts several times over:
/// ~1.1-1.7 KB, past glibc's thread cache (1032 bytes), so every request
/// took malloc's slow path (and a `malloc_consolidate`) once per layer.
#[derive(Clone)]
pub struct StateLayer<K> {
    state: AppState,
    kind: K,
}

impl<K> StateLayer<K> {
    pub fn new(state: AppState, kind: K) -> Self {
        Self { state, kind }
    }
}

impl<K: Clone, S> tower::Layer<S> for StateLayer<K> {
    type Service = Middleware<K, S>;

    fn layer(&self, inner: S) -> Middleware<K, S> {
        Middleware {
            inner,
            state: self.state.clone(),
            kind: self.kind.clone(),
        }
    }
}

/// A route (`inner`) with a [`StateLayer`]'s middleware in front.
#[derive(Clone)]
pub struct Middleware<K, S> {
    pub inner: S,
    pub state: AppState,
    pub kind: K,
}

/// What a middleware's `call` returns.
pub type MiddlewareFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
>;

/// A middleware kind: what [`Middleware`] does with each request.
pub trait MiddlewareKind<S>: Sized {
    /// Handles `request`, calling `mw.inner` (readied by `poll_ready`).
    fn call(mw: &mut Middleware<Self, S>, request: Request) -> MiddlewareFuture;
}

impl<K, S> tower::Service<Request> for Middleware<K, S>
where
    K: MiddlewareKind<S>,
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = MiddlewareFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> MiddlewareFuture {
        K::call(self, request)
    }
}

/// An error as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A failure that is ours, not the client's: logged, answered vaguely.
    pub fn internal(what: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{what} failed: {detail}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "errors": [self.message] })),
        )
            .into_response()
    }
}

/// Paths are echoed back shortened, so an error never mirrors a huge input.
fn shown_path(req: &Request) -> String {
    let path = req.uri().path();
    match path.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &path[..cut]),
        None => path.to_string(),
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such route: {} {}", req.method(), shown_path(&req)),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {} is not allowed on {}",
            req.method(),
            shown_path(&req)
        ),
    )
}
