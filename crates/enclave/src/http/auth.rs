//! `sys/init` and the token routes under `/v1/auth/token`, in Vault's
//! shapes (hvac's `client.sys.initialize`, `client.auth.token.*`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::app::AppState;
use super::body::{json_body, Posted};
use super::envelope::{no_content, ok, ok_secret, ok_with_fields, Answering, Facts};
use super::exec::blocking;
use super::layers::Authed;
use super::secret;
use crate::core::{init as initialise, tokens};
use crate::error::Error;

/// `GET /v1/sys/init`: `{"initialized": bool}` (open, as in Vault).
pub async fn init_status(State(app): State<AppState>) -> Response {
    axum::Json(json!({ "initialized": app.state.is_initialised() })).into_response()
}

/// `PUT /v1/sys/init`: makes the root token and the recovery shares
/// asked for, returns them once.
pub async fn init(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let req: initialise::InitRequest = json_body(body).await?;
    let (platform, recovery) = (app.platform.clone(), app.recovery.clone());
    let done = blocking(&app.state, move |s| {
        initialise::init(s, platform.as_ref(), &recovery, req)
    })
    .await?;
    id.tell(Facts::WROTE);
    Ok(secret::json(&done))
}

/// `PUT /v1/sys/recovery-shares`: recovery shares for an initialised store
/// that has none, answered once, encrypted; root only.
pub async fn recovery_shares(
    State(app): State<AppState>,
    id: Answering,
    Authed(identity): Authed,
    body: Posted,
) -> Result<Response, Error> {
    let req: crate::store::recovery::SplitRequest = json_body(body).await?;
    let (platform, recovery) = (app.platform.clone(), app.recovery.clone());
    let shares = blocking(&app.state, move |s| {
        initialise::recovery_shares(s, platform.as_ref(), &recovery, &identity, req)
    })
    .await?;
    Ok(ok_secret(id, &shares, Facts::WROTE))
}

/// `POST /v1/auth/token/create`: Vault's `auth` block, token shown once.
pub async fn create(
    State(app): State<AppState>,
    id: Answering,
    Authed(identity): Authed,
    body: Posted,
) -> Result<Response, Error> {
    create_with(app, id, identity, body, tokens::create).await
}

/// `POST /v1/auth/token/create-orphan`: as create, without a parent (root
/// only).
pub async fn create_orphan(
    State(app): State<AppState>,
    id: Answering,
    Authed(identity): Authed,
    body: Posted,
) -> Result<Response, Error> {
    create_with(app, id, identity, body, tokens::create_orphan).await
}

type Make = fn(
    &crate::state::State,
    &crate::state::tokens::Identity,
    tokens::CreateRequest,
) -> Result<tokens::Created, Error>;

/// The warning a token made with a caller-chosen `id` comes with.
const CHOSEN_ID_WARNING: &str = "Supplying a custom ID for the token makes a token only as strong as the ID chosen; the tokens minikms makes are 32 random bytes.";

async fn create_with(
    app: AppState,
    id: Answering,
    identity: std::sync::Arc<crate::state::tokens::Identity>,
    body: Posted,
    make: Make,
) -> Result<Response, Error> {
    let req: tokens::CreateRequest = json_body(body).await?;
    let made = blocking(&app.state, move |s| make(s, &identity, req)).await?;
    let rec = &made.record;
    let auth = auth_block(made.token.as_str(), &made.accessor, rec, rec.creation_ttl);
    // As Vault: a token may name a policy not written yet; it is warned of.
    let known = crate::core::policies::list(&app.state);
    let mut warnings: Vec<String> = rec
        .policies
        .iter()
        .filter(|p| !known.contains(p))
        .map(|p| format!("Policy {p:?} does not exist"))
        .collect();
    // Vault warns of a caller-chosen token too (of its weaker hashing);
    // minikms hashes every token alike, and warns of what is weaker.
    if made.chosen {
        warnings.push(CHOSEN_ID_WARNING.to_string());
    }
    if let Some(asked) = made.capped_from {
        warnings.push(tokens::capped_warning(asked));
    }
    let mut fields = vec![("auth", auth)];
    if !warnings.is_empty() {
        fields.push(("warnings", serde_json::json!(warnings)));
    }
    Ok(ok_with_fields(id, &Value::Null, &fields, Facts::WROTE))
}

/// Vault's `auth` block for a token with `ttl` seconds left
/// (`client_token` empty but at creation: a token is shown once).
pub(super) fn auth_block(
    token: &str,
    accessor: &str,
    rec: &crate::state::tokens::TokenRecord,
    ttl: u64,
) -> Value {
    json!({
        "client_token": token,
        "accessor": accessor,
        "policies": rec.policies,
        "token_policies": rec.policies,
        "metadata": if rec.meta.is_empty() { Value::Null } else { json!(rec.meta) },
        "lease_duration": ttl,
        "renewable": rec.renewable,
        "entity_id": "",
        "token_type": "service",
        "orphan": rec.parent.is_empty(),
        "mfa_requirement": null,
        "num_uses": rec.num_uses,
    })
}

