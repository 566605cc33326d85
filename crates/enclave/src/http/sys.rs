//! `sys/seal-status` and `sys/unseal` in Vault's shapes (hvac's
//! `sys.read_seal_status`, `sys.submit_unseal_key(s)`), for an open
//! store; a sealed one answers them in [`super::sealed`].

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::app::AppState;
use super::body::json_body;
use crate::error::Error;
use crate::services::recovery::RecoveryInfo;

/// `PUT /v1/sys/unseal`'s body.
#[derive(Default, Deserialize)]
pub struct UnsealRequest {
    /// One share, hex or base64.
    #[serde(default)]
    pub key: Option<Zeroizing<String>>,
    /// Forget the shares given so far.
    #[serde(default)]
    pub reset: bool,
}

/// Vault's seal status.
pub fn seal_status(
    initialized: bool,
    sealed: bool,
    info: Option<&RecoveryInfo>,
    progress: usize,
) -> Response {
    axum::Json(json!({
        "type": "shamir",
        "initialized": initialized,
        "sealed": sealed,
        "t": info.map_or(0, |i| i.threshold),
        "n": info.map_or(0, |i| i.shares),
        "progress": progress,
        "nonce": "",
        "version": env!("CARGO_PKG_VERSION"),
        "migration": false,
        "recovery_seal": false,
        "storage_type": "redb",
    }))
    .into_response()
}

/// `GET /v1/sys/seal-status` of an open store.
pub async fn status(State(app): State<AppState>) -> Response {
    let info = app.recovery.info();
    seal_status(app.state.is_initialised(), false, info.as_ref(), 0)
}

/// `PUT /v1/sys/unseal` of an open store: nothing to do, as Vault answers
/// an unsealed server; the body is still checked.
pub async fn unseal(State(app): State<AppState>, body: Body) -> Result<Response, Error> {
    let _req: UnsealRequest = json_body(body).await?;
    Ok(status(State(app)).await)
}
