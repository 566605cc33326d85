//! The routes that use keys (and two that need none) under
//! `/v1/transit`: encrypt, decrypt, rewrap, datakey, sign, verify, hmac,
//! random, hash. Cheap work runs on the I/O thread ([`with_key`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::app::AppState;
use super::body::{json_body, Posted};
use super::envelope::{answer, ok, ok_secret, with_facts, Carries, Facts};
use super::exec::{blocking, with_key};
use super::layers::Authed;
use crate::core::crypt::{self, Item, Outcome};
use crate::core::release;
use crate::core::sign::{self, SignOutcome};
use crate::core::utility;
use crate::error::Error;
use crate::services::audit::RequestId;
use crate::state::key::Key;

/// Runs `one` on the request or on each batch item; `carries` says
/// whether its answers hold plaintext.
async fn crypt(
    app: AppState,
    id: RequestId,
    name: String,
    body: Posted,
    one: fn(&Key, &Item) -> Result<Outcome, Error>,
    carries: Carries,
    on_failure: StatusCode,
) -> Result<Response, Error> {
    let req: Item = json_body(body).await?;
    crypt_parsed(app, id, name, req, one, carries, on_failure).await
}

/// [`crypt`] on a parsed request.
async fn crypt_parsed(
    app: AppState,
    id: RequestId,
    name: String,
    req: Item,
    one: fn(&Key, &Item) -> Result<Outcome, Error>,
    carries: Carries,
    on_failure: StatusCode,
) -> Result<Response, Error> {
    crypt::check(&req)?;
    let items = req.batch_input.as_ref().map_or(1, Vec::len);
    let answered = with_key(&app.state, &name, items, move |key| {
        crypt::run(key, &req, one)
    })
    .await?;
    Ok(answer(
        id,
        &answered,
        |o: &Outcome| o.key_version,
        carries,
        on_failure,
    ))
}

/// `POST /v1/transit/encrypt/:name`: creates the key first if there is
/// none (Vault's upsert: `type` chooses its type; the guard asked for
/// `create` on the path), unless `transit/config/keys` disables it.
pub async fn encrypt(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let req: Item = json_body(body).await?;
    let created = if app.state.find(&name).is_none() {
        crypt::check(&req)?;
        let (n, plan) = (name.clone(), req.upsert_plan());
        blocking(&app.state, move |s| crypt::upsert(s, &n, plan)).await?
    } else {
        false
    };
    let encrypted = crypt_parsed(
        app,
        id,
        name,
        req,
        crypt::encrypt_one,
        Carries::Public,
        StatusCode::BAD_REQUEST,
    )
    .await?;
    Ok(if created {
        with_facts(encrypted, Facts::WROTE)
    } else {
        encrypted
    })
}

/// `POST /v1/transit/decrypt/:name`; with `"recipient": "attested"`, the
/// plaintext is answered wrapped to the token's attested key.
pub async fn decrypt(
    State(app): State<AppState>,
    id: RequestId,
    Authed(identity): Authed,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let req: Item = json_body(body).await?;
    if let Some(recipient) = &req.recipient {
        release::check_recipient(recipient)?;
        let to = release::recipient_key(&identity)?;
        let released = with_key(&app.state, &name, 1, move |key| {
            release::decrypt(key, &req, &to)
        })
        .await?;
        // Wrapped: no secret in clear in this answer.
        let answer = ok(id, &released, Facts::default());
        return Ok(match &identity.record {
            Some(rec) => super::attest::with_attested(answer, None, rec),
            None => answer,
        });
    }
    crypt_parsed(
        app,
        id,
        name,
        req,
        crypt::decrypt_one,
        Carries::Secrets,
        StatusCode::BAD_REQUEST,
    )
    .await
}

/// `POST /v1/transit/rewrap/:name`.
pub async fn rewrap(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    crypt(
        app,
        id,
        name,
        body,
        crypt::rewrap_one,
        Carries::Public,
        StatusCode::OK,
    )
    .await
}

/// `POST /v1/transit/datakey/:kind/:name`, kind `plaintext` or `wrapped`.
pub async fn datakey(
    State(app): State<AppState>,
    id: RequestId,
    Authed(identity): Authed,
    Path((kind, name)): Path<(String, String)>,
    body: Posted,
) -> Result<Response, Error> {
    let body: release::DatakeyBody = json_body(body).await?;
    if let Some(recipient) = body.recipient {
        release::check_recipient(&recipient)?;
        let to = release::recipient_key(&identity)?;
        let req = body.req;
        let released = with_key(&app.state, &name, 1, move |key| {
            release::datakey(key, &kind, req, &to)
        })
        .await?;
        let facts = Facts {
            key_version: Some(released.key_version),
            durable: false,
        };
        // Wrapped: no secret in clear in this answer.
        let answer = ok(id, &released, facts);
        return Ok(match &identity.record {
            Some(rec) => super::attest::with_attested(answer, None, rec),
            None => answer,
        });
    }
    let plan = crypt::datakey_plan(&kind, body.req)?;
    let data_key = with_key(&app.state, &name, 1, move |key| crypt::datakey(key, &plan)).await?;
    let facts = Facts {
        key_version: Some(data_key.key_version),
        durable: false,
    };
    // `wrapped` answers carry no plaintext, but one path is simpler.
    Ok(ok_secret(id, &data_key, facts))
}

