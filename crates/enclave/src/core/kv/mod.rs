//! Vault's KV v2 engine at `secret/`: versioned secrets whose values exist
//! in clear only inside the enclave. Each operation reads or changes one
//! secret ([`crate::state::kv`], one sealed record per path) in one
//! durable write.
//!
//! As Vault: every write makes a version; `cas` must name the current
//! version (0: none yet), and is required when `cas_required`; the oldest
//! versions go beyond `max_versions` (0: the engine's, 0 there: 10);
//! delete hides a version (undelete shows it again), destroy removes its
//! data for good; `delete_version_after` deletes each version that long
//! after it was written. Caps of ours: [`MAX_VERSIONS`] kept and
//! [`MAX_SECRET_BYTES`] of data per secret, paths of at most
//! [`MAX_PATH`] characters.
//!
//! A secret marked `release_only_to_attested` (in its metadata; never
//! unset) is never read in clear: only wrapped to the key of a token from
//! the attested login ([`release`], through `crate::core::release`).

pub mod json;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use self::json::{go_duration, Tree};
use crate::clock::{now_nanos, rfc3339_nanos};
use crate::core::input::{lenient_bool, lenient_u64, parse_ttl};
use crate::core::release;
use crate::error::Error;
use crate::state::kv::{Secret, Version};
use crate::state::tokens::Identity;
use crate::state::State;

/// Most versions kept of one secret (`max_versions` may not exceed it).
pub const MAX_VERSIONS: u64 = 100;
/// Versions kept when neither the secret nor the engine says (Vault's).
const DEFAULT_VERSIONS: u64 = 10;
/// Most bytes of data (JSON text) all kept versions of one secret hold.
pub const MAX_SECRET_BYTES: usize = 8 << 20;
/// Longest secret path, in characters (the classifier cuts longer ones
/// to one more, so a cut path is always refused).
pub const MAX_PATH: usize = 255;
/// Vault's limits on `custom_metadata`.
const MAX_CUSTOM_KEYS: usize = 64;
const MAX_CUSTOM_KEY: usize = 128;
const MAX_CUSTOM_VALUE: usize = 512;

/// The meta record of the engine's settings.
const CONFIG_ID: &str = "kv.secret.config";

const NANOS: u64 = 1_000_000_000;

/// The engine's settings (`secret/config`).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Config {
    pub max_versions: u64,
    pub cas_required: bool,
    pub delete_version_after: u64,
}

/// `POST secret/config`.
#[derive(Default, Serialize, Deserialize)]
pub struct ConfigRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub max_versions: Option<u64>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub cas_required: Option<bool>,
    pub delete_version_after: Option<Value>,
}

/// `POST secret/metadata/PATH`.
#[derive(Default, Serialize, Deserialize)]
pub struct MetadataRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub max_versions: Option<u64>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub cas_required: Option<bool>,
    pub delete_version_after: Option<Value>,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub release_only_to_attested: Option<bool>,
}

/// A version's metadata, as the data routes answer it.
#[derive(Serialize)]
pub struct VersionMeta {
    pub created_time: String,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    pub deletion_time: String,
    pub destroyed: bool,
    pub version: u64,
}

/// What a read finds.
pub enum Read {
    /// The version's data (JSON text of an object).
    Found(Zeroizing<String>, VersionMeta),
    /// Deleted or destroyed: its metadata only (Vault's 404 with data).
    Gone(VersionMeta),
}

/// A secret path as given (decoded): refused if relative or empty
/// segments could name another secret than it seems to, or too long.
pub fn check_path(path: &str) -> Result<(), Error> {
    if path.split('/').any(|s| s == "..") {
        return Err(Error::invalid("relative paths not supported"));
    }
    if path.starts_with('/') || path.contains("//") {
        return Err(Error::invalid(
            "empty segment in the secret path ('//' or a leading '/'): remove it",
        ));
    }
    if path.chars().count() > MAX_PATH {
        return Err(Error::invalid(format!(
            "secret path longer than {MAX_PATH} characters"
        )));
    }
    Ok(())
}

/// [`check_path`] for a write: a secret, not a folder.
pub fn check_secret_path(path: &str) -> Result<(), Error> {
    check_path(path)?;
    if path.is_empty() || path.ends_with('/') {
        return Err(Error::invalid("cannot write to a path ending in '/'"));
    }
    Ok(())
}

pub fn config(state: &State) -> Config {
    state
        .meta_record(CONFIG_ID)
        .and_then(|r| serde_json::from_slice(&r).ok())
        .unwrap_or_default()
}

