//! Key management: create, read, list, delete, config, rotate, trim,
//! export, backup, restore.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::auth::Authed;
use super::keys::{new_version, Key, KeyType, B64};
use super::{
    blocking, check_name, envelope, json_body, lenient_bool, lenient_u64, no_content, Fail,
};
use crate::api::AppState;

#[derive(Default, Deserialize)]
pub struct CreateRequest {
    #[serde(rename = "type")]
    key_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    exportable: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    allow_plaintext_backup: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    derived: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    convergent_encryption: Option<bool>,
    #[serde(default, deserialize_with = "lenient_u64")]
    key_size: Option<u64>,
}

/// `POST /v1/transit/keys/:name`: creates the key (no change if it exists)
/// and answers with the key's description.
pub async fn create(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    check_name(&name)?;
    let req: CreateRequest = json_body(body).await?;
    let key_type = match req.key_type.as_deref() {
        None | Some("") => KeyType::Aes256Gcm96,
        Some(t) => KeyType::parse(t).ok_or_else(|| Fail::bad(format!("unknown key type {t}")))?,
    };
    if req.derived == Some(true) || req.convergent_encryption == Some(true) {
        return Err(Fail::bad(
            "key derivation and convergent encryption are not supported",
        ));
    }
    let hmac_size = match (key_type, req.key_size) {
        (KeyType::Hmac, None | Some(0)) => 32,
        (KeyType::Hmac, Some(n)) if (32..=512).contains(&n) => {
            usize::try_from(n).map_err(|_| Fail::bad("invalid key_size"))?
        }
        (KeyType::Hmac, Some(_)) => {
            return Err(Fail::bad("invalid key_size: 32 to 512 bytes for hmac keys"))
        }
        (_, None | Some(0)) => 0,
        (_, Some(_)) => return Err(Fail::bad("key_size is only valid for hmac keys")),
    };
    let key = blocking(&state.transit, move |t| {
        if let Some(existing) = t.find(&name) {
            return Ok(existing);
        }
        let version = new_version(key_type, hmac_size)?;
        let key = Key {
            name: name.clone(),
            key_type,
            deletion_allowed: false,
            exportable: req.exportable.unwrap_or(false),
            allow_plaintext_backup: req.allow_plaintext_backup.unwrap_or(false),
            min_decryption_version: 1,
            min_encryption_version: 0,
            min_available_version: 0,
            latest_version: 1,
            versions: [(1, version)].into_iter().collect(),
            imported: false,
            allow_rotation: true,
        };
        t.create(key)?;
        t.get(&name)
    })
    .await?;
    Ok(envelope(key.info()?))
}

/// `GET /v1/transit/keys/:name`.
pub async fn read(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
) -> Result<Response, Fail> {
    let key = state
        .transit
        .find(&name)
        .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "key not found"))?;
    let info = blocking(&state.transit, move |_| key.info()).await?;
    Ok(envelope(info))
}

/// `LIST /v1/transit/keys` or `GET /v1/transit/keys?list=true`.
pub async fn list(
    State(state): State<AppState>,
    _: Authed,
    method: Method,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let is_list = method.as_str() == "LIST"
        || (method == Method::GET && query.get("list").map(String::as_str) == Some("true"));
    if !is_list {
        return Err(Fail::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "use LIST (or GET with ?list=true)",
        ));
    }
    let names = state.transit.names();
    if names.is_empty() {
        // Vault answers an empty list with 404.
        return Err(Fail::new(StatusCode::NOT_FOUND, "no keys"));
    }
    Ok(envelope(serde_json::json!({ "keys": names })))
}

/// `DELETE /v1/transit/keys/:name`: needs `deletion_allowed`.
pub async fn delete(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
) -> Result<Response, Fail> {
    blocking(&state.transit, move |t| t.delete(&name)).await?;
    Ok(no_content())
}

#[derive(Default, Deserialize)]
pub struct ConfigRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    min_decryption_version: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    min_encryption_version: Option<u64>,
    #[serde(default, deserialize_with = "lenient_bool")]
    deletion_allowed: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    exportable: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    allow_plaintext_backup: Option<bool>,
    #[serde(default, deserialize_with = "lenient_u64")]
    auto_rotate_period: Option<u64>,
}

