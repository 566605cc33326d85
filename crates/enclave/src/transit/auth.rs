//! Who may do what: the root token made at `PUT /v1/sys/init` (shown once,
//! only its SHA-256 stored, sealed), the tokens made from it
//! ([`super::tokens`]) and their ACL policies ([`super::acl`]).
//!
//! [`Authed`] is the one place that decides. [`super::routes`] puts [`Guard`]
//! in front of every `/v1` route but `sys/init`, so a handler that forgets to
//! take an `Authed` is still guarded; a handler that takes one gets the
//! decision already made for its request (it is made once per request, so a
//! limited-use token is used once).

use std::convert::Infallible;
use std::sync::Arc;

use aws_lc_rs::digest;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use zeroize::Zeroizing;

use super::tokens::TokenRecord;
use super::{blocking, json_body, Fail};
use crate::api::{AppState, Middleware, MiddlewareFuture, MiddlewareKind};

pub fn token_hash(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A token's accessor: names the token in logs and admin calls without
/// revealing it. Derived from the token's hash (one-way), so whoever holds
/// only the stored hash can name the token, and nobody can go back.
pub fn accessor(token_hash: &[u8; 32]) -> String {
    let mut input = b"minikms token accessor v1".to_vec();
    input.extend_from_slice(token_hash);
    let d = digest::digest(&digest::SHA256, &input);
    super::hex_encode(&d.as_ref()[..12])
}

/// A new random token: `hvs.` and base64url of 32 random bytes.
pub fn new_token() -> Result<Zeroizing<String>, Fail> {
    let raw = super::keys::random(32)?;
    Ok(Zeroizing::new(format!(
        "hvs.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_slice())
    )))
}

/// What a request asks to do, as Vault maps HTTP methods to capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// GET.
    Read,
    /// LIST, or GET with `?list=true`.
    List,
    /// POST and PUT: `create` for a new transit key, `update` otherwise.
    Write,
    /// DELETE.
    Delete,
}

/// Proof that the request carried a valid token whose policies allow this
/// method on this path. Every protected handler takes one; without it the
/// request ends with 403 before the body is read.
#[derive(Clone)]
pub struct Authed(Arc<Identity>);

/// The token a request came with, after its use was counted.
pub struct Identity {
    pub accessor: Arc<str>,
    /// `None` for the root token.
    pub record: Option<TokenRecord>,
    /// Whether the token has a use limit (it then makes no children).
    pub limited: bool,
}

impl Identity {
    pub fn root(accessor: Arc<str>) -> Self {
        Self {
            accessor,
            record: None,
            limited: false,
        }
    }

    pub fn is_root(&self) -> bool {
        self.record.is_none()
    }

    pub fn policies(&self) -> Vec<String> {
        match &self.record {
            None => vec!["root".into()],
            Some(r) => r.policies.clone(),
        }
    }
}

impl Authed {
    pub fn identity(&self) -> &Identity {
        &self.0
    }
}

/// The token a request presents, as the guard and the audit log know it:
/// its SHA-256 and its accessor. Both hashes are made once per request:
/// the audit layer keeps the credential in the request's extensions.
#[derive(Clone)]
pub struct Credential {
    pub hash: [u8; 32],
    /// Shared: the audit entry, the guard and the identity each keep it.
    pub accessor: Arc<str>,
}

impl Credential {
    pub fn of_token(token: &str) -> Self {
        let hash = token_hash(token);
        Self {
            accessor: accessor(&hash).into(),
            hash,
        }
    }

    /// The credential in `extensions`, else the one `headers` present.
    pub fn presented(
        headers: &axum::http::HeaderMap,
        extensions: &axum::http::Extensions,
    ) -> Option<Self> {
        match extensions.get::<Credential>() {
            Some(known) => Some(known.clone()),
            None => presented_token(headers).map(Self::of_token),
        }
    }
}

const X_VAULT_TOKEN: axum::http::HeaderName = axum::http::HeaderName::from_static("x-vault-token");

