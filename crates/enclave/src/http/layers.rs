//! The two layers in front of every `/v1` route: [`Audit`] outside (every
//! matched request gets an id, a classification and an audit entry, a
//! refusal too), [`Guard`] inside (no handler runs for a request its token
//! does not allow). `sys/init` has only the audit layer.
//!
//! One request, top-down: [`Audit`] classifies it once
//! ([`crate::services::classify`]), hashes the presented token once, and
//! puts both and the request id in the request's extensions; [`Guard`]
//! decides on them ([`crate::services::guard`]) and puts the [`Authed`]
//! identity there; the handler answers and states its [`Facts`] in the
//! request's [`FactsSlot`] (as the guard does when it wrote a limited
//! token's use); [`Audit`] records the entry from the classification and
//! the facts, and only then lets the answer go.
//!
//! Requests without a valid token (the open routes, and the refusals for
//! want of one) are rate-limited per client address
//! ([`crate::services::throttle`]: 429) and counted per address rather
//! than recorded one by one, except the open successes that matter
//! ([`Classified::recorded_alone`]). While the audit log cannot take
//! entries (a full disk), [`Audit`] refuses every request with 503 before
//! it does anything.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};

use super::app::AppState;
use super::attestation::ClientKey;
use super::envelope::{Facts, FactsSlot};
use super::error::NoValidToken;
use crate::error::Error;
use crate::services::audit::{AttestedFacts, AuditError, Record, RequestId, UNWRITABLE};
use crate::services::classify::{classify, Classified};
use crate::services::guard;
use crate::services::source::{Peer, Source};
use crate::state::tokens::{Credential, Identity};

/// A route layer that puts a middleware of kind `K` in front of each
/// route, with the app state: `Middleware<K, S>` implements tower's
/// `Service` once per kind ([`Audit`], [`Guard`]). Hand-written rather
/// than axum's `from_fn`, whose future keeps the request's parts several
/// times over (past glibc's thread cache, so every request took malloc's
/// slow path once per layer).
#[derive(Clone)]
pub struct StateLayer<K> {
    state: AppState,
    kind: PhantomData<fn() -> K>,
}

impl<K> StateLayer<K> {
    pub fn new(state: AppState, _kind: K) -> Self {
        Self {
            state,
            kind: PhantomData,
        }
    }
}

impl<K, S> tower::Layer<S> for StateLayer<K> {
    type Service = Middleware<K, S>;

    fn layer(&self, inner: S) -> Middleware<K, S> {
        Middleware {
            inner,
            state: self.state.clone(),
            kind: PhantomData,
        }
    }
}

/// A route (`inner`) with a [`StateLayer`]'s middleware in front.
pub struct Middleware<K, S> {
    inner: S,
    state: AppState,
    kind: PhantomData<fn() -> K>,
}

impl<K, S: Clone> Clone for Middleware<K, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            state: self.state.clone(),
            kind: PhantomData,
        }
    }
}

/// What a middleware's `call` returns.
type MiddlewareFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send>>;

/// A middleware kind: what [`Middleware`] does with each request.
pub trait MiddlewareKind<S>: Sized {
    /// Handles `request`, calling `mw.inner` (readied by `poll_ready`).
    fn call(mw: &mut Middleware<Self, S>, request: Request) -> MiddlewareFuture;
}

impl<K, S> tower::Service<Request> for Middleware<K, S>
where
    K: MiddlewareKind<S>,
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
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

const X_VAULT_TOKEN: HeaderName = HeaderName::from_static("x-vault-token");

