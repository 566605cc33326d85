//! Key management and import routes under `/v1/transit`: each parses its
//! request, runs the `crate::core` operation on a blocking thread, and
//! answers in Vault's envelope.

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;

use super::app::AppState;
use super::body::{check_path, json_body, Posted};
use super::envelope::{no_content, ok, ok_secret, ok_with_fields, Facts};
use super::exec::blocking;
use super::layers::Authed;
use crate::core::describe::KeyInfo;
use crate::core::{import, manage, mount_config, release};
use crate::error::Error;
use crate::services::audit::RequestId;
use crate::services::classify::Classified;
use crate::state::acl::Access;

/// A key's description, naming its latest version for the audit entry.
fn described(id: RequestId, info: &KeyInfo, wrote: bool) -> Response {
    ok(
        id,
        info,
        Facts {
            key_version: Some(info.latest_version),
            durable: wrote,
        },
    )
}

/// `POST /v1/transit/keys/:name`: creates the key (no change if it
/// exists) and answers with its description.
pub async fn create(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let req: manage::CreateRequest = json_body(body).await?;
    let warning = req.warning();
    let info = blocking(&app.state, move |s| manage::create(s, &name, req)).await?;
    let Some(warning) = warning else {
        return Ok(described(id, &info, true));
    };
    let facts = Facts {
        key_version: Some(info.latest_version),
        durable: true,
    };
    Ok(ok_with_fields(
        id,
        &info,
        &[("warnings", serde_json::json!([warning]))],
        facts,
    ))
}

/// `GET /v1/transit/keys/:name`.
pub async fn read(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    let info = blocking(&app.state, move |s| manage::read(s, &name)).await?;
    Ok(described(id, &info, false))
}

/// `LIST /v1/transit/keys` or `GET /v1/transit/keys?list=true`.
pub async fn list(
    State(app): State<AppState>,
    id: RequestId,
    Extension(classified): Extension<Arc<Classified>>,
) -> Result<Response, Error> {
    if classified.access != Access::List {
        return Err(Error::WrongMethod(
            "use LIST (or GET with ?list=true)".into(),
        ));
    }
    #[derive(serde::Serialize)]
    struct Names {
        keys: Vec<String>,
    }
    let keys = manage::list(&app.state)?;
    Ok(ok(id, &Names { keys }, Facts::default()))
}

/// `DELETE /v1/transit/keys/:name`: needs `deletion_allowed`.
pub async fn delete(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    blocking(&app.state, move |s| manage::delete(s, &name)).await?;
    Ok(no_content())
}

/// `POST /v1/transit/keys/:name/config`.
pub async fn config(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let req: manage::ConfigRequest = json_body(body).await?;
    let info = blocking(&app.state, move |s| manage::config(s, &name, req)).await?;
    Ok(described(id, &info, true))
}

/// `POST /v1/transit/keys/:name/rotate`: adds a version.
pub async fn rotate(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let _: Option<serde_json::Value> = json_body(body).await?;
    let info = blocking(&app.state, move |s| manage::rotate(s, &name)).await?;
    Ok(described(id, &info, true))
}

/// `POST /v1/transit/keys/:name/trim`.
pub async fn trim(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let req: manage::TrimRequest = json_body(body).await?;
    let info = blocking(&app.state, move |s| manage::trim(s, &name, req)).await?;
    Ok(described(id, &info, true))
}

/// `GET /v1/transit/export/:kind/:name`; with `?recipient=attested`, each
/// version wrapped to the attested key of the token (`crate::core::release`).
pub async fn export(
    State(app): State<AppState>,
    id: RequestId,
    Authed(identity): Authed,
    Path((kind, name)): Path<(String, String)>,
    Query(params): Query<ExportParams>,
) -> Result<Response, Error> {
    export_with(app, id, identity, kind, name, None, params).await
}

/// `GET /v1/transit/export/:kind/:name/:version` (also `?recipient=attested`).
pub async fn export_version(
    State(app): State<AppState>,
    id: RequestId,
    Authed(identity): Authed,
    Path((kind, name, version)): Path<(String, String, String)>,
    Query(params): Query<ExportParams>,
) -> Result<Response, Error> {
    export_with(app, id, identity, kind, name, Some(version), params).await
}

#[derive(serde::Deserialize)]
pub struct ExportParams {
    recipient: Option<String>,
}