/// `POST /v1/transit/keys/:name/config`.
pub async fn config(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    let req: ConfigRequest = json_body(body).await?;
    let key = blocking(&state.transit, move |t| {
        t.update(&name, |k| {
            if req.auto_rotate_period.unwrap_or(0) != 0 {
                return Err(Fail::bad("auto_rotate_period is not supported"));
            }
            if let Some(v) = req.min_decryption_version {
                let v = v.max(1);
                if v > k.latest_version {
                    return Err(Fail::bad(
                        "cannot set min decryption version of a key above its latest version",
                    ));
                }
                if v < k.min_available_version {
                    return Err(Fail::bad(
                        "cannot set min decryption version below the trimmed versions",
                    ));
                }
                k.min_decryption_version = v;
            }
            if let Some(v) = req.min_encryption_version {
                if v > k.latest_version {
                    return Err(Fail::bad(
                        "cannot set min encryption version of a key above its latest version",
                    ));
                }
                k.min_encryption_version = v;
            }
            if k.min_encryption_version > 0 && k.min_encryption_version < k.min_decryption_version {
                return Err(Fail::bad(
                    "min encryption version should not be less than min decryption version",
                ));
            }
            if let Some(b) = req.deletion_allowed {
                k.deletion_allowed = b;
            }
            if let Some(b) = req.exportable {
                if !b && k.exportable {
                    return Err(Fail::bad("exportability cannot be disabled once enabled"));
                }
                k.exportable = b;
            }
            if let Some(b) = req.allow_plaintext_backup {
                if !b && k.allow_plaintext_backup {
                    return Err(Fail::bad(
                        "allow_plaintext_backup cannot be disabled once enabled",
                    ));
                }
                k.allow_plaintext_backup = b;
            }
            Ok(())
        })
    })
    .await?;
    Ok(envelope(key.info()?))
}

/// `POST /v1/transit/keys/:name/rotate`: adds a version.
pub async fn rotate(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    let _: serde_json::Value = json_body::<Option<serde_json::Value>>(body)
        .await?
        .unwrap_or_default();
    let key = blocking(&state.transit, move |t| {
        let current = t.get(&name)?;
        if current.imported && !current.allow_rotation {
            return Err(Fail::bad(
                "imported key was not imported with allow_rotation",
            ));
        }
        let hmac_size = current
            .versions
            .values()
            .next_back()
            .map(|v| v.secret.len())
            .unwrap_or(32);
        // Generate outside the store lock (RSA takes a while).
        let version = new_version(current.key_type, hmac_size)?;
        t.update(&name, move |k| {
            let n = k.latest_version + 1;
            k.versions.insert(n, version);
            k.latest_version = n;
            Ok(())
        })
    })
    .await?;
    Ok(envelope(key.info()?))
}

#[derive(Default, Deserialize)]
pub struct TrimRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    min_available_version: Option<u64>,
}

/// `POST /v1/transit/keys/:name/trim`: drops versions below
/// `min_available_version`.
pub async fn trim(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    let req: TrimRequest = json_body(body).await?;
    let Some(min) = req.min_available_version else {
        return Err(Fail::bad("missing min_available_version"));
    };
    let key = blocking(&state.transit, move |t| {
        t.update(&name, |k| {
            if min < 1 {
                return Err(Fail::bad("minimum available version should be positive"));
            }
            if min < k.min_available_version {
                return Err(Fail::bad(
                    "minimum available version cannot be less than the current one",
                ));
            }
            if min > k.min_decryption_version {
                return Err(Fail::bad(
                    "minimum available version cannot be greater than minimum decryption version",
                ));
            }
            if k.min_encryption_version > 0 && min > k.min_encryption_version {
                return Err(Fail::bad(
                    "minimum available version cannot be greater than minimum encryption version",
                ));
            }
            k.versions.retain(|v, _| *v >= min);
            k.min_available_version = min;
            Ok(())
        })
    })
    .await?;
    Ok(envelope(key.info()?))
}

