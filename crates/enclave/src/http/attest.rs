//! The attested login's routes under `/v1/auth/attest` (see
//! [`crate::services::attest_login`]): `nonce` and `login` (open: the
//! caller proves itself with evidence), and its roles at `role/NAME`
//! (behind the guard, as any `/v1` route). Login tokens are bound to the
//! key of a connection's TLS client certificate
//! ([`super::attestation::ClientKey`]).

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::json;

use super::app::AppState;
use super::auth::auth_block;
use super::body::{check_params, json_body, Posted};
use super::envelope::{no_content, ok, ok_with_fields, Answering, Facts};
use super::exec::blocking;
use super::layers::Authed;
use crate::core::attest_roles;
use crate::error::Error;
use crate::services::attest_login::{self, LoginRequest, NONCE_LIFETIME};
use crate::services::audit::AttestedFacts;
use crate::services::classify::Classified;
use crate::services::source::Peer;
use crate::state::acl::Access;

/// `POST /v1/auth/attest/nonce`: a fresh single-use nonce for one login.
pub async fn nonce(
    State(app): State<AppState>,
    Extension(Peer(from)): Extension<Peer>,
    id: Answering,
) -> Result<Response, Error> {
    let nonce = app.attest.nonce(app.platform.as_ref(), from)?;
    Ok(ok(
        id,
        &json!({ "nonce": hex::encode(nonce), "ttl": NONCE_LIFETIME.as_secs() }),
        Facts::default(),
    ))
}

/// `POST /v1/auth/attest/login`: Vault's `auth` block with a token bound
/// to the workload's key, and the verified claims in `data`; 403 with the
/// reason if the evidence does not verify or match the role.
pub async fn login(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let req: LoginRequest = json_body(body).await?;
    // Anyone may ask, and verifying a quote costs: one of the bounded turns.
    let _turn = app.expensive_turn().await?;
    let app2 = app.clone();
    let done = tokio::task::spawn_blocking(move || app2.attest.login(&app2.state, req))
        .await
        .map_err(|e| Error::internal("login", e))?
        .inspect_err(|e| tracing::info!("{e}"))?;
    let rec = &done.record;
    let auth = auth_block(done.token.as_str(), &done.accessor, rec, rec.creation_ttl);
    let answer = ok_with_fields(
        id,
        &json!({ "claims": done.claims }),
        &[("auth", auth)],
        Facts::WROTE,
    );
    Ok(with_attested(
        answer,
        Some(done.accessor.as_str().into()),
        rec,
    ))
}

/// `response`, whose audit entry records what the login of token `rec`
/// verified (and names `accessor`, for a login).
pub fn with_attested(
    mut response: Response,
    accessor: Option<Arc<str>>,
    rec: &crate::state::tokens::TokenRecord,
) -> Response {
    if let Some(attested) = attest_login::attested_of(rec) {
        response.extensions_mut().insert(AttestedFacts {
            accessor,
            attested: Arc::new(attested),
        });
    }
    response
}

/// `LIST /v1/auth/attest/role` (or `GET ?list=true`): every role's name.
pub async fn list_roles(
    State(app): State<AppState>,
    id: Answering,
    method: Method,
    Extension(classified): Extension<Arc<Classified>>,
) -> Result<Response, Error> {
    if classified.access != Access::List {
        return Err(Error::WrongMethod(format!(
            "{method}: use LIST (or GET with ?list=true)"
        )));
    }
    let keys = attest_roles::list(&app.state);
    if keys.is_empty() {
        // As Vault answers an empty list.
        return Err(Error::not_found("no roles"));
    }
    Ok(ok(id, &json!({ "keys": keys }), Facts::default()))
}

/// `GET /v1/auth/attest/role/:name`.
pub async fn read_role(
    State(app): State<AppState>,
    id: Answering,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    let role = attest_roles::read(&app.state, &name)?;
    Ok(ok(id, &role, Facts::default()))
}

/// `POST`/`PUT /v1/auth/attest/role/:name`: 204.
pub async fn write_role(
    id: Answering,
    State(app): State<AppState>,
    Authed(writer): Authed,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let name = attest_roles::role_name(&name)?;
    // Read as JSON first: a role holds no secret, so serde's message (an
    // unknown field, a wrong type) may be shown as it is.
    let value: serde_json::Value = json_body(body).await?;
    let req: attest_roles::WriteRequest = serde_json::from_value(value.clone())
        .map_err(|e| Error::invalid(format!("invalid role: {e}")))?;
    // The constraints again, on the role as read (`"1"` is `true` to
    // `allow_simulation`): json_body saw only JSON values.
    if let serde_json::Value::Object(raw) = value {
        check_params(&writer.params, raw, &[], &req)?;
    }
    blocking(&app.state, move |s| {
        attest_roles::write(s, &writer, &name, req)
    })
    .await?;
    Ok(no_content(id))
}

/// `DELETE /v1/auth/attest/role/:name`: 204 (also when there was none).
pub async fn delete_role(
    id: Answering,
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    blocking(&app.state, move |s| attest_roles::delete(s, &name)).await?;
    Ok(no_content(id))
}
