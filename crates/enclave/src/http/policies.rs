//! ACL policy routes: `/v1/sys/policy` and `/v1/sys/policies/acl` (hvac's
//! `client.sys.*_policy` and `*_acl_policy`).

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::{Method, Uri};
use axum::response::Response;
use serde_json::json;

use super::app::AppState;
use super::body::{json_body, Posted};
use super::envelope::{no_content, ok, ok_with_fields, Answering, Facts};
use super::exec::blocking;
use crate::core::policies;
use crate::error::Error;
use crate::services::classify::Classified;
use crate::state::acl::Access;

/// `GET /v1/sys/policy` (Vault's old list) or `LIST`/`?list=true` on either
/// prefix: every policy name, `root` and `default` included.
pub async fn list(
    State(app): State<AppState>,
    id: Answering,
    method: Method,
    uri: Uri,
    Extension(classified): Extension<Arc<Classified>>,
) -> Result<Response, Error> {
    if classified.access != Access::List && method != Method::GET {
        return Err(Error::WrongMethod(
            "use GET, LIST or GET with ?list=true".into(),
        ));
    }
    let names = policies::list(&app.state);
    if uri.path().starts_with("/v1/sys/policies/") {
        return Ok(ok(id, &json!({ "keys": names }), Facts::default()));
    }
    // Vault's `GET sys/policy` also has the names at the top level.
    Ok(ok_with_fields(
        id,
        &json!({ "keys": names, "policies": names }),
        &[("keys", json!(names)), ("policies", json!(names))],
        Facts::default(),
    ))
}

/// `GET /v1/sys/policies/acl/:name`; `GET /v1/sys/policy/:name` as Vault's
/// older route answers it: the text as `rules`, and every field at the top
/// level too.
pub async fn read(
    State(app): State<AppState>,
    id: Answering,
    uri: Uri,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    let info = policies::read(&app.state, &name)?;
    if uri.path().starts_with("/v1/sys/policies/") {
        return Ok(ok(id, &info, Facts::default()));
    }
    let mut data = serde_json::to_value(&info).map_err(|e| Error::internal("answer", e))?;
    if let Some(obj) = data.as_object_mut() {
        if let Some(text) = obj.remove("policy") {
            obj.insert("rules".into(), text);
        }
    }
    let fields: Vec<(&str, serde_json::Value)> = data
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.as_str(), v.clone())).collect())
        .unwrap_or_default();
    Ok(ok_with_fields(id, &data, &fields, Facts::default()))
}

/// `PUT`/`POST /v1/sys/policy/:name` and `/v1/sys/policies/acl/:name`
/// `{"policy": "<HCL>"}`: 204.
pub async fn write(
    id: Answering,
    State(app): State<AppState>,
    Path(name): Path<String>,
    body: Posted,
) -> Result<Response, Error> {
    let name = policies::writable_name(&name)?;
    let req: policies::WriteRequest = json_body(body).await?;
    blocking(&app.state, move |s| policies::write(s, name, req)).await?;
    Ok(no_content(id))
}

/// `DELETE /v1/sys/policy/:name`, `/v1/sys/policies/acl/:name`: 204 (also
/// when there was no such policy, as Vault).
pub async fn delete(
    id: Answering,
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    blocking(&app.state, move |s| policies::delete(s, &name)).await?;
    Ok(no_content(id))
}