async fn export_with(
    app: AppState,
    id: RequestId,
    identity: Arc<crate::state::tokens::Identity>,
    kind: String,
    name: String,
    version: Option<String>,
    params: ExportParams,
) -> Result<Response, Error> {
    // The path's parameters, in Vault's names, under the constraints.
    let mut path = vec![("type", kind.clone())];
    path.extend(version.clone().map(|v| ("version", v)));
    check_path(&identity.params, &path)?;
    if let Some(recipient) = params.recipient {
        release::check_recipient(&recipient)?;
        let who = identity.clone();
        let exported = blocking(&app.state, move |s| {
            release::export(s, &who, &kind, &name, version.as_deref())
        })
        .await?;
        // Wrapped: no secret in clear in this answer.
        let answer = ok(id, &exported, Facts::default());
        return Ok(match &identity.record {
            Some(rec) => super::attest::with_attested(answer, None, rec),
            None => answer,
        });
    }
    let exported = blocking(&app.state, move |s| {
        manage::export(s, &kind, &name, version.as_deref())
    })
    .await?;
    Ok(ok_secret(id, &exported, Facts::default()))
}

/// `GET /v1/transit/backup/:name`: also records `backup_info` on the key.
pub async fn backup(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    let backup = blocking(&app.state, move |s| manage::backup(s, &name)).await?;
    // The key now records the backup: a write.
    Ok(ok_secret(id, &backup, Facts::WROTE))
}

/// `POST /v1/transit/restore`.
pub async fn restore(
    State(app): State<AppState>,
    Authed(identity): Authed,
    body: Posted,
) -> Result<Response, Error> {
    let req: manage::RestoreRequest = json_body(body).await?;
    blocking(&app.state, move |s| {
        manage::restore(s, &identity, None, req)
    })
    .await?;
    Ok(no_content())
}

/// `POST /v1/transit/restore/:name`.
pub async fn restore_named(
    State(app): State<AppState>,
    Authed(identity): Authed,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let req: manage::RestoreRequest = json_body(body).await?;
    blocking(&app.state, move |s| {
        manage::restore(s, &identity, Some(name), req)
    })
    .await?;
    Ok(no_content())
}

/// `GET /v1/transit/wrapping_key`: made and sealed on first use.
pub async fn wrapping_key(State(app): State<AppState>, id: RequestId) -> Result<Response, Error> {
    #[derive(serde::Serialize)]
    struct Public {
        public_key: String,
    }
    let public_key = blocking(&app.state, import::wrapping_public_key).await?;
    Ok(ok(id, &Public { public_key }, Facts::WROTE))
}

/// `POST /v1/transit/keys/:name/import`: a new key from wrapped material.
pub async fn import(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let req: import::ImportRequest = json_body(body).await?;
    let info = blocking(&app.state, move |s| import::import(s, &name, req)).await?;
    Ok(described(id, &info, true))
}

/// `POST /v1/transit/keys/:name/import_version`.
pub async fn import_version(
    State(app): State<AppState>,
    id: RequestId,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let req: import::ImportRequest = json_body(body).await?;
    let info = blocking(&app.state, move |s| import::import_version(s, &name, req)).await?;
    Ok(described(id, &info, true))
}

/// `GET /v1/transit/config/keys`.
pub async fn keys_config(State(app): State<AppState>, id: RequestId) -> Result<Response, Error> {
    let config = mount_config::keys_config(&app.state)?;
    Ok(ok(id, &config, Facts::default()))
}

/// `POST /v1/transit/config/keys` (`disable_upsert`): the settings now.
pub async fn set_keys_config(
    State(app): State<AppState>,
    id: RequestId,
    body: Posted,
) -> Result<Response, Error> {
    let req: mount_config::KeysConfigRequest = json_body(body).await?;
    let config = blocking(&app.state, move |s| mount_config::set_keys_config(s, req)).await?;
    Ok(ok(id, &config, Facts::WROTE))
}

/// `GET` and `POST /v1/transit/cache-config`: always size 0 (every key is
/// in memory).
pub async fn cache_config(id: RequestId, body: Posted) -> Result<Response, Error> {
    let req: mount_config::CacheConfigRequest = json_body(body).await?;
    mount_config::set_cache_config(req)?;
    Ok(ok(
        id,
        &mount_config::CacheConfig { size: 0 },
        Facts::default(),
    ))
}
