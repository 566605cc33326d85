//! Key management: create, read, list, delete, config, rotate, trim,
//! export, backup, restore.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::describe::{self, KeyInfo};
use super::import;
use super::input::parse_ttl;
use super::input::{check_name, lenient_bool, lenient_u64};
use super::keys::{self, new_version, B64};
use crate::error::Error;
use crate::state::acl::Access;
use crate::state::key::{Key, KeyType, Stamp, MAX_VERSION};
use crate::state::tokens::Identity;
use crate::state::State;

#[derive(Default, Deserialize, Serialize)]
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
    auto_rotate_period: Option<Value>,
    #[serde(default, deserialize_with = "lenient_bool")]
    release_only_to_attested: Option<bool>,
    /// Fields this route does not know: their names only (Vault warns of
    /// them and goes on); the parameter constraints see them as sent.
    #[serde(flatten, skip_serializing)]
    unrecognized: BTreeMap<String, serde::de::IgnoredAny>,
}

impl CreateRequest {
    /// Vault's warning for the fields the request had that this route does
    /// not know, if any.
    pub fn warning(&self) -> Option<String> {
        super::input::unrecognized_warning(self.unrecognized.keys().map(String::as_str), &[])
    }

    /// A key of `key_type` (the default if `None`) with the default policy.
    pub fn of_type(key_type: Option<String>) -> Self {
        Self {
            key_type,
            ..Self::default()
        }
    }

    /// The same request, for a derived (and maybe convergent) key.
    pub fn derived(mut self, derived: bool, convergent: bool) -> Self {
        self.derived = Some(derived);
        self.convergent_encryption = Some(convergent);
        self
    }

    /// The type asked for, if any.
    pub fn key_type(&self) -> Option<&str> {
        self.key_type.as_deref()
    }
}

/// Creates the key `name` (no change if it exists); its description.
pub fn create(state: &State, name: &str, req: CreateRequest) -> Result<KeyInfo, Error> {
    check_name(name)?;
    let auto_rotate_period = rotate_period(req.auto_rotate_period.as_ref())?;
    let key_type = match req.key_type.as_deref() {
        None | Some("") => KeyType::Aes256Gcm96,
        Some(t) => {
            KeyType::parse(t).ok_or_else(|| Error::invalid(format!("unknown key type {t}")))?
        }
    };
    let derived = req.derived == Some(true);
    let convergent = req.convergent_encryption == Some(true);
    check_derivation(key_type, derived, convergent)?;
    let hmac_size = match (key_type, req.key_size) {
        (KeyType::Hmac, None | Some(0)) => 32,
        (KeyType::Hmac, Some(n)) if (32..=512).contains(&n) => {
            usize::try_from(n).map_err(|_| Error::invalid("invalid key_size"))?
        }
        (KeyType::Hmac, Some(_)) => {
            return Err(Error::invalid(
                "invalid key_size: 32 to 512 bytes for hmac keys",
            ))
        }
        (_, None | Some(0)) => 0,
        (_, Some(_)) => return Err(Error::invalid("key_size is only valid for hmac keys")),
    };
    if let Some(existing) = state.find(name) {
        return describe::info(&existing);
    }
    let version = new_version(key_type, hmac_size)?;
    let mut key = Key::new(name.to_string(), key_type, version);
    key.auto_rotate_period = auto_rotate_period.unwrap_or(0);
    key.exportable = req.exportable.unwrap_or(false);
    key.allow_plaintext_backup = req.allow_plaintext_backup.unwrap_or(false);
    key.derived = derived;
    key.convergent_encryption = convergent;
    key.release_only_to_attested = req.release_only_to_attested.unwrap_or(false);
    key.check_release_policy()?;
    state.create(key)?;
    describe::info(&*state.get(name)?)
}

/// Whether a key of `key_type` may be `derived` (and `convergent`), in
/// Vault's words where it has them. minikms derives encryption keys only
/// (not Ed25519 signing keys, which Vault also derives).
fn check_derivation(key_type: KeyType, derived: bool, convergent: bool) -> Result<(), Error> {
    if convergent && !derived {
        return Err(Error::invalid(
            "convergent encryption requires derivation to be enabled",
        ));
    }
    if derived && key_type.aead().is_none() {
        return Err(Error::invalid(format!(
            "key derivation is not supported for keys of type {} by minikms",
            key_type.name()
        )));
    }
    Ok(())
}

/// A key's description; 404 if there is no such key.
pub fn read(state: &State, name: &str) -> Result<KeyInfo, Error> {
    describe::info(&*found(state, name)?)
}

fn found(state: &State, name: &str) -> Result<std::sync::Arc<Key>, Error> {
    state
        .find(name)
        .ok_or_else(|| Error::not_found("key not found"))
}

/// Every key's name; 404 if there are none (as Vault answers).
pub fn list(state: &State) -> Result<Vec<String>, Error> {
    let names = state.names();
    if names.is_empty() {
        return Err(Error::not_found("no keys"));
    }
    Ok(names)
}

/// Deletes a key whose `deletion_allowed` is set.
pub fn delete(state: &State, name: &str) -> Result<(), Error> {
    state.delete(name)
}