/// `POST /v1/auth/token/renew` `{token, increment}`, `renew-accessor`
/// `{accessor, increment}`, `renew-self` `{increment}`: the token's `auth`
/// block with its new lease.
async fn renew_with(
    app: AppState,
    id: Answering,
    own: Option<std::sync::Arc<crate::state::tokens::Identity>>,
    body: Posted,
) -> Result<Response, Error> {
    let req: tokens::RenewRequest = json_body(body).await?;
    let (accessor, rec) =
        blocking(&app.state, move |s| tokens::renew(s, own.as_deref(), req)).await?;
    let ttl = rec
        .expire_time
        .map_or(0, |t| t.saturating_sub(crate::clock::now()));
    let auth = auth_block("", &accessor, &rec, ttl);
    Ok(ok_with_fields(
        id,
        &Value::Null,
        &[("auth", auth)],
        Facts::WROTE,
    ))
}

/// `POST /v1/auth/token/renew` and `renew-accessor`.
pub async fn renew(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    renew_with(app, id, None, body).await
}

/// `POST /v1/auth/token/renew-self`.
pub async fn renew_self(
    State(app): State<AppState>,
    id: Answering,
    Authed(identity): Authed,
    body: Posted,
) -> Result<Response, Error> {
    renew_with(app, id, Some(identity), body).await
}

/// `GET /v1/auth/token/lookup-self`: `id` is the token the request
/// presented, as Vault answers (Vault Agent's `token_file` auto-auth reads
/// its token back from there), in a body wiped once sent.
pub async fn lookup_self(
    id: Answering,
    Authed(identity): Authed,
    headers: axum::http::HeaderMap,
) -> Response {
    let view = tokens::view(&identity.accessor, identity.record.as_ref());
    let mut data = match serde_json::to_value(&view) {
        Ok(data) => data,
        Err(e) => return Error::internal("answer", e).into_response(),
    };
    if let Some(token) = super::layers::presented_token(&headers) {
        data["id"] = Value::String(token.to_string());
    }
    let answer = ok_secret(id, &data, Facts::default());
    crate::core::input::wipe_value(data);
    answer
}

/// Looks up a token by accessor. Looking up may purge an expired token: a
/// write, so the entry is as durable.
async fn lookup_by(
    app: &AppState,
    id: Answering,
    accessor: String,
    what: &'static str,
) -> Result<Response, Error> {
    let view = blocking(&app.state, move |s| tokens::lookup(s, &accessor, what)).await?;
    Ok(ok(id, &view, Facts::WROTE))
}

/// `POST /v1/auth/token/lookup` `{token}`.
pub async fn lookup(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let accessor = tokens::accessor_of_token(json_body(body).await?)?;
    lookup_by(&app, id, accessor, "token").await
}

/// `POST /v1/auth/token/lookup-accessor` `{accessor}`.
pub async fn lookup_accessor(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let accessor = tokens::accessor_field(json_body(body).await?)?;
    lookup_by(&app, id, accessor, "accessor").await
}

async fn revoke_by(app: &AppState, id: Answering, accessor: String) -> Result<Response, Error> {
    blocking(&app.state, move |s| s.revoke(&accessor)).await?;
    Ok(no_content(id))
}

/// `POST /v1/auth/token/revoke` `{token}`: 204.
pub async fn revoke(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let accessor = tokens::accessor_of_token(json_body(body).await?)?;
    revoke_by(&app, id, accessor).await
}

/// `POST /v1/auth/token/revoke-accessor` `{accessor}`: 204.
pub async fn revoke_accessor(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let accessor = tokens::accessor_field(json_body(body).await?)?;
    revoke_by(&app, id, accessor).await
}

/// `POST /v1/auth/token/revoke-self`: 204 (a last use already revoked it).
pub async fn revoke_self(
    id: Answering,
    State(app): State<AppState>,
    Authed(identity): Authed,
) -> Result<Response, Error> {
    blocking(&app.state, move |s| tokens::revoke_self(s, &identity)).await?;
    Ok(no_content(id))
}

/// `LIST /v1/auth/token/accessors`: every live token's accessor, root's
/// included (root only: Vault asks for `sudo`).
pub async fn accessors(
    State(app): State<AppState>,
    id: Answering,
    Authed(identity): Authed,
    axum::extract::Extension(classified): axum::extract::Extension<
        std::sync::Arc<crate::services::classify::Classified>,
    >,
) -> Result<Response, Error> {
    if classified.access != crate::state::acl::Access::List {
        return Err(Error::WrongMethod(
            "use LIST (or GET with ?list=true)".into(),
        ));
    }
    if !identity.is_root() {
        return Err(Error::Forbidden(
            "only the root token may list accessors".into(),
        ));
    }
    let keys = app.state.token_accessors();
    Ok(ok(id, &json!({ "keys": keys }), Facts::default()))
}