/// The token a request presents: `X-Vault-Token`, else `Authorization:
/// Bearer`. The one reading of it, for the guard and the audit log.
pub fn presented_token(headers: &axum::http::HeaderMap) -> Option<&str> {
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

/// The path a policy is checked against: the request path without `/v1/`,
/// percent-decoded as the handlers' `Path` extractors decode it (so the
/// policy and the handler see the same name); list requests end in `/`,
/// as in Vault (`transit/keys/*` grants listing `transit/keys`).
fn policy_path(parts: &Parts, op: Op) -> Result<String, Fail> {
    let raw = parts
        .uri
        .path()
        .strip_prefix("/v1/")
        .ok_or_else(Fail::denied)?;
    let mut path = percent_decode(raw).ok_or_else(|| Fail::bad("invalid percent-encoding"))?;
    if op == Op::List && !path.ends_with('/') {
        path.push('/');
    }
    Ok(path)
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        // Most paths: one copy instead of a byte-by-byte loop.
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn op_of(parts: &Parts) -> Op {
    let list_query = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "list=true" || kv == "list=1"));
    match parts.method {
        Method::GET | Method::HEAD if list_query => Op::List,
        Method::GET | Method::HEAD => Op::Read,
        Method::DELETE => Op::Delete,
        Method::POST | Method::PUT => Op::Write,
        ref m if m.as_str() == "LIST" => Op::List,
        // Anything else is no route of ours; writing is the strictest ask.
        _ => Op::Write,
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Fail> {
        if let Some(done) = parts.extensions.get::<Authed>() {
            return Ok(done.clone());
        }
        let credential =
            Credential::presented(&parts.headers, &parts.extensions).ok_or_else(Fail::denied)?;
        let op = op_of(parts);
        let path = policy_path(parts, op)?;
        // Most decisions are a lookup; only those that write go to a
        // blocking thread (a thread hand-off costs more than the lookup).
        let identity = match state.transit.authorize_in_memory(&credential, &path, op) {
            Some(decided) => decided?,
            None => blocking(&state.transit, move |t| t.authorize(&credential, &path, op)).await?,
        };
        let authed = Authed(Arc::new(identity));
        parts.extensions.insert(authed.clone());
        Ok(authed)
    }
}

/// The middleware on every protected route (a [`StateLayer`]): decides
/// (through [`Authed`]) before the handler runs, whatever the handler
/// takes.
#[derive(Clone, Copy)]
pub struct Guard;

impl<S> MiddlewareKind<S> for Guard
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    fn call(mw: &mut Middleware<Self, S>, request: Request) -> MiddlewareFuture {
        // The ready service goes with the request; a clone stays here for
        // the next one (tower's contract: call what poll_ready readied).
        let fresh = mw.inner.clone();
        let mut inner = std::mem::replace(&mut mw.inner, fresh);
        let state = mw.state.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match Authed::from_request_parts(&mut parts, &state).await {
                Ok(_) => inner.call(Request::from_parts(parts, body)).await,
                Err(fail) => Ok(fail.into_response()),
            }
        })
    }
}

/// `GET /v1/sys/init`: `{"initialized": bool}` (open, as in Vault).
pub async fn init_status(State(state): State<AppState>) -> Response {
    axum::Json(serde_json::json!({ "initialized": state.transit.is_initialised() })).into_response()
}

#[derive(Default, serde::Deserialize)]
pub struct InitRequest {}

/// `PUT /v1/sys/init`: makes the root token, returns it once. Vault's
/// unseal-key fields are empty: the enclave's sealing key replaces them.
pub async fn init(State(state): State<AppState>, body: Body) -> Result<Response, Fail> {
    let _: InitRequest = json_body(body).await?;
    let token = new_token()?;
    let hash = token_hash(&token);
    blocking(&state.transit, move |t| t.initialise(hash)).await?;
    Ok(axum::Json(serde_json::json!({
        "keys": [],
        "keys_base64": [],
        "root_token": token.as_str(),
    }))
    .into_response())
}
