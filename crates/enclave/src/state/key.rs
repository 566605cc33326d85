//! The managed-key model, as the state holds it and the store keeps it
//! sealed: a named key with numbered versions and its policy. What each
//! key type does with it (encrypt, sign, ...) is in `crate::core::keys`.
//! Key material lives only in [`Zeroizing`] buffers and is never
//! formatted (no `Debug`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use aws_lc_rs::aead::{self, LessSafeKey, UnboundKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::Error;

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    #[serde(rename = "aes256-gcm96")]
    Aes256Gcm96,
    #[serde(rename = "aes128-gcm96")]
    Aes128Gcm96,
    #[serde(rename = "chacha20-poly1305")]
    Chacha20Poly1305,
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[serde(rename = "ecdsa-p521")]
    EcdsaP521,
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    #[serde(rename = "hmac")]
    Hmac,
}

impl KeyType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "aes256-gcm96" => Self::Aes256Gcm96,
            "aes128-gcm96" => Self::Aes128Gcm96,
            "chacha20-poly1305" => Self::Chacha20Poly1305,
            "ecdsa-p256" => Self::EcdsaP256,
            "ecdsa-p384" => Self::EcdsaP384,
            "ecdsa-p521" => Self::EcdsaP521,
            "ed25519" => Self::Ed25519,
            "rsa-2048" => Self::Rsa2048,
            "rsa-3072" => Self::Rsa3072,
            "rsa-4096" => Self::Rsa4096,
            "hmac" => Self::Hmac,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Aes256Gcm96 => "aes256-gcm96",
            Self::Aes128Gcm96 => "aes128-gcm96",
            Self::Chacha20Poly1305 => "chacha20-poly1305",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::EcdsaP521 => "ecdsa-p521",
            Self::Ed25519 => "ed25519",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::Hmac => "hmac",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    pub fn is_ecdsa(self) -> bool {
        matches!(self, Self::EcdsaP256 | Self::EcdsaP384 | Self::EcdsaP521)
    }

    /// The AEAD of a symmetric encryption key type.
    pub fn aead(self) -> Option<&'static aead::Algorithm> {
        match self {
            Self::Aes256Gcm96 => Some(&aead::AES_256_GCM),
            Self::Aes128Gcm96 => Some(&aead::AES_128_GCM),
            Self::Chacha20Poly1305 => Some(&aead::CHACHA20_POLY1305),
            _ => None,
        }
    }

    /// Bytes of key material for a symmetric encryption key type.
    pub fn aead_key_len(self) -> Option<usize> {
        self.aead().map(aead::Algorithm::key_len)
    }

    pub fn supports_encryption(self) -> bool {
        self.aead().is_some() || self.is_rsa()
    }

    pub fn supports_signing(self) -> bool {
        self.is_ecdsa() || self == Self::Ed25519 || self.is_rsa()
    }

    /// Whether Vault can derive per-context keys from this type (`derived`).
    pub fn supports_derivation(self) -> bool {
        self.aead().is_some() || self == Self::Ed25519
    }

    pub fn is_asymmetric(self) -> bool {
        self.supports_signing()
    }
}

/// One version of a key.
#[derive(Serialize, Deserialize)]
pub struct Version {
    /// Unix seconds.
    pub created: i64,
    /// AEAD key, PKCS#8 private key, or HMAC key (for `hmac` keys).
    pub secret: Zeroizing<Vec<u8>>,
    /// The version's HMAC key (Vault gives every key one).
    pub hmac_key: Zeroizing<Vec<u8>>,
    /// An AEAD key's schedule, made on its first use and kept (making it
    /// cost more than sealing a short message).
    #[serde(skip)]
    aead: OnceLock<LessSafeKey>,
}

impl Version {
    pub fn new(created: i64, secret: Zeroizing<Vec<u8>>, hmac_key: Zeroizing<Vec<u8>>) -> Self {
        Self {
            created,
            secret,
            hmac_key,
            aead: OnceLock::new(),
        }
    }

    /// The AEAD key schedule for `alg` (the key type's, which never
    /// changes), made on first use.
    pub fn aead(&self, alg: &'static aead::Algorithm) -> Result<&LessSafeKey, Error> {
        if let Some(key) = self.aead.get() {
            return Ok(key);
        }
        let key = UnboundKey::new(alg, &self.secret)
            .map(LessSafeKey::new)
            .map_err(|_| Error::failed("AEAD key"))?;
        Ok(self.aead.get_or_init(|| key))
    }
}

impl Clone for Version {
    /// A copy of the key material; the copy prepares its own AES key.
    fn clone(&self) -> Self {
        Self::new(self.created, self.secret.clone(), self.hmac_key.clone())
    }
}

