//! A key described as Vault's key read answers (`GET transit/keys/NAME`,
//! and every write that answers with the key): public parts only.
//!
//! As OpenBao 2.7 shapes it: `keys` maps each version still allowed to
//! decrypt (at or above `min_decryption_version`) to its creation time
//! (symmetric keys) or its public key (asymmetric ones); `hmac` keys show
//! `key_size` and no versions; `kdf` and `convergent_encryption` appear
//! only on derived keys (and `convergent_encryption_version`, -1 as Vault
//! shows keys whose versions carry it, only on convergent ones); `backup_info` and
//! `restore_info` once the key was backed up or restored.

use std::collections::BTreeMap;

use serde::Serialize;

use super::keys::public_key;
use crate::clock::rfc3339;
use crate::error::Error;
use crate::state::key::{Key, KeyType, Stamp};

/// Vault's key read answer.
#[derive(Serialize)]
pub struct KeyInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub key_type: &'static str,
    pub deletion_allowed: bool,
    pub derived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kdf: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub convergent_encryption: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub convergent_encryption_version: Option<i64>,
    pub exportable: bool,
    pub allow_plaintext_backup: bool,
    /// minikms's own field, shown only when set (docs/key-release.md).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub release_only_to_attested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<BTreeMap<u64, VersionInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<usize>,
    pub min_decryption_version: u64,
    pub min_encryption_version: u64,
    pub min_available_version: u64,
    pub latest_version: u64,
    pub supports_encryption: bool,
    pub supports_decryption: bool,
    pub supports_derivation: bool,
    pub supports_signing: bool,
    pub imported_key: bool,
    /// Only on imported keys, as Vault shows it: whether `rotate` may
    /// generate a version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported_key_allow_rotation: Option<bool>,
    pub auto_rotate_period: u64,
    pub soft_deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_info: Option<StampInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_info: Option<StampInfo>,
}

/// One version in [`KeyInfo`]: its creation time (Unix seconds) for
/// symmetric keys; its public key for asymmetric ones.
#[derive(Serialize)]
#[serde(untagged)]
pub enum VersionInfo {
    Created(i64),
    Public {
        /// PEM certificates imported for the version: none here.
        certificate_chain: &'static str,
        creation_time: String,
        name: &'static str,
        public_key: String,
    },
}

/// `backup_info` and `restore_info`: when, and the latest version then.
#[derive(Serialize)]
pub struct StampInfo {
    pub time: String,
    pub version: u64,
}

impl From<Stamp> for StampInfo {
    fn from(s: Stamp) -> Self {
        Self {
            time: rfc3339(s.time),
            version: s.version,
        }
    }
}

/// What a version of an asymmetric key is called in Vault's answer.
fn version_name(t: KeyType) -> &'static str {
    match t {
        KeyType::EcdsaP256 => "P-256",
        KeyType::EcdsaP384 => "P-384",
        KeyType::EcdsaP521 => "P-521",
        other => other.name(),
    }
}

/// Vault's key read answer for `key`.
pub fn info(key: &Key) -> Result<KeyInfo, Error> {
    let t = key.key_type;
    let keys = if t == KeyType::Hmac {
        None
    } else {
        let mut keys = BTreeMap::new();
        for (n, v) in key.versions.iter() {
            if *n < key.min_decryption_version {
                continue;
            }
            let entry = if t.is_asymmetric() {
                VersionInfo::Public {
                    certificate_chain: "",
                    creation_time: rfc3339(u64::try_from(v.created).unwrap_or(0)),
                    name: version_name(t),
                    public_key: public_key(key, v)?,
                }
            } else {
                VersionInfo::Created(v.created)
            };
            keys.insert(*n, entry);
        }
        Some(keys)
    };
    let key_size = (t == KeyType::Hmac).then(|| {
        key.versions
            .values()
            .next_back()
            .map_or(0, |v| v.secret.len())
    });
    Ok(KeyInfo {
        name: key.name.clone(),
        key_type: t.name(),
        deletion_allowed: key.deletion_allowed,
        derived: key.derived,
        kdf: key.derived.then_some("hkdf_sha256"),
        convergent_encryption: key.derived.then_some(key.convergent_encryption),
        convergent_encryption_version: (key.derived && key.convergent_encryption).then_some(-1),
        exportable: key.exportable,
        allow_plaintext_backup: key.allow_plaintext_backup,
        release_only_to_attested: key.release_only_to_attested,
        keys,
        key_size,
        min_decryption_version: key.min_decryption_version,
        min_encryption_version: key.min_encryption_version,
        min_available_version: key.min_available_version,
        latest_version: key.latest_version,
        supports_encryption: t.supports_encryption(),
        supports_decryption: t.supports_encryption(),
        supports_derivation: t.supports_derivation(),
        supports_signing: t.supports_signing(),
        imported_key: key.imported,
        imported_key_allow_rotation: key.imported.then_some(key.allow_rotation),
        auto_rotate_period: key.auto_rotate_period,
        soft_deleted: false,
        backup_info: key.backup_info.map(StampInfo::from),
        restore_info: key.restore_info.map(StampInfo::from),
    })
}