pub fn set_config(state: &State, req: &ConfigRequest) -> Result<(), Error> {
    let mut config = config(state);
    if let Some(n) = req.max_versions {
        config.max_versions = checked_max_versions(n)?;
    }
    if let Some(b) = req.cas_required {
        config.cas_required = b;
    }
    if let Some(d) = &req.delete_version_after {
        config.delete_version_after = duration(d)?;
    }
    let record = serde_json::to_vec(&config).map_err(|_| Error::failed("kv config"))?;
    state.put_meta_record(CONFIG_ID, Zeroizing::new(record))
}

/// The engine's settings as `secret/config` answers them.
pub fn config_answer(config: &Config) -> Value {
    serde_json::json!({
        "cas_required": config.cas_required,
        "delete_version_after": go_duration(config.delete_version_after),
        "max_versions": config.max_versions,
        "metadata_cas_required": false,
    })
}

fn checked_max_versions(n: u64) -> Result<u64, Error> {
    if n > MAX_VERSIONS {
        return Err(Error::invalid(format!(
            "max_versions is at most {MAX_VERSIONS} here (every version kept is sealed in one record)"
        )));
    }
    Ok(n)
}

/// `delete_version_after`: a duration; Vault's `-1` (or any negative)
/// means never.
fn duration(v: &Value) -> Result<u64, Error> {
    match v {
        Value::Number(n) if n.as_i64().is_some_and(|n| n < 0) => Ok(0),
        Value::String(s) if s.starts_with('-') => Ok(0),
        Value::String(s) if s.is_empty() => Ok(0),
        v => parse_ttl(v),
    }
}

fn meta_of(secret: &Secret, number: u64, v: &Version) -> VersionMeta {
    VersionMeta {
        created_time: rfc3339_nanos(v.created_time),
        custom_metadata: custom(secret),
        deletion_time: v.deletion_time.map(rfc3339_nanos).unwrap_or_default(),
        destroyed: v.destroyed,
        version: number,
    }
}

fn custom(secret: &Secret) -> Option<BTreeMap<String, String>> {
    (!secret.custom_metadata.is_empty()).then(|| secret.custom_metadata.clone())
}

/// Writes `data` (which must be a JSON object) as a new version of
/// `path`; with `cas`, only if the current version is that one.
pub fn put(
    state: &State,
    path: &str,
    data: Option<&Value>,
    cas: Option<u64>,
) -> Result<VersionMeta, Error> {
    check_secret_path(path)?;
    let data =
        match data {
            None | Some(Value::Null) => return Err(Error::invalid("no data provided")),
            Some(Value::Object(_)) => data.unwrap_or(&Value::Null),
            Some(_) => return Err(Error::invalid(
                "data must be a JSON object of fields, e.g. {\"data\": {\"password\": \"...\"}}",
            )),
        };
    let text = json::text(data)?;
    let config = config(state);
    state.change_secret(path, |current| {
        let next = with_version(current, &config, cas, text.clone())?;
        let meta = latest_meta(&next);
        Ok((Some(next), meta))
    })
}

/// Applies merge patch `patch` (an object) to the current version's data
/// as a new version; not found if there is no live current version.
pub fn patch(
    state: &State,
    path: &str,
    patch: Option<&Value>,
    cas: Option<u64>,
) -> Result<VersionMeta, Error> {
    check_secret_path(path)?;
    let Some(patch @ Value::Object(_)) = patch else {
        return Err(Error::invalid(
            "data must be a JSON object of the fields to change (null removes one)",
        ));
    };
    let config = config(state);
    let now = now_nanos();
    state.change_secret(path, |current| {
        let live = current
            .and_then(|s| s.versions.get(&s.current_version))
            .filter(|v| !v.is_deleted(now))
            .and_then(|v| v.data.as_ref())
            .ok_or_else(|| Error::not_found(""))?;
        let mut merged = json::tree(live)?;
        json::merge(&mut merged.0, patch.clone());
        let text = json::text(&merged.0)?;
        let next = with_version(current, &config, cas, text)?;
        let meta = latest_meta(&next);
        Ok((Some(next), meta))
    })
}

fn latest_meta(secret: &Secret) -> VersionMeta {
    let number = secret.current_version;
    let version = secret.versions.get(&number).cloned().unwrap_or_default();
    meta_of(secret, number, &version)
}