/// Runs `op` (sign, verify or hmac) on the request or each batch item;
/// `path_alg` is the hash algorithm given in the path.
async fn signing(
    app: AppState,
    id: RequestId,
    name: String,
    path_alg: Option<String>,
    body: Posted,
    op: sign::Op,
) -> Result<Response, Error> {
    // The path's algorithm stands for the body field it overrides, in
    // Vault's names: `algorithm` for HMACs, `hash_algorithm` for signatures.
    let field = match op {
        sign::Op::Hmac => "algorithm",
        sign::Op::Sign | sign::Op::Verify => "hash_algorithm",
    };
    let body = body.with_path(field, path_alg.as_deref());
    let req: sign::Request = json_body(body).await?;
    sign::check(&req)?;
    let o = sign::options(&req, path_alg)?;
    let items = req.batch_input.as_ref().map_or(1, Vec::len);
    let answered = with_key(&app.state, &name, items, move |key| {
        sign::run(key, &o, &req, op)
    })
    .await?;
    Ok(answer(
        id,
        &answered,
        |o: &SignOutcome| o.key_version,
        Carries::Public,
        StatusCode::OK,
    ))
}

/// `POST /v1/transit/hmac/:name`.
pub async fn hmac(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    signing(app, id, name, None, body, sign::Op::Hmac).await
}

/// `POST /v1/transit/hmac/:name/:algorithm`.
pub async fn hmac_alg(
    State(app): State<AppState>,
    id: RequestId,
    Path((name, alg)): Path<(String, String)>,
    body: Posted,
) -> Result<Response, Error> {
    signing(app, id, name, Some(alg), body, sign::Op::Hmac).await
}

/// `POST /v1/transit/sign/:name`.
pub async fn sign(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    signing(app, id, name, None, body, sign::Op::Sign).await
}

/// `POST /v1/transit/sign/:name/:algorithm`.
pub async fn sign_alg(
    State(app): State<AppState>,
    id: RequestId,
    Path((name, alg)): Path<(String, String)>,
    body: Posted,
) -> Result<Response, Error> {
    signing(app, id, name, Some(alg), body, sign::Op::Sign).await
}

/// `POST /v1/transit/verify/:name`.
pub async fn verify(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    signing(app, id, name, None, body, sign::Op::Verify).await
}

/// `POST /v1/transit/verify/:name/:algorithm`.
pub async fn verify_alg(
    State(app): State<AppState>,
    id: RequestId,
    Path((name, alg)): Path<(String, String)>,
    body: Posted,
) -> Result<Response, Error> {
    signing(app, id, name, Some(alg), body, sign::Op::Verify).await
}

async fn random_with(
    id: RequestId,
    source: Option<String>,
    bytes: Option<String>,
    body: Posted,
) -> Result<Response, Error> {
    let body = body
        .with_path("source", source.as_deref())
        .with_path("bytes", bytes.as_deref());
    let req: utility::RandomRequest = json_body(body).await?;
    let random = utility::random(source, bytes, req)?;
    Ok(ok(id, &random, Facts::default()))
}

/// `POST /v1/transit/random`.
pub async fn random(id: RequestId, body: Posted) -> Result<Response, Error> {
    random_with(id, None, None, body).await
}

/// `POST /v1/transit/random/:bytes` or `/random/:source`.
pub async fn random_a(
    id: RequestId,
    Path(a): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    if a.bytes().all(|b| b.is_ascii_digit()) {
        random_with(id, None, Some(a), body).await
    } else {
        random_with(id, Some(a), None, body).await
    }
}

/// `POST /v1/transit/random/:source/:bytes`.
pub async fn random_ab(
    id: RequestId,
    Path((source, bytes)): Path<(String, String)>,
    body: Posted,
) -> Result<Response, Error> {
    random_with(id, Some(source), Some(bytes), body).await
}

async fn hash_with(id: RequestId, alg: Option<String>, body: Posted) -> Result<Response, Error> {
    let req: utility::HashRequest = json_body(body.with_path("algorithm", alg.as_deref())).await?;
    let sum = utility::hash(alg, req)?;
    Ok(ok(id, &sum, Facts::default()))
}

/// `POST /v1/transit/hash`.
pub async fn hash(id: RequestId, body: Posted) -> Result<Response, Error> {
    hash_with(id, None, body).await
}

/// `POST /v1/transit/hash/:algorithm`.
pub async fn hash_alg(
    id: RequestId,
    Path(alg): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    hash_with(id, Some(alg), body).await
}