/// A key's versions by number, in order. A sorted vector rather than a
/// `BTreeMap`, whose first node has room for 11 versions (~700 bytes for a
/// key of one version, and the enclave holds every key). Serialised as the
/// map it replaced, so stored keys and backups read the same.
#[derive(Clone, Default)]
pub struct Versions(Vec<(u64, Version)>);

impl Versions {
    fn find(&self, n: u64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&n, |(k, _)| *k)
    }

    pub fn get(&self, n: &u64) -> Option<&Version> {
        self.find(*n).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, n: &u64) -> bool {
        self.find(*n).is_ok()
    }

    /// Adds (or replaces) version `n`.
    pub fn insert(&mut self, n: u64, version: Version) {
        match self.find(n) {
            Ok(i) => self.0[i].1 = version,
            Err(i) => self.0.insert(i, (n, version)),
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&u64, &mut Version) -> bool) {
        self.0.retain_mut(|(n, v)| keep(n, v));
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&u64, &Version)> {
        self.0.iter().map(|(n, v)| (n, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &u64> {
        self.0.iter().map(|(n, _)| n)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Version> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl FromIterator<(u64, Version)> for Versions {
    fn from_iter<I: IntoIterator<Item = (u64, Version)>>(iter: I) -> Self {
        let mut versions = Self::default();
        for (n, v) in iter {
            versions.insert(n, v);
        }
        versions
    }
}

impl Serialize for Versions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<u64, Version>::deserialize(d).map(|m| m.into_iter().collect())
    }
}

/// Highest version number a key may reach: far beyond any real rotation
/// schedule, and far from `u64::MAX`, so no arithmetic on versions can wrap.
pub const MAX_VERSION: u64 = u32::MAX as u64;

/// A managed key as it is sealed in the store.
#[derive(Clone, Serialize, Deserialize)]
pub struct Key {
    pub name: String,
    pub key_type: KeyType,
    pub deletion_allowed: bool,
    pub exportable: bool,
    pub allow_plaintext_backup: bool,
    pub min_decryption_version: u64,
    pub min_encryption_version: u64,
    pub min_available_version: u64,
    pub latest_version: u64,
    pub versions: Versions,
    /// Made from imported material (BYOK).
    #[serde(default)]
    pub imported: bool,
    /// For imported keys: whether `rotate` may generate a version.
    #[serde(default)]
    pub allow_rotation: bool,
    /// When the key was last backed up, and its latest version then.
    #[serde(default)]
    pub backup_info: Option<Stamp>,
    /// When the key was restored from a backup, and its latest version.
    #[serde(default)]
    pub restore_info: Option<Stamp>,
    /// Seconds between automatic rotations (Vault's `auto_rotate_period`);
    /// 0: never.
    #[serde(default)]
    pub auto_rotate_period: u64,
    /// Its material leaves the enclave only wrapped to an attested
    /// workload's key (`crate::core::release`): never exportable, never
    /// backed up in plaintext.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub release_only_to_attested: bool,
    /// Vault's `derived`: every use derives a key from a request's
    /// `context` (`crate::core::derive`); the version's key is never used
    /// as is.
    #[serde(default)]
    pub derived: bool,
    /// Vault's `convergent_encryption` (derived keys only): nonces derived
    /// from the plaintext, so equal inputs encrypt alike.
    #[serde(default)]
    pub convergent_encryption: bool,
}

/// A moment in a key's life (Vault's `backup_info`, `restore_info`): Unix
/// seconds, and the key's latest version then.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct Stamp {
    pub time: u64,
    pub version: u64,
}

impl Key {
    /// Refuses a policy that would let a key released only to attested
    /// workloads out in clear.
    pub fn check_release_policy(&self) -> Result<(), Error> {
        if self.release_only_to_attested && (self.exportable || self.allow_plaintext_backup) {
            return Err(Error::invalid(
                "a key released only to attested workloads cannot be exportable or allow plaintext backup",
            ));
        }
        Ok(())
    }

    /// Refuses a clear export or backup of a key released only to attested
    /// workloads, whoever asks.
    pub fn check_clear_export(&self) -> Result<(), Error> {
        if self.release_only_to_attested {
            return Err(Error::invalid(
                "this key is released only to attested workloads: export it with recipient=attested, \
                 under a token from auth/attest/login",
            ));
        }
        Ok(())
    }

    /// A new key of one version, with the default policy (not deletable,
    /// not exportable, rotatable).
    pub fn new(name: String, key_type: KeyType, first: Version) -> Self {
        Self {
            name,
            key_type,
            deletion_allowed: false,
            exportable: false,
            allow_plaintext_backup: false,
            min_decryption_version: 1,
            min_encryption_version: 0,
            min_available_version: 0,
            latest_version: 1,
            versions: [(1, first)].into_iter().collect(),
            imported: false,
            allow_rotation: true,
            backup_info: None,
            restore_info: None,
            auto_rotate_period: 0,
            release_only_to_attested: false,
            derived: false,
            convergent_encryption: false,
        }
    }

    /// Whether the key is due for its automatic rotation at `now` (Unix
    /// seconds): its latest version is `auto_rotate_period` old, as Vault
    /// reckons it. Imported keys rotate only if imported with
    /// `allow_rotation`.
    pub fn rotation_due(&self, now: u64) -> bool {
        if self.auto_rotate_period == 0 || (self.imported && !self.allow_rotation) {
            return false;
        }
        let Some(latest) = self.versions.get(&self.latest_version) else {
            return false;
        };
        let created = u64::try_from(latest.created).unwrap_or(0);
        created.saturating_add(self.auto_rotate_period) <= now
    }

    /// Adds `version` as the key's new latest version.
    pub fn add_version(&mut self, version: Version) -> Result<(), Error> {
        let n = self
            .latest_version
            .checked_add(1)
            .filter(|n| *n <= MAX_VERSION)
            .ok_or_else(|| Error::invalid("the key has no more version numbers"))?;
        self.versions.insert(n, version);
        self.latest_version = n;
        Ok(())
    }

    /// Adds a version made here (a rotation): the key is no longer an
    /// imported one, as Vault reports a rotated imported key
    /// (`imported_key: false`; `import_version` is then refused).
    pub fn add_generated_version(&mut self, version: Version) -> Result<(), Error> {
        self.add_version(version)?;
        self.imported = false;
        Ok(())
    }

    pub fn version(&self, v: u64) -> Result<&Version, Error> {
        self.versions
            .get(&v)
            .ok_or_else(|| Error::invalid(format!("key version {v} does not exist or was trimmed")))
    }

    /// The version to encrypt or sign with: `requested` or the latest.
    pub fn version_for_use(&self, requested: Option<u64>) -> Result<u64, Error> {
        let v = match requested {
            None | Some(0) => self.latest_version,
            Some(v) => v,
        };
        if v > self.latest_version {
            return Err(Error::invalid(
                "requested version for encryption is higher than the latest key version",
            ));
        }
        if self.min_encryption_version > 0 && v < self.min_encryption_version {
            return Err(Error::invalid(
                "requested version for encryption is less than the minimum encryption key version",
            ));
        }
        self.version(v)?;
        Ok(v)
    }

    /// Checks that `v` may decrypt or verify.
    pub fn check_decryption_version(&self, v: u64) -> Result<(), Error> {
        if v == 0 || v > self.latest_version {
            return Err(Error::invalid(
                "invalid ciphertext: key version does not exist",
            ));
        }
        if v < self.min_decryption_version {
            return Err(Error::invalid(
                "ciphertext or signature version is disallowed by policy (too old)",
            ));
        }
        self.version(v)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn version(byte: u8) -> Version {
        Version::new(
            1,
            Zeroizing::new(vec![byte; 32]),
            Zeroizing::new(vec![byte; 32]),
        )
    }

    #[test]
    fn rotation_is_due_once_the_latest_version_is_a_period_old() {
        let mut key = Key::new("k".into(), KeyType::Aes256Gcm96, version(1));
        assert!(!key.rotation_due(u64::MAX), "no period: never");
        key.auto_rotate_period = 3600;
        assert!(!key.rotation_due(3600));
        assert!(key.rotation_due(3601));
        key.add_version(Version::new(
            7200,
            Zeroizing::new(vec![2; 32]),
            Zeroizing::new(vec![2; 32]),
        ))
        .unwrap();
        assert!(!key.rotation_due(7200 + 3599), "the latest version counts");
        assert!(key.rotation_due(7200 + 3600));
        key.imported = true;
        key.allow_rotation = false;
        assert!(
            !key.rotation_due(u64::MAX),
            "imported without allow_rotation"
        );
    }

    #[test]
    fn versions_keep_order_and_the_stored_map_format() {
        let mut versions: Versions = [(3, version(3)), (1, version(1))].into_iter().collect();
        versions.insert(2, version(2));
        assert_eq!(versions.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(versions.get(&2).unwrap().secret[0], 2);
        assert!(versions.get(&4).is_none());

        // As a BTreeMap<u64, Version> was written: keys as strings, in order.
        let json = serde_json::to_value(&versions).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["1", "2", "3"]);
        let old: BTreeMap<u64, Version> =
            [(1, version(1)), (2, version(2)), (3, version(3))].into();
        assert_eq!(json, serde_json::to_value(&old).unwrap());
        let back: Versions = serde_json::from_value(json).unwrap();
        assert_eq!(back.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);

        versions.retain(|n, _| *n >= 2);
        assert_eq!(versions.keys().copied().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(versions.values().next_back().unwrap().secret[0], 3);
    }
}
