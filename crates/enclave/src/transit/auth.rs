//! Tokens: the root token made at `PUT /v1/sys/init` (shown once, only its
//! SHA-256 stored, sealed), checked on every `/v1` route by [`Authed`].

use aws_lc_rs::digest;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use zeroize::Zeroizing;

use super::{blocking, envelope, json_body, Fail};
use crate::api::AppState;

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

/// Proof that the request carried a valid token. Every protected handler
/// takes one; without it the request ends with 403 before the body is read.
pub struct Authed;

impl FromRequestParts<AppState> for Authed {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Fail> {
        let headers = &parts.headers;
        let token = headers
            .get("x-vault-token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .or_else(|| {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim)
            })
            .ok_or_else(Fail::denied)?;
        let Some(root) = state.transit.root_hash() else {
            return Err(Fail::denied());
        };
        let given = token_hash(token);
        aws_lc_rs::constant_time::verify_slices_are_equal(&given, &root)
            .map_err(|_| Fail::denied())?;
        Ok(Authed)
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
    let raw = super::keys::random(32)?;
    let token = Zeroizing::new(format!(
        "hvs.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_slice())
    ));
    let hash = token_hash(&token);
    blocking(&state.transit, move |t| t.initialise(hash)).await?;
    Ok(axum::Json(serde_json::json!({
        "keys": [],
        "keys_base64": [],
        "root_token": token.as_str(),
    }))
    .into_response())
}

/// `GET /v1/auth/token/lookup-self`.
pub async fn lookup_self(_: Authed, State(state): State<AppState>) -> Response {
    let accessor = state.transit.root_hash().map(|h| accessor(&h));
    envelope(serde_json::json!({
        "accessor": accessor,
        "creation_time": 0,
        "creation_ttl": 0,
        "display_name": "root",
        "entity_id": "",
        "expire_time": null,
        "explicit_max_ttl": 0,
        "meta": null,
        "num_uses": 0,
        "orphan": true,
        "path": "auth/token/root",
        "policies": ["root"],
        "renewable": false,
        "ttl": 0,
        "type": "service",
    }))
}