/// `current` with a new version holding `text`, checked against `cas`,
/// trimmed to its `max_versions` and the size cap.
fn with_version(
    current: Option<&Secret>,
    config: &Config,
    cas: Option<u64>,
    text: Zeroizing<String>,
) -> Result<Secret, Error> {
    let now = now_nanos();
    let mut secret = current.cloned().unwrap_or_else(|| Secret {
        created_time: now,
        ..Secret::default()
    });
    let cas_required = secret.cas_required || config.cas_required;
    match cas {
        None if cas_required => {
            return Err(Error::invalid(
                "check-and-set parameter required for this call",
            ))
        }
        Some(cas) if cas != secret.current_version => {
            return Err(Error::invalid(
                "check-and-set parameter did not match the current version",
            ))
        }
        _ => {}
    }
    let after = match secret.delete_version_after {
        0 => config.delete_version_after,
        n => n,
    };
    let number = secret.current_version + 1;
    secret.versions.insert(
        number,
        Version {
            created_time: now,
            deletion_time: (after > 0).then(|| now.saturating_add(after.saturating_mul(NANOS))),
            destroyed: false,
            data: Some(text),
        },
    );
    secret.current_version = number;
    secret.updated_time = now;
    let keep = match (secret.max_versions, config.max_versions) {
        (0, 0) => DEFAULT_VERSIONS,
        (0, n) | (n, _) => n,
    };
    trim(&mut secret, keep);
    let held: usize = secret
        .versions
        .values()
        .filter_map(|v| v.data.as_ref())
        .map(|d| d.len())
        .sum();
    if held > MAX_SECRET_BYTES {
        return Err(Error::invalid(format!(
            "the secret's versions would hold {held} bytes of data, more than the {MAX_SECRET_BYTES} \
             allowed per secret: destroy older versions or lower max_versions first"
        )));
    }
    Ok(secret)
}

/// Drops the oldest versions beyond `keep`.
fn trim(secret: &mut Secret, keep: u64) {
    while secret.versions.len() as u64 > keep {
        secret.versions.pop_first();
    }
    if let Some((&first, _)) = secret.versions.first_key_value() {
        if first > 1 {
            secret.oldest_version = first;
        }
    }
}

/// Version `version` of `path` (`None` or 0: the current one); `Ok(None)`
/// if there is none. A release-only secret is refused unless `released`.
pub fn read(
    state: &State,
    path: &str,
    version: Option<u64>,
    released: bool,
) -> Result<Option<Read>, Error> {
    check_path(path)?;
    let Some(secret) = state.secret(path) else {
        return Ok(None);
    };
    if secret.release_only_to_attested && !released {
        return Err(release_only(path));
    }
    let number = match version {
        None | Some(0) => secret.current_version,
        Some(n) => n,
    };
    let Some(v) = secret.versions.get(&number) else {
        return Ok(None);
    };
    let meta = meta_of(&secret, number, v);
    Ok(Some(match &v.data {
        Some(data) if !v.destroyed && !v.is_deleted(now_nanos()) => Read::Found(data.clone(), meta),
        _ => Read::Gone(meta),
    }))
}

fn release_only(path: &str) -> Error {
    Error::Forbidden(format!(
        "secret/data/{path} is release-only: read it with ?recipient=attested and a token from auth/attest/login"
    ))
}

/// `data` wrapped to the attested key of `identity`'s token (the
/// key-release format), base64.
pub fn release(identity: &Identity, data: &str) -> Result<String, Error> {
    let recipient = release::recipient_key(identity)?;
    release::wrap(&recipient, data.as_bytes())
}

/// The keys of version `version` (as [`read`]) without their values.
pub fn subkeys(
    state: &State,
    path: &str,
    version: Option<u64>,
    depth: u64,
) -> Result<Option<(Value, VersionMeta)>, Error> {
    match read(state, path, version, false)? {
        Some(Read::Found(data, meta)) => {
            let tree: Tree = json::tree(&data)?;
            Ok(Some((json::subkeys(&tree.0, depth), meta)))
        }
        _ => Ok(None),
    }
}

/// What a change of versions does to each version named.
#[derive(Clone, Copy)]
pub enum Mark {
    Delete,
    Undelete,
    Destroy,
}

/// Deletes the current version of `path` (nothing if there is none).
pub fn delete_latest(state: &State, path: &str) -> Result<(), Error> {
    check_secret_path(path)?;
    let now = now_nanos();
    state.change_secret(path, |current| {
        let Some(secret) = current else {
            return Ok((None, ()));
        };
        let mut next = secret.clone();
        if let Some(v) = next.versions.get_mut(&secret.current_version) {
            if !v.is_deleted(now) {
                v.deletion_time = Some(now);
            }
        }
        Ok((Some(next), ()))
    })
}

/// Deletes, undeletes or destroys `versions` of `path`; versions that do
/// not exist are skipped, as in Vault.
pub fn mark(state: &State, path: &str, versions: &[u64], mark: Mark) -> Result<(), Error> {
    check_secret_path(path)?;
    if versions.is_empty() {
        return Err(Error::invalid("No version number provided"));
    }
    let now = now_nanos();
    state.change_secret(path, |current| {
        let Some(secret) = current else {
            return Ok((None, ()));
        };
        let mut next = secret.clone();
        for n in versions {
            let Some(v) = next.versions.get_mut(n) else {
                continue;
            };
            match mark {
                Mark::Delete if !v.destroyed && !v.is_deleted(now) => v.deletion_time = Some(now),
                Mark::Undelete if !v.destroyed => v.deletion_time = None,
                Mark::Destroy => {
                    v.destroyed = true;
                    v.data = None;
                }
                _ => {}
            }
        }
        Ok((Some(next), ()))
    })
}

