//! Key management and import routes under `/v1/transit`. The ones that
//! answer the key's description are one generic handler ([`described`])
//! over the operation types of [`crate::core::transit::manage`]; the
//! others parse their request, run the `crate::core` operation on a
//! blocking thread, and answer in Vault's envelope. The key name comes
//! from the request's classification ([`Named`]).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::app::AppState;
use super::body::{check_path, json_body, json_body_named, Posted};
use super::envelope::{
    done, no_content, no_content_after, ok, ok_secret, ok_with_fields, Answering, Facts,
};
use super::exec::blocking;
use super::layers::{Authed, Named};
use crate::core::input::unrecognized_warning;
use crate::core::transit::manage::{self as ops, ManageOp};
use crate::core::{import, manage, mount_config, release};
use crate::error::Error;
use crate::state::acl::Access;

/// `POST /v1/transit/keys/NAME[/config|rotate|trim|import|import_version]`:
/// operation `Op` (its request is the body) on the key the request's
/// classification names; the answer is the key's description (with
/// Vault's warning about the request, if any), or 204 where Vault's is.
pub async fn described<Op>(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
    body: Posted,
) -> Result<Response, Error>
where
    Op: ManageOp + DeserializeOwned + Serialize + Default,
{
    let (op, names): (Op, Vec<String>) = json_body_named(body).await?;
    let warning = op.warning().or_else(|| {
        Op::FIELDS.and_then(|known| unrecognized_warning(names.iter().map(String::as_str), known))
    });
    let ran = ops::run(&app.state, named.key()?, op).await?;
    if Op::NO_CONTENT {
        return Ok(no_content_after(id, Facts::of(&ran)));
    }
    Ok(match warning {
        None => done(id, &ran, StatusCode::OK),
        Some(warning) => ok_with_fields(
            id,
            &ran.output,
            &[("warnings", serde_json::json!([warning]))],
            Facts::of(&ran),
        ),
    })
}

/// `GET /v1/transit/keys/:name` (no body).
pub async fn read(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
) -> Result<Response, Error> {
    let ran = ops::run(&app.state, named.key()?, ops::Read).await?;
    Ok(done(id, &ran, StatusCode::OK))
}

/// `LIST /v1/transit/keys` or `GET /v1/transit/keys?list=true`.
pub async fn list(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
) -> Result<Response, Error> {
    if named.classified().access != Access::List {
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
    id: Answering,
    State(app): State<AppState>,
    named: Named,
) -> Result<Response, Error> {
    let name = named.key()?.to_string();
    blocking(&app.state, move |s| manage::delete(s, &name)).await?;
    Ok(no_content(id))
}

/// `export/KIND/NAME` or `export/KIND/NAME/VERSION`.
#[derive(serde::Deserialize)]
pub struct ExportPath {
    kind: String,
    version: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct ExportParams {
    recipient: Option<String>,
}

/// `GET /v1/transit/export/:kind/:name[/:version]`; with
/// `?recipient=attested`, each version wrapped to the attested key of the
/// token (`crate::core::release`).
pub async fn export(
    State(app): State<AppState>,
    id: Answering,
    Authed(identity): Authed,
    named: Named,
    Path(ExportPath { kind, version }): Path<ExportPath>,
    Query(params): Query<ExportParams>,
) -> Result<Response, Error> {
    // The path's parameters, in Vault's names, under the constraints.
    let mut path = vec![("type", kind.clone())];
    path.extend(version.clone().map(|v| ("version", v)));
    check_path(&identity.params, &path)?;
    let released = match &params.recipient {
        Some(recipient) => release::check_recipient(recipient).map(|()| true)?,
        None => false,
    };
    let (who, name) = (identity.clone(), named.key()?.to_string());
    let exported = blocking(&app.state, move |s| match released {
        true => release::export(s, &who, &kind, &name, version.as_deref()),
        false => manage::export(s, &kind, &name, version.as_deref()),
    })
    .await?;
    if !released {
        return Ok(ok_secret(id, &exported, Facts::default()));
    }
    // Wrapped: no secret in clear in this answer.
    let answer = ok(id, &exported, Facts::default());
    Ok(match &identity.record {
        Some(rec) => super::attest::with_attested(answer, None, rec),
        None => answer,
    })
}

/// `GET /v1/transit/backup/:name`: also records `backup_info` on the key.
pub async fn backup(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
) -> Result<Response, Error> {
    let name = named.key()?.to_string();
    let backup = blocking(&app.state, move |s| manage::backup(s, &name)).await?;
    // The key now records the backup: a write.
    Ok(ok_secret(id, &backup, Facts::WROTE))
}

/// `POST /v1/transit/restore` or `/v1/transit/restore/:name`.
pub async fn restore(
    id: Answering,
    State(app): State<AppState>,
    Authed(identity): Authed,
    named: Named,
    body: Posted,
) -> Result<Response, Error> {
    // The route without a name leaves it to the backup.
    let name = named.classified().key.clone();
    let req: manage::RestoreRequest = json_body(body).await?;
    blocking(&app.state, move |s| {
        manage::restore(s, &identity, name, req)
    })
    .await?;
    Ok(no_content(id))
}

/// `GET /v1/transit/wrapping_key`: made and sealed on first use.
pub async fn wrapping_key(State(app): State<AppState>, id: Answering) -> Result<Response, Error> {
    #[derive(serde::Serialize)]
    struct Public {
        public_key: String,
    }
    let public_key = blocking(&app.state, import::wrapping_public_key).await?;
    Ok(ok(id, &Public { public_key }, Facts::WROTE))
}

/// `GET /v1/transit/config/keys`.
pub async fn keys_config(State(app): State<AppState>, id: Answering) -> Result<Response, Error> {
    let config = mount_config::keys_config(&app.state)?;
    Ok(ok(id, &config, Facts::default()))
}

/// `POST /v1/transit/config/keys` (`disable_upsert`): the settings now.
pub async fn set_keys_config(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let req: mount_config::KeysConfigRequest = json_body(body).await?;
    let config = blocking(&app.state, move |s| mount_config::set_keys_config(s, req)).await?;
    Ok(ok(id, &config, Facts::WROTE))
}

/// `GET` and `POST /v1/transit/cache-config`: always size 0 (every key is
/// in memory).
pub async fn cache_config(id: Answering, body: Posted) -> Result<Response, Error> {
    let req: mount_config::CacheConfigRequest = json_body(body).await?;
    mount_config::set_cache_config(req)?;
    Ok(ok(
        id,
        &mount_config::CacheConfig { size: 0 },
        Facts::default(),
    ))
}
