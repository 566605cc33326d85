//! The KV v2 engine's routes at `secret/` (`crate::core::kv`): `data/`,
//! `metadata/`, `delete/`, `undelete/`, `destroy/`, `subkeys/`, `config`.
//! The secret's path is the classifier's (decoded once, `%2F` included);
//! every answer's audit entry names the path and the version, never a
//! value. A read with `?recipient=attested` answers the data wrapped to
//! the token's attested key (`crate::core::release`'s format).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use super::app::AppState;
use super::attest::with_attested;
use super::body::{json_body, Posted};
use super::envelope::{no_content, ok, ok_secret, reply, Answering, Carries, Facts};
use super::layers::{Authed, Named};
use crate::core::input::lenient_u64;
use crate::core::kv::{self, json::Tree, ConfigRequest, Mark, MetadataRequest, Read, VersionMeta};
use crate::core::release;
use crate::core::transit::blocking;
use crate::error::Error;
use crate::state::acl::Access;

/// The query of a read: `version`, `depth` (subkeys), `recipient`.
#[derive(Deserialize)]
pub struct ReadQuery {
    version: Option<String>,
    depth: Option<String>,
    recipient: Option<String>,
}

/// The body of a data write or patch.
#[derive(Default, Deserialize, Serialize)]
pub struct DataRequest {
    data: Option<Value>,
    #[serde(default)]
    options: Option<Options>,
}

#[derive(Default, Deserialize, Serialize)]
pub struct Options {
    #[serde(default, deserialize_with = "lenient_u64")]
    cas: Option<u64>,
}

/// The body of delete, undelete and destroy.
#[derive(Default, Deserialize, Serialize)]
pub struct VersionsRequest {
    #[serde(default, deserialize_with = "versions")]
    versions: Vec<u64>,
}

/// Versions as a list of numbers (or numeric strings), or one string of
/// comma-separated numbers (a form field).
fn versions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let bad = || serde::de::Error::custom("versions must be whole numbers");
    let one = |v: &Value| match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(|v| one(v).ok_or_else(bad)).collect(),
        Value::String(s) => s
            .split(',')
            .map(|v| v.trim().parse().map_err(|_| bad()))
            .collect(),
        v => one(&v).map(|n| vec![n]).ok_or_else(bad),
    }
}

/// The secret's path from the classifier ("" for the engine's root).
fn path_of(named: &Named) -> String {
    named.classified().key.clone().unwrap_or_default()
}

/// `?version=`: absent, 0 or negative is the current version (Vault).
fn version_of(q: &ReadQuery) -> Result<Option<u64>, Error> {
    let Some(v) = q.version.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let n: i64 = v
        .parse()
        .map_err(|_| Error::invalid("version must be a whole number"))?;
    Ok(u64::try_from(n).ok())
}

/// Vault's 404 for a path with nothing: no message.
fn missing(id: Answering) -> Response {
    id.tell(Facts::default());
    (StatusCode::NOT_FOUND, Json(json!({ "errors": [] }))).into_response()
}

fn wrote(version: u64) -> Facts {
    Facts {
        key_version: Some(version),
        durable: true,
    }
}

/// `GET secret/data/PATH[?version=N][&recipient=attested]`.
pub async fn read(
    State(app): State<AppState>,
    id: Answering,
    Authed(identity): Authed,
    named: Named,
    Query(q): Query<ReadQuery>,
) -> Result<Response, Error> {
    let version = version_of(&q)?;
    let released = match &q.recipient {
        Some(r) => release::check_recipient(r).map(|()| true)?,
        None => false,
    };
    let path = path_of(&named);
    let found = blocking(&app.state, move |s| kv::read(s, &path, version, released)).await?;
    let facts = |meta: &VersionMeta| Facts {
        key_version: Some(meta.version),
        durable: false,
    };
    match found {
        None => Ok(missing(id)),
        Some(Read::Gone(meta)) => Ok(reply(
            id,
            StatusCode::NOT_FOUND,
            &json!({ "data": null, "metadata": meta }),
            None,
            facts(&meta),
            Carries::Public,
        )),
        Some(Read::Found(data, meta)) if released => {
            let wrapped = kv::release(&identity, &data)?;
            let answer = ok(
                id,
                &json!({ "data": null, "wrapped_data": wrapped, "metadata": meta }),
                facts(&meta),
            );
            Ok(match &identity.record {
                Some(rec) => with_attested(answer, None, rec),
                None => answer,
            })
        }
        Some(Read::Found(data, meta)) => {
            let mut tree = kv::json::tree(&data)?;
            let answer = Tree(json!({ "data": std::mem::take(&mut tree.0), "metadata": meta }));
            Ok(ok_secret(id, &answer.0, facts(&meta)))
        }
    }
}

/// `POST`/`PUT secret/data/PATH` `{data, options: {cas}}`: a new version.
pub async fn write(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
    body: Posted,
) -> Result<Response, Error> {
    let mut req: DataRequest = json_body(body).await?;
    let data = Tree(req.data.take().unwrap_or(Value::Null));
    let cas = req.options.and_then(|o| o.cas);
    let path = path_of(&named);
    let meta = blocking(&app.state, move |s| {
        let given = (!data.0.is_null()).then_some(&data.0);
        kv::put(s, &path, given, cas)
    })
    .await?;
    let facts = wrote(meta.version);
    Ok(ok(id, &meta, facts))
}