#[derive(Default, Deserialize, Serialize)]
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
    auto_rotate_period: Option<Value>,
}

/// Changes a key's policy.
pub fn config(state: &State, name: &str, req: ConfigRequest) -> Result<KeyInfo, Error> {
    let auto_rotate_period = rotate_period(req.auto_rotate_period.as_ref())?;
    let key = state.update(name, |k| {
        if let Some(p) = auto_rotate_period {
            k.auto_rotate_period = p;
        }
        if let Some(v) = req.min_decryption_version {
            let v = v.max(1);
            if v > k.latest_version {
                return Err(Error::invalid(
                    "cannot set min decryption version of a key above its latest version",
                ));
            }
            if v < k.min_available_version {
                return Err(Error::invalid(
                    "cannot set min decryption version below the trimmed versions",
                ));
            }
            k.min_decryption_version = v;
        }
        if let Some(v) = req.min_encryption_version {
            if v > k.latest_version {
                return Err(Error::invalid(
                    "cannot set min encryption version of a key above its latest version",
                ));
            }
            k.min_encryption_version = v;
        }
        if k.min_encryption_version > 0 && k.min_encryption_version < k.min_decryption_version {
            return Err(Error::invalid(
                "min encryption version should not be less than min decryption version",
            ));
        }
        if let Some(b) = req.deletion_allowed {
            k.deletion_allowed = b;
        }
        if let Some(b) = req.exportable {
            if !b && k.exportable {
                return Err(Error::invalid(
                    "exportability cannot be disabled once enabled",
                ));
            }
            k.exportable = b;
        }
        if let Some(b) = req.allow_plaintext_backup {
            if !b && k.allow_plaintext_backup {
                return Err(Error::invalid(
                    "allow_plaintext_backup cannot be disabled once enabled",
                ));
            }
            k.allow_plaintext_backup = b;
        }
        k.check_release_policy()
    })?;
    describe::info(&key)
}

/// Vault's `auto_rotate_period`: seconds or a duration (`24h`); 0 turns
/// automatic rotation off, else at least an hour, as Vault has it.
fn rotate_period(v: Option<&Value>) -> Result<Option<u64>, Error> {
    let period = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(v) => parse_ttl(v).map_err(|_| {
            Error::invalid("invalid auto_rotate_period: seconds or a duration like 24h")
        })?,
    };
    if period != 0 && period < 3600 {
        return Err(Error::invalid(
            "auto rotate period must be 0 to disable or at least an hour",
        ));
    }
    Ok(Some(period))
}

/// A new version for `key`: of its type, and for `hmac` keys of its size.
pub fn fresh_version(key: &Key) -> Result<crate::state::key::Version, Error> {
    let hmac_size = key
        .versions
        .values()
        .next_back()
        .map(|v| v.secret.len())
        .unwrap_or(32);
    new_version(key.key_type, hmac_size)
}

/// Adds a version.
pub fn rotate(state: &State, name: &str) -> Result<KeyInfo, Error> {
    let current = state.get(name)?;
    if current.imported && !current.allow_rotation {
        return Err(Error::invalid(
            "imported key was not imported with allow_rotation",
        ));
    }
    // Generate outside the store lock (RSA takes a while).
    let version = fresh_version(&current)?;
    describe::info(&*state.update(name, |k| k.add_generated_version(version.clone()))?)
}

#[derive(Default, Deserialize, Serialize)]
pub struct TrimRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    min_available_version: Option<u64>,
}

/// Drops versions below `min_available_version`.
pub fn trim(state: &State, name: &str, req: TrimRequest) -> Result<KeyInfo, Error> {
    let Some(min) = req.min_available_version else {
        return Err(Error::invalid("missing min_available_version"));
    };
    let key = state.update(name, |k| {
        if min < 1 {
            return Err(Error::invalid(
                "minimum available version should be positive",
            ));
        }
        if min < k.min_available_version {
            return Err(Error::invalid(
                "minimum available version cannot be less than the current one",
            ));
        }
        if min > k.min_decryption_version {
            return Err(Error::invalid(
                "minimum available version cannot be greater than minimum decryption version",
            ));
        }
        if k.min_encryption_version > 0 && min > k.min_encryption_version {
            return Err(Error::invalid(
                "minimum available version cannot be greater than minimum encryption version",
            ));
        }
        k.versions.retain(|v, _| *v >= min);
        k.min_available_version = min;
        Ok(())
    })?;
    describe::info(&key)
}

/// Exported key material, by version.
#[derive(Serialize)]
pub struct Exported {
    pub name: String,
    #[serde(rename = "type")]
    pub key_type: &'static str,
    pub keys: BTreeMap<String, Zeroizing<String>>,
}

