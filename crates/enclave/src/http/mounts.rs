//! What Vault clients ask to find their way: the mounts (`sys/mounts`,
//! `sys/mounts/PATH`, `sys/auth`, `sys/internal/ui/mounts[/PATH]`, which
//! hvac and the CLI use to find a path's mount) and a token's capabilities
//! (`sys/capabilities-self`).
//!
//! minikms has four mounts, fixed: the secrets engines `transit/`,
//! `secret/` (KV version 2, so the CLI picks its v2 paths) and `sys/`, and
//! the auth method `token/`. They answer in Vault's shape; their
//! accessors and UUIDs are constants, since nothing can mount, unmount or
//! tune them.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::app::AppState;
use super::body::{json_body, Posted};
use super::envelope::{ok, ok_with_fields, Answering, Facts};
use super::layers::Authed;
use crate::error::Error;
use crate::state::acl;

/// A mount's description, as Vault's `sys/mounts` lists it.
fn mount(kind: &str, accessor: &str, uuid: &str, description: &str) -> Value {
    let mut config = json!({ "default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0 });
    match kind {
        "system" => config["passthrough_request_headers"] = json!(["Accept"]),
        "token" => config["token_type"] = json!("default-service"),
        _ => {}
    }
    let mut m = json!({
        "accessor": accessor,
        "config": config,
        "description": description,
        "external_entropy_access": false,
        "local": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": concat!("v", env!("CARGO_PKG_VERSION"), "+builtin.minikms"),
        "running_sha256": "",
        "seal_wrap": kind == "system",
        "type": kind,
        "uuid": uuid,
    });
    if kind == "transit" || kind == "kv" {
        m["deprecation_status"] = json!("supported");
    }
    if kind == "kv" {
        m["options"] = json!({ "version": "2" });
    }
    m
}

fn kv() -> Value {
    mount(
        "kv",
        "kv_6d696e69",
        "6d696e69-6b6d-536b-7600-000000000001",
        "key/value secret storage",
    )
}

fn transit() -> Value {
    mount(
        "transit",
        "transit_6d696e69",
        "6d696e69-6b6d-5374-7261-6e7369740001",
        "",
    )
}

fn system() -> Value {
    mount(
        "system",
        "system_6d696e69",
        "6d696e69-6b6d-5373-7973-000000000001",
        "system endpoints used for control, policy and debugging",
    )
}

fn token() -> Value {
    mount(
        "token",
        "auth_token_6d696e69",
        "6d696e69-6b6d-5374-6f6b-656e00000001",
        "token based credentials",
    )
}

/// The secrets engines, by path.
fn secrets() -> Map<String, Value> {
    Map::from_iter([
        ("secret/".into(), kv()),
        ("sys/".into(), system()),
        ("transit/".into(), transit()),
    ])
}

/// The auth methods, by path.
fn auths() -> Map<String, Value> {
    Map::from_iter([("token/".into(), token())])
}

/// `data` in the envelope, and (as Vault's older `sys/` answers do) at its
/// top level too.
pub(super) fn also_top_level(id: Answering, data: Map<String, Value>) -> Response {
    let fields: Vec<(&str, Value)> = data.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    ok_with_fields(id, &data, &fields, Facts::default())
}

/// `GET /v1/sys/mounts`.
pub async fn mounts(id: Answering) -> Response {
    also_top_level(id, secrets())
}

/// `GET /v1/sys/auth`.
pub async fn auth(id: Answering) -> Response {
    also_top_level(id, auths())
}

/// `GET /v1/sys/mounts/PATH`: one secrets engine.
pub async fn mount_at(id: Answering, Path(path): Path<String>) -> Result<Response, Error> {
    let path = format!("{}/", path.trim_end_matches('/'));
    let m = secrets()
        .remove(&path)
        .ok_or_else(|| Error::invalid(format!("No secret engine mount at {path}")))?;
    let Value::Object(m) = m else {
        return Err(Error::failed("mount"));
    };
    Ok(also_top_level(id, m))
}

/// `GET /v1/sys/internal/ui/mounts`: every mount, by kind.
pub async fn ui_mounts(id: Answering) -> Response {
    ok(
        id,
        &json!({ "auth": auths(), "secret": secrets() }),
        Facts::default(),
    )
}

/// `GET /v1/sys/internal/ui/mounts/PATH`: the mount `PATH` is under, with
/// its own path (`transit/`, or `token/` for `auth/token/...`); 403 for a
/// path under no mount, as Vault answers.
pub async fn ui_mount_of(id: Answering, Path(path): Path<String>) -> Result<Response, Error> {
    let (mut m, at) = if path == "transit" || path.starts_with("transit/") {
        (transit(), "transit/")
    } else if path == "secret" || path.starts_with("secret/") {
        (kv(), "secret/")
    } else if path == "sys" || path.starts_with("sys/") {
        (system(), "sys/")
    } else if path == "auth/token" || path.starts_with("auth/token/") {
        (token(), "token/")
    } else {
        return Err(Error::Forbidden(format!(
            "no mount at {}",
            path.chars().take(100).collect::<String>()
        )));
    };
    m["path"] = json!(at);
    Ok(ok(id, &m, Facts::default()))
}

#[derive(Default, Deserialize, Serialize)]
pub struct CapabilitiesRequest {
    paths: Option<Vec<String>>,
    path: Option<String>,
}

/// Most paths asked about in one `sys/capabilities-self`.
const MAX_PATHS: usize = 64;

/// `POST /v1/sys/capabilities-self` `{paths}` (or `{path}`): the
/// presenting token's capabilities on each path (`["root"]` for root,
/// `["deny"]` for none), and under `capabilities` too when one path was
/// asked.
pub async fn capabilities_self(
    State(app): State<AppState>,
    id: Answering,
    Authed(identity): Authed,
    body: Posted,
) -> Result<Response, Error> {
    let req: CapabilitiesRequest = json_body(body).await?;
    let paths: Vec<String> = req
        .paths
        .unwrap_or_default()
        .into_iter()
        .chain(req.path)
        .collect();
    if paths.is_empty() {
        return Err(Error::invalid("missing paths"));
    }
    if paths.len() > MAX_PATHS {
        return Err(Error::invalid(format!("at most {MAX_PATHS} paths")));
    }
    let policies = identity.policies();
    let mut data = Map::new();
    for path in &paths {
        let names = match app
            .state
            .capabilities(&policies, path.trim_start_matches('/'))
        {
            None => vec!["root"],
            Some(bits) => acl::cap_names(bits),
        };
        data.insert(path.clone(), json!(names));
    }
    if let [only] = paths.as_slice() {
        data.insert("capabilities".into(), data[only.as_str()].clone());
    }
    Ok(also_top_level(id, data))
}