/// `secret/metadata/PATH` as Vault answers it.
pub fn metadata(state: &State, path: &str) -> Result<Option<Value>, Error> {
    check_path(path)?;
    let Some(s) = state.secret(path) else {
        return Ok(None);
    };
    let versions: Map<String, Value> = s
        .versions
        .iter()
        .map(|(n, v)| {
            let m = meta_of(&s, *n, v);
            (
                n.to_string(),
                serde_json::json!({
                    "created_time": m.created_time,
                    "deletion_time": m.deletion_time,
                    "destroyed": m.destroyed,
                }),
            )
        })
        .collect();
    let mut answer = serde_json::json!({
        "cas_required": s.cas_required,
        "created_time": rfc3339_nanos(s.created_time),
        "current_metadata_version": s.current_metadata_version,
        "current_version": s.current_version,
        "custom_metadata": custom(&s),
        "delete_version_after": go_duration(s.delete_version_after),
        "max_versions": s.max_versions,
        "metadata_cas_required": false,
        "oldest_version": s.oldest_version,
        "updated_time": rfc3339_nanos(s.updated_time),
        "versions": versions,
    });
    // Ours, not Vault's: shown only where set.
    if s.release_only_to_attested {
        answer["release_only_to_attested"] = Value::Bool(true);
    }
    Ok(Some(answer))
}

/// Writes the metadata of `path` (made if absent): the fields given.
pub fn write_metadata(state: &State, path: &str, req: &MetadataRequest) -> Result<(), Error> {
    check_secret_path(path)?;
    let max_versions = req.max_versions.map(checked_max_versions).transpose()?;
    let after = req
        .delete_version_after
        .as_ref()
        .map(duration)
        .transpose()?;
    if let Some(custom) = &req.custom_metadata {
        check_custom(custom)?;
    }
    let now = now_nanos();
    state.change_secret(path, |current| {
        let mut next = current.cloned().unwrap_or_else(|| Secret {
            created_time: now,
            ..Secret::default()
        });
        if next.release_only_to_attested && req.release_only_to_attested == Some(false) {
            return Err(Error::invalid(
                "release_only_to_attested cannot be unset: delete the secret's metadata (all its versions) instead",
            ));
        }
        if let Some(n) = max_versions {
            next.max_versions = n;
            if n > 0 {
                trim(&mut next, n);
            }
        }
        if let Some(b) = req.cas_required {
            next.cas_required = b;
        }
        if let Some(d) = after {
            next.delete_version_after = d;
        }
        if let Some(custom) = &req.custom_metadata {
            next.custom_metadata = custom.clone();
        }
        if req.release_only_to_attested == Some(true) {
            next.release_only_to_attested = true;
        }
        next.current_metadata_version += 1;
        next.updated_time = now;
        Ok((Some(next), ()))
    })
}

fn check_custom(custom: &BTreeMap<String, String>) -> Result<(), Error> {
    if custom.len() > MAX_CUSTOM_KEYS {
        return Err(Error::invalid(format!(
            "custom_metadata has {} keys, more than the {MAX_CUSTOM_KEYS} allowed",
            custom.len()
        )));
    }
    for (k, v) in custom {
        if k.is_empty() || k.len() > MAX_CUSTOM_KEY || v.len() > MAX_CUSTOM_VALUE {
            return Err(Error::invalid(format!(
                "custom_metadata keys must be 1 to {MAX_CUSTOM_KEY} bytes and values at most {MAX_CUSTOM_VALUE} bytes"
            )));
        }
    }
    Ok(())
}

/// Removes `path` with every version and its metadata.
pub fn delete_metadata(state: &State, path: &str) -> Result<(), Error> {
    check_secret_path(path)?;
    state.change_secret(path, |_| Ok((None, ())))
}

/// The names under folder `prefix` (`""` or ending in `/`): secrets, and
/// sub-folders with their `/`; `None` if there are none.
pub fn list(state: &State, prefix: &str) -> Result<Option<Vec<String>>, Error> {
    check_path(prefix)?;
    let mut prefix = prefix.to_string();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    let names: BTreeSet<String> = state
        .secret_paths(&prefix)
        .iter()
        .map(|p| {
            let rest = &p[prefix.len()..];
            match rest.split_once('/') {
                Some((folder, _)) => format!("{folder}/"),
                None => rest.to_string(),
            }
        })
        .collect();
    Ok((!names.is_empty()).then(|| names.into_iter().collect()))
}