/// `PATCH secret/data/PATH` (`application/merge-patch+json`, as Vault
/// requires): the current version merged with `data` as a new one.
pub async fn patch(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
    headers: HeaderMap,
    body: Posted,
) -> Result<Response, Error> {
    let given = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if given.split(';').next().map(str::trim) != Some("application/merge-patch+json") {
        id.tell(Facts::default());
        let message = format!(
            "PATCH requires Content-Type of application/merge-patch+json, provided {}",
            given.chars().take(100).collect::<String>()
        );
        return Ok((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(json!({ "errors": [message] })),
        )
            .into_response());
    }
    let mut req: DataRequest = json_body(body).await?;
    let data = Tree(req.data.take().unwrap_or(Value::Null));
    let cas = req.options.and_then(|o| o.cas);
    let path = path_of(&named);
    let patched = blocking(&app.state, move |s| kv::patch(s, &path, Some(&data.0), cas)).await;
    match patched {
        Ok(meta) => {
            let facts = wrote(meta.version);
            Ok(ok(id, &meta, facts))
        }
        // Vault's 404 here has no body at all.
        Err(Error::NotFound(_)) => {
            id.tell(Facts::default());
            Ok(StatusCode::NOT_FOUND.into_response())
        }
        Err(e) => Err(e),
    }
}

/// `DELETE secret/data/PATH`: soft-deletes the current version.
pub async fn delete_latest(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
) -> Result<Response, Error> {
    let path = path_of(&named);
    blocking(&app.state, move |s| kv::delete_latest(s, &path)).await?;
    Ok(no_content(id))
}

async fn mark(
    app: AppState,
    id: Answering,
    named: Named,
    body: Posted,
    how: Mark,
) -> Result<Response, Error> {
    let req: VersionsRequest = json_body(body).await?;
    let path = path_of(&named);
    blocking(&app.state, move |s| kv::mark(s, &path, &req.versions, how)).await?;
    Ok(no_content(id))
}

/// `POST secret/delete/PATH` `{versions}`.
pub async fn delete(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
    body: Posted,
) -> Result<Response, Error> {
    mark(app, id, named, body, Mark::Delete).await
}

/// `POST secret/undelete/PATH` `{versions}`.
pub async fn undelete(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
    body: Posted,
) -> Result<Response, Error> {
    mark(app, id, named, body, Mark::Undelete).await
}

/// `POST secret/destroy/PATH` `{versions}`.
pub async fn destroy(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
    body: Posted,
) -> Result<Response, Error> {
    mark(app, id, named, body, Mark::Destroy).await
}

/// `secret/metadata/PATH`: `GET` reads, `LIST` (or `GET ?list=true`)
/// lists the folder, `POST`/`PUT` writes, `DELETE` removes the secret
/// with every version.
pub async fn metadata(
    State(app): State<AppState>,
    id: Answering,
    method: Method,
    named: Named,
    body: Posted,
) -> Result<Response, Error> {
    let path = path_of(&named);
    if named.classified().access == Access::List {
        let names = blocking(&app.state, move |s| kv::list(s, &path)).await?;
        return Ok(match names {
            Some(keys) => ok(id, &json!({ "keys": keys }), Facts::default()),
            None => missing(id),
        });
    }
    match method {
        Method::GET => match blocking(&app.state, move |s| kv::metadata(s, &path)).await? {
            Some(m) => Ok(ok(id, &m, Facts::default())),
            None => Ok(missing(id)),
        },
        Method::POST | Method::PUT => {
            let req: MetadataRequest = json_body(body).await?;
            blocking(&app.state, move |s| kv::write_metadata(s, &path, &req)).await?;
            Ok(no_content(id))
        }
        Method::DELETE => {
            blocking(&app.state, move |s| kv::delete_metadata(s, &path)).await?;
            Ok(no_content(id))
        }
        _ => Err(Error::WrongMethod(format!(
            "{method} is not supported on secret/metadata"
        ))),
    }
}

/// `GET secret/subkeys/PATH[?version=N&depth=D]`.
pub async fn subkeys(
    State(app): State<AppState>,
    id: Answering,
    named: Named,
    Query(q): Query<ReadQuery>,
) -> Result<Response, Error> {
    let version = version_of(&q)?;
    let depth = match q.depth.as_deref().filter(|d| !d.is_empty()) {
        None => 0,
        Some(d) => d
            .parse()
            .map_err(|_| Error::invalid("depth must be a whole number"))?,
    };
    let path = path_of(&named);
    match blocking(&app.state, move |s| kv::subkeys(s, &path, version, depth)).await? {
        Some((keys, meta)) => {
            let facts = Facts {
                key_version: Some(meta.version),
                durable: false,
            };
            Ok(ok(id, &json!({ "subkeys": keys, "metadata": meta }), facts))
        }
        None => Ok(missing(id)),
    }
}

/// `GET secret/config`.
pub async fn config(State(app): State<AppState>, id: Answering) -> Result<Response, Error> {
    let config = blocking(&app.state, |s| Ok(kv::config(s))).await?;
    Ok(ok(id, &kv::config_answer(&config), Facts::default()))
}

/// `POST`/`PUT secret/config`.
pub async fn set_config(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let req: ConfigRequest = json_body(body).await?;
    blocking(&app.state, move |s| kv::set_config(s, &req)).await?;
    Ok(no_content(id))
}
