//! What every handler shares.

use std::sync::Arc;

use crate::platform::Platform;
use crate::services::audit::AuditLog;
use crate::services::ca::TlsCa;
use crate::services::rsa_pool::RsaPool;
use crate::state::State;

/// Shared state of every handler: one `Arc`, since axum clones the state
/// for every request and every middleware.
#[derive(Clone)]
pub struct AppState(pub Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What the handlers share.
pub struct Services {
    pub platform: Arc<dyn Platform>,
    /// The sealed state: keys, tokens, policies.
    pub state: Arc<State>,
    /// The TLS CA, whose key evidence binds.
    pub ca: Arc<TlsCa>,
    /// The audit log every `/v1` request is recorded in.
    pub audit: Arc<AuditLog>,
    /// RSA-2048 pairs made ahead of demand.
    pub rsa_pool: Arc<RsaPool>,
    /// `GET /`'s answer, written once (`crate::http::status::document`).
    pub status: axum::body::Bytes,
}
