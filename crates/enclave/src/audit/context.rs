//! The audited request's context, visible to its handler: the request id
//! (Vault's envelope returns it as `request_id`) and the key version the
//! answer names. A tokio task-local, carried into `spawn_blocking` by
//! [`in_context`].

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

tokio::task_local! {
    static CURRENT: Arc<RequestContext>;
}

/// One request's audit context.
pub struct RequestContext {
    pub request_id: String,
    key_version: Mutex<Option<u64>>,
}

impl RequestContext {
    pub fn new() -> Self {
        Self {
            request_id: new_request_id(),
            key_version: Mutex::new(None),
        }
    }

    pub fn key_version(&self) -> Option<u64> {
        *self
            .key_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for RequestContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `f` as the request `ctx`.
pub async fn scope<F: Future>(ctx: Arc<RequestContext>, f: F) -> F::Output {
    CURRENT.scope(ctx, f).await
}

/// The current request's context, to carry onto a blocking thread.
pub fn current() -> Option<Arc<RequestContext>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Runs `f` (on a blocking thread) as the request `ctx`, if any.
pub fn in_context<R>(ctx: Option<Arc<RequestContext>>, f: impl FnOnce() -> R) -> R {
    match ctx {
        Some(ctx) => CURRENT.sync_scope(ctx, f),
        None => f(),
    }
}

/// The current request's id; a fresh one outside any audited request.
pub fn request_id() -> String {
    CURRENT
        .try_with(|c| c.request_id.clone())
        .unwrap_or_else(|_| new_request_id())
}

/// Notes the key version an answer names (`key_version`, else
/// `latest_version` of a key description), for the audit entry.
pub fn note_key_version(data: &serde_json::Value) {
    let version = data
        .get("key_version")
        .or_else(|| data.get("latest_version"))
        .and_then(serde_json::Value::as_u64);
    if let Some(v) = version {
        let _ = CURRENT.try_with(|c| {
            *c.key_version.lock().unwrap_or_else(PoisonError::into_inner) = Some(v);
        });
    }
}

/// A random UUID-shaped id, as Vault's.
pub fn new_request_id() -> String {
    let mut id = [0u8; 16];
    // The OS random source does not fail on Linux; a zero id would still
    // be a valid (if poor) id.
    let _ = aws_lc_rs::rand::fill(&mut id);
    let h = hex::encode(id);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Now, RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}