/// Vault's export of `kind` (`encryption-key`, `signing-key`, `hmac-key`,
/// `public-key`): every version, or only `version` (a number or `latest`).
pub fn export(
    state: &State,
    kind: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Exported, Error> {
    if !matches!(
        kind,
        "encryption-key" | "signing-key" | "hmac-key" | "public-key"
    ) {
        return Err(Error::invalid(format!("invalid export type {kind}")));
    }
    let key = found(state, name)?;
    if kind != "public-key" {
        key.check_clear_export()?;
    }
    if kind != "public-key" && !key.exportable {
        return Err(Error::invalid("private key material is not exportable"));
    }
    export_material(&key, kind, version)
}

/// [`export`] without the key's export policy (checked by the caller).
pub(crate) fn export_material(
    key: &Key,
    kind: &str,
    version: Option<&str>,
) -> Result<Exported, Error> {
    if !matches!(
        kind,
        "encryption-key" | "signing-key" | "hmac-key" | "public-key"
    ) {
        return Err(Error::invalid(format!("invalid export type {kind}")));
    }
    let mut keys = keys::export(key, kind)?;
    if let Some(v) = version {
        let wanted = if v == "latest" {
            key.latest_version.to_string()
        } else {
            v.to_string()
        };
        keys.retain(|k, _| *k == wanted);
        if keys.is_empty() {
            return Err(Error::invalid("invalid key version"));
        }
    }
    Ok(Exported {
        name: key.name.clone(),
        key_type: key.key_type.name(),
        keys,
    })
}

/// A whole key, base64 of its record.
#[derive(Serialize)]
pub struct Backup {
    pub backup: Zeroizing<String>,
}

/// The whole key; needs `exportable` and `allow_plaintext_backup`, as in
/// Vault. The key records when it was backed up (`backup_info`), durably,
/// before the backup (which carries that record too) is returned.
pub fn backup(state: &State, name: &str) -> Result<Backup, Error> {
    found(state, name)?;
    let key = state.update(name, |k| {
        k.check_clear_export()?;
        if !k.exportable || !k.allow_plaintext_backup {
            return Err(Error::invalid(
                "plaintext backup is disallowed on the policy (needs exportable and allow_plaintext_backup)",
            ));
        }
        k.backup_info = Some(Stamp {
            time: crate::clock::now(),
            version: k.latest_version,
        });
        Ok(())
    })?;
    let record = Zeroizing::new(serde_json::to_vec(&*key).map_err(|_| Error::failed("backup"))?);
    Ok(Backup {
        backup: Zeroizing::new(B64.encode(record.as_slice())),
    })
}

#[derive(Default, Deserialize, Serialize)]
pub struct RestoreRequest {
    backup: Option<Zeroizing<String>>,
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    force: Option<bool>,
}

/// Restores a backup, under `path_name` or the request's `name` if given.
/// A forced restore replaces the key there, so `identity` must also be
/// allowed to write `transit/keys/NAME` (Vault asks only for the restore
/// path).
pub fn restore(
    state: &State,
    identity: &Identity,
    path_name: Option<String>,
    req: RestoreRequest,
) -> Result<(), Error> {
    let Some(backup) = req.backup else {
        return Err(Error::invalid("missing backup"));
    };
    let record = Zeroizing::new(
        B64.decode(backup.as_bytes())
            .map_err(|_| Error::invalid("failed to base64-decode backup"))?,
    );
    let mut key: Key =
        serde_json::from_slice(&record).map_err(|_| Error::invalid("invalid backup"))?;
    if let Some(name) = path_name.or(req.name).filter(|n| !n.is_empty()) {
        key.name = name;
    }
    check_name(&key.name)?;
    check_restored(&mut key)?;
    key.restore_info = Some(Stamp {
        time: crate::clock::now(),
        version: key.latest_version,
    });
    let force = req.force.unwrap_or(false);
    if force {
        state.also_allows(
            identity,
            &format!("transit/keys/{}", key.name),
            Access::Write,
        )?;
    }
    state.put(key, force)
}

/// Holds a restored key to what create and import would accept: versions
/// numbered 1 to its latest (at most [`MAX_VERSION`]), policy versions in
/// range, and every version's material checked (and normalised) as import
/// checks it.
fn check_restored(key: &mut Key) -> Result<(), Error> {
    let invalid = |what: &str| Error::invalid(format!("invalid backup: {what}"));
    let latest = key.latest_version;
    if !(1..=MAX_VERSION).contains(&latest) || !key.versions.contains_key(&latest) {
        return Err(invalid("its latest version is missing or out of range"));
    }
    if key.versions.keys().any(|v| *v == 0 || *v > latest) {
        return Err(invalid("a version number is out of range"));
    }
    if key.min_decryption_version > latest || key.min_encryption_version > latest {
        return Err(invalid("a minimum version is above the latest version"));
    }
    if key.min_available_version > key.min_decryption_version.max(1) {
        return Err(invalid(
            "versions were trimmed above the minimum decryption version",
        ));
    }
    let key_type = key.key_type;
    let mut bad = None;
    key.versions.retain(|n, v| {
        if bad.is_some() {
            return true;
        }
        match import::normalise(key_type, &v.secret) {
            Ok(secret) if (32..=512).contains(&v.hmac_key.len()) => v.secret = secret,
            Ok(_) => bad = Some(format!("version {n} has a bad HMAC key")),
            Err(e) => bad = Some(format!("version {n}: {e}")),
        }
        true
    });
    match bad {
        Some(what) => Err(invalid(&what)),
        None => Ok(()),
    }
}