fn export_keys(
    state: &AppState,
    kind: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Response, Fail> {
    if !matches!(
        kind,
        "encryption-key" | "signing-key" | "hmac-key" | "public-key"
    ) {
        return Err(Fail::bad(format!("invalid export type {kind}")));
    }
    let key = state
        .transit
        .find(name)
        .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "key not found"))?;
    if kind != "public-key" && !key.exportable {
        return Err(Fail::bad("private key material is not exportable"));
    }
    let mut keys = key.export(kind)?;
    if let Some(v) = version {
        let wanted = if v == "latest" {
            key.latest_version.to_string()
        } else {
            v.to_string()
        };
        keys.retain(|k, _| *k == wanted);
        if keys.is_empty() {
            return Err(Fail::bad("invalid key version"));
        }
    }
    Ok(envelope(serde_json::json!({
        "name": key.name,
        "type": key.key_type.name(),
        "keys": keys,
    })))
}

/// `GET /v1/transit/export/:kind/:name`.
pub async fn export(
    State(state): State<AppState>,
    _: Authed,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Response, Fail> {
    export_keys(&state, &kind, &name, None)
}

/// `GET /v1/transit/export/:kind/:name/:version`.
pub async fn export_version(
    State(state): State<AppState>,
    _: Authed,
    Path((kind, name, version)): Path<(String, String, String)>,
) -> Result<Response, Fail> {
    export_keys(&state, &kind, &name, Some(&version))
}

/// `GET /v1/transit/backup/:name`: the whole key, base64 of its record;
/// needs `exportable` and `allow_plaintext_backup`, as in Vault.
pub async fn backup(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
) -> Result<Response, Fail> {
    let key = state
        .transit
        .find(&name)
        .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "key not found"))?;
    if !key.exportable || !key.allow_plaintext_backup {
        return Err(Fail::bad(
            "plaintext backup is disallowed on the policy (needs exportable and allow_plaintext_backup)",
        ));
    }
    let record = Zeroizing::new(serde_json::to_vec(&*key).map_err(|_| Fail::internal("backup"))?);
    let backup = Zeroizing::new(B64.encode(record.as_slice()));
    Ok(envelope(serde_json::json!({ "backup": backup.as_str() })))
}

#[derive(Default, Deserialize)]
pub struct RestoreRequest {
    backup: Option<Zeroizing<String>>,
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    force: Option<bool>,
}

async fn do_restore(
    state: AppState,
    path_name: Option<String>,
    body: Body,
) -> Result<Response, Fail> {
    let req: RestoreRequest = json_body(body).await?;
    let Some(backup) = req.backup else {
        return Err(Fail::bad("missing backup"));
    };
    let record = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(backup.as_bytes())
            .map_err(|_| Fail::bad("failed to base64-decode backup"))?,
    );
    let mut key: Key = serde_json::from_slice(&record).map_err(|_| Fail::bad("invalid backup"))?;
    if let Some(name) = path_name.or(req.name).filter(|n| !n.is_empty()) {
        key.name = name;
    }
    check_name(&key.name)?;
    if key.latest_version == 0
        || !key.versions.contains_key(&key.latest_version)
        || key.versions.keys().any(|v| *v > key.latest_version)
    {
        return Err(Fail::bad("invalid backup"));
    }
    for v in key.versions.values() {
        let aes_ok = key.key_type != KeyType::Aes256Gcm96 || v.secret.len() == 32;
        if !aes_ok || v.secret.is_empty() {
            return Err(Fail::bad("invalid backup"));
        }
    }
    // Parses every asymmetric version's key.
    if key.info().is_err() {
        return Err(Fail::bad("invalid backup"));
    }
    let force = req.force.unwrap_or(false);
    blocking(&state.transit, move |t| t.put(key, force)).await?;
    Ok(no_content())
}

/// `POST /v1/transit/restore`.
pub async fn restore(
    State(state): State<AppState>,
    _: Authed,
    body: Body,
) -> Result<Response, Fail> {
    do_restore(state, None, body).await
}

/// `POST /v1/transit/restore/:name`.
pub async fn restore_named(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    do_restore(state, Some(name), body).await
}