/// The token a request presents: `X-Vault-Token`, else `Authorization:
/// Bearer`. The one reading of it.
pub(super) fn presented_token(headers: &HeaderMap) -> Option<&str> {
    headers
        // A HeaderName, not a &str: a &str is parsed into one per lookup.
        .get(X_VAULT_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or_else(|| {
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
        })
        .filter(|t| !t.is_empty())
}

/// The client a request comes from: the connection's peer (always there
/// on a served connection; the unspecified address otherwise).
fn source_of(request: &Request) -> Source {
    request.extensions().get::<Peer>().map_or_else(
        || Source::of(std::net::Ipv4Addr::UNSPECIFIED.into()),
        |p| p.0,
    )
}

/// The answer to a request whose entry the log could not take.
fn unrecorded(e: AuditError) -> Response {
    match e {
        AuditError::Unwritable { .. } => Error::Busy(UNWRITABLE.into()).into_response(),
        e => Error::internal("audit log write", e).into_response(),
    }
}

/// An answer ready at once.
fn answered(response: Response) -> MiddlewareFuture {
    Box::pin(std::future::ready(Ok(response)))
}

/// The audit layer: gives the request its id, classification and
/// credential, runs it, and records its entry before the answer leaves
/// (or counts it, for a request without a valid token).
#[derive(Clone, Copy)]
pub struct Audit;

impl<S> MiddlewareKind<S> for Audit
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    fn call(mw: &mut Middleware<Self, S>, mut req: Request) -> MiddlewareFuture {
        let pattern = req.extensions().get::<MatchedPath>().cloned();
        let pattern = pattern.as_ref().map_or("", MatchedPath::as_str);
        let classified = Arc::new(classify(
            req.method().as_str(),
            req.uri().path(),
            req.uri().query(),
            pattern,
        ));
        let state = mw.state.clone();
        // Nothing is done that could not be recorded.
        if let Err(e) = state.audit.admit() {
            return answered(unrecorded(e));
        }
        let source = source_of(&req);
        if !classified.needs_token {
            if let Err(seconds) = state.throttle.take(source) {
                let route = &classified.route;
                state.audit.count(source, classified.verb, route, 429);
                return answered(Error::RateLimited(seconds).into_response());
            }
        }
        let credential = presented_token(req.headers()).map(Credential::of_token);
        let accessor = credential.as_ref().map(|c| c.accessor.clone());
        let request_id = RequestId::new();
        let facts = Arc::new(FactsSlot::default());
        let extensions = req.extensions_mut();
        extensions.insert(request_id);
        extensions.insert(facts.clone());
        extensions.insert(classified.clone());
        if let Some(credential) = credential {
            extensions.insert(credential);
        }
        // Called here, after our poll_ready said the inner service is ready.
        let handled = mw.inner.call(req);
        Box::pin(async move {
            let Ok(mut response) = handled.await;
            let status = response.status();
            // Refused for want of a token, or an open route's answer that
            // is not recorded alone (only some successes are).
            let recorded_alone = classified.recorded_alone && status.is_success();
            let counted = response.extensions().get::<NoValidToken>().is_some()
                || !(classified.needs_token || recorded_alone);
            if counted {
                let route = &classified.route;
                state
                    .audit
                    .count(source, classified.verb, route, status.as_u16());
                return Ok(response);
            }
            let attested = response.extensions_mut().remove::<AttestedFacts>();
            let (accessor, attested) = match attested {
                Some(a) => (a.accessor.or(accessor), Some(a.attested)),
                None => (accessor, None),
            };
            let facts = facts.told();
            let Classified {
                verb, route, key, ..
            } = Arc::unwrap_or_clone(classified);
            let record = Record {
                request_id,
                accessor,
                verb,
                route,
                key,
                key_version: facts.key_version,
                status: response.status().as_u16(),
                attested,
            };
            Ok(match state.audit.record(record, facts.durable).await {
                Ok(()) => response,
                Err(e) => unrecorded(e),
            })
        })
    }
}

/// Proof that the guard allowed the request: the token's identity, its
/// use counted. Handlers that need to know who asks take one.
#[derive(Clone)]
pub struct Authed(pub Arc<Identity>);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        // Only the guard puts one there; without it, nothing is allowed.
        parts
            .extensions
            .get::<Authed>()
            .cloned()
            .ok_or(Error::Denied)
    }
}

/// The request's classification, for the key name in its path (decoded
/// once, by the classifier): handlers take the name from here, not from
/// the path again.
pub struct Named(Arc<Classified>);

impl Named {
    /// The key named in the path.
    pub fn key(&self) -> Result<&str, Error> {
        // The guard refused a path that does not decode: not reached.
        self.0.key.as_deref().ok_or_else(|| {
            Error::invalid(format!("invalid key name: {}", minikms_api::key_name::RULE))
        })
    }

    /// The whole classification.
    pub fn classified(&self) -> &Classified {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Named {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        // Only the audit layer puts one there.
        parts
            .extensions
            .get::<Arc<Classified>>()
            .cloned()
            .map(Named)
            .ok_or(Error::Denied)
    }
}

/// The guard layer: decides ([`guard::decide`]) before the handler runs,
/// whatever the handler takes.
#[derive(Clone, Copy)]
pub struct Guard;

impl<S> MiddlewareKind<S> for Guard
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    fn call(mw: &mut Middleware<Self, S>, mut request: Request) -> MiddlewareFuture {
        // The ready service goes with the request; a clone stays here for
        // the next one (tower's contract: call what poll_ready readied).
        let fresh = mw.inner.clone();
        let mut inner = std::mem::replace(&mut mw.inner, fresh);
        let state = mw.state.clone();
        Box::pin(async move {
            let extensions = request.extensions_mut();
            let credential = extensions.remove::<Credential>();
            let Some(classified) = extensions.get::<Arc<Classified>>().cloned() else {
                return Ok(Error::Denied.into_response());
            };
            let client_key = extensions.get::<ClientKey>().map(|k| k.0);
            let source = source_of(&request);
            let mut decision =
                guard::decide(&state.state, credential, &classified, client_key).await;
            // Refusals for want of a valid token cost their sender nothing:
            // limited per address too.
            if matches!(decision.identity, Err(Error::Unauthenticated)) {
                if let Err(seconds) = state.throttle.take(source) {
                    decision.identity = Err(Error::RateLimited(seconds));
                }
            }
            if decision.wrote {
                if let Some(slot) = request.extensions().get::<Arc<FactsSlot>>() {
                    slot.tell(Facts::WROTE);
                }
            }
            Ok(match decision.identity {
                Ok(identity) => {
                    request.extensions_mut().insert(Authed(Arc::new(identity)));
                    let Ok(response) = inner.call(request).await;
                    response
                }
                Err(e) => e.into_response(),
            })
        })
    }
}
