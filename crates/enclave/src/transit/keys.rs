//! The managed-key model: a named key with numbered versions, its policy,
//! and the crypto each key type does. Key material lives only in
//! [`Zeroizing`] buffers and is never formatted (no `Debug`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair as RsaKeyPair, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Fail;

pub const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    #[serde(rename = "aes256-gcm96")]
    Aes256Gcm96,
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
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
            "ecdsa-p256" => Self::EcdsaP256,
            "ecdsa-p384" => Self::EcdsaP384,
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
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
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

    pub fn supports_encryption(self) -> bool {
        matches!(self, Self::Aes256Gcm96) || self.is_rsa()
    }

    pub fn supports_signing(self) -> bool {
        matches!(self, Self::EcdsaP256 | Self::EcdsaP384 | Self::Ed25519) || self.is_rsa()
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
    /// AES key, PKCS#8 private key, or HMAC key (for `hmac` keys).
    pub secret: Zeroizing<Vec<u8>>,
    /// The version's HMAC key (Vault gives every key one).
    pub hmac_key: Zeroizing<Vec<u8>>,
    /// An AES key's schedule, made on its first use and kept (making it
    /// cost more than sealing a short message).
    #[serde(skip)]
    aes: OnceLock<LessSafeKey>,
}

impl Version {
    pub fn new(created: i64, secret: Zeroizing<Vec<u8>>, hmac_key: Zeroizing<Vec<u8>>) -> Self {
        Self {
            created,
            secret,
            hmac_key,
            aes: OnceLock::new(),
        }
    }

    fn aes(&self) -> Result<&LessSafeKey, Fail> {
        if let Some(key) = self.aes.get() {
            return Ok(key);
        }
        let key = UnboundKey::new(&AES_256_GCM, &self.secret)
            .map(LessSafeKey::new)
            .map_err(|_| Fail::internal("AES key"))?;
        Ok(self.aes.get_or_init(|| key))
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
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A fresh random AES-GCM nonce. Nonces are public and must only never
/// repeat under a key, so they come from a per-thread buffer of system
/// randomness (one `RAND_bytes` per [`NONCE_BATCH`] nonces): each call to
/// the generator costs ~0.7 µs (locking, reseed checks, RDRAND as extra
/// input), as much as the rest of a small encryption. Keys and tokens do
/// not come from here. The enclave never forks, so no buffer is shared.
fn gcm_nonce() -> Result<[u8; NONCE_LEN], Fail> {
    use std::cell::RefCell;
    thread_local! {
        static NONCES: RefCell<NonceBuffer> = const { RefCell::new(NonceBuffer { bytes: [0; NONCE_BATCH * NONCE_LEN], used: NONCE_BATCH }) };
    }
    NONCES.with_borrow_mut(|b| {
        if b.used == NONCE_BATCH {
            aws_lc_rs::rand::fill(&mut b.bytes).map_err(|_| Fail::internal("randomness"))?;
            b.used = 0;
        }
        let at = b.used * NONCE_LEN;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&b.bytes[at..at + NONCE_LEN]);
        // A nonce handed out is wiped from the buffer: never given twice.
        b.bytes[at..at + NONCE_LEN].fill(0);
        b.used += 1;
        Ok(nonce)
    })
}

/// Nonces fetched per call to the system generator.
const NONCE_BATCH: usize = 64;

struct NonceBuffer {
    bytes: [u8; NONCE_BATCH * NONCE_LEN],
    /// Nonces handed out from `bytes`.
    used: usize,
}

pub fn random(n: usize) -> Result<Zeroizing<Vec<u8>>, Fail> {
    let mut v = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(v.as_mut_slice()).map_err(|_| Fail::internal("randomness"))?;
    Ok(v)
}

/// Fresh key material for a version of `key_type`.
pub fn new_version(key_type: KeyType, hmac_size: usize) -> Result<Version, Fail> {
    let rng = SystemRandom::new();
    let gen = || Fail::internal("key generation");
    let secret = match key_type {
        KeyType::Aes256Gcm96 => random(32)?,
        KeyType::Hmac => random(hmac_size)?,
        KeyType::Ed25519 => Zeroizing::new(
            Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| gen())?
                .as_ref()
                .to_vec(),
        ),
        KeyType::EcdsaP256 | KeyType::EcdsaP384 => Zeroizing::new(
            EcdsaKeyPair::generate_pkcs8(ecdsa_alg(key_type), &rng)
                .map_err(|_| gen())?
                .as_ref()
                .to_vec(),
        ),
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            let size = match key_type {
                KeyType::Rsa2048 => KeySize::Rsa2048,
                KeyType::Rsa3072 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let pair = RsaKeyPair::generate(size).map_err(|_| gen())?;
            let der = pair.as_der().map_err(|_| gen())?;
            Zeroizing::new(der.as_ref().to_vec())
        }
    };
    Ok(Version::new(now(), secret, random(32)?))
}

fn ecdsa_alg(t: KeyType) -> &'static signature::EcdsaSigningAlgorithm {
    match t {
        KeyType::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        _ => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    }
}

fn pem(tag: &str, der: &[u8]) -> String {
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der), lf)
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

impl Key {
    pub fn version(&self, v: u64) -> Result<&Version, Fail> {
        self.versions
            .get(&v)
            .ok_or_else(|| Fail::bad(format!("key version {v} does not exist or was trimmed")))
    }

    /// The version to encrypt or sign with: `requested` or the latest.
    pub fn version_for_use(&self, requested: Option<u64>) -> Result<u64, Fail> {
        let v = match requested {
            None | Some(0) => self.latest_version,
            Some(v) => v,
        };
        if v > self.latest_version {
            return Err(Fail::bad(
                "requested version for encryption is higher than the latest key version",
            ));
        }
        if self.min_encryption_version > 0 && v < self.min_encryption_version {
            return Err(Fail::bad(
                "requested version for encryption is less than the minimum encryption key version",
            ));
        }
        self.version(v)?;
        Ok(v)
    }

    /// Checks that `v` may decrypt or verify.
    pub fn check_decryption_version(&self, v: u64) -> Result<(), Fail> {
        if v == 0 || v > self.latest_version {
            return Err(Fail::bad("invalid ciphertext: key version does not exist"));
        }
        if v < self.min_decryption_version {
            return Err(Fail::bad(
                "ciphertext or signature version is disallowed by policy (too old)",
            ));
        }
        self.version(v)?;
        Ok(())
    }

    /// The public key of version `v`, as Vault shows it: PEM for RSA and
    /// ECDSA, base64 for Ed25519.
    pub fn public_key(&self, v: &Version) -> Result<String, Fail> {
        let bad = || Fail::internal("public key");
        Ok(match self.key_type {
            KeyType::Ed25519 => {
                let pair = Ed25519KeyPair::from_pkcs8(&v.secret).map_err(|_| bad())?;
                B64.encode(pair.public_key().as_ref())
            }
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let pair = EcdsaKeyPair::from_pkcs8(ecdsa_alg(self.key_type), &v.secret)
                    .map_err(|_| bad())?;
                let der: aws_lc_rs::encoding::PublicKeyX509Der<'static> =
                    pair.public_key().as_der().map_err(|_| bad())?;
                pem("PUBLIC KEY", der.as_ref())
            }
            t if t.is_rsa() => {
                let pair = RsaKeyPair::from_pkcs8(&v.secret).map_err(|_| bad())?;
                let der = pair.public_key().as_der().map_err(|_| bad())?;
                pem("PUBLIC KEY", der.as_ref())
            }
            _ => String::new(),
        })
    }

    /// Vault's key read response.
    pub fn info(&self) -> Result<serde_json::Value, Fail> {
        let mut keys = serde_json::Map::new();
        for (n, v) in self.versions.iter() {
            let entry = if self.key_type.is_asymmetric() {
                let name = match self.key_type {
                    KeyType::EcdsaP256 => "P-256",
                    KeyType::EcdsaP384 => "P-384",
                    KeyType::Ed25519 => "ed25519",
                    _ => "rsa",
                };
                serde_json::json!({
                    "creation_time": rfc3339(v.created),
                    "name": name,
                    "public_key": self.public_key(v)?,
                })
            } else {
                serde_json::json!(v.created)
            };
            keys.insert(n.to_string(), entry);
        }
        let t = self.key_type;
        Ok(serde_json::json!({
            "name": self.name,
            "type": t.name(),
            "deletion_allowed": self.deletion_allowed,
            "derived": false,
            "exportable": self.exportable,
            "allow_plaintext_backup": self.allow_plaintext_backup,
            "keys": keys,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "min_available_version": self.min_available_version,
            "latest_version": self.latest_version,
            "supports_encryption": t.supports_encryption(),
            "supports_decryption": t.supports_encryption(),
            "supports_derivation": false,
            "supports_signing": t.supports_signing(),
            "imported_key": self.imported,
            "auto_rotate_period": 0,
            "convergent_encryption": false,
        }))
    }

    /// Encrypts with version `v`; returns `vault:vN:base64`.
    pub fn encrypt(&self, v: u64, plaintext: &[u8], aad: &[u8]) -> Result<String, Fail> {
        let ver = self.version(v)?;
        let body = match self.key_type {
            KeyType::Aes256Gcm96 => {
                let key = ver.aes()?;
                let nonce = gcm_nonce()?;
                // nonce | plaintext, sealed in place with room for the tag:
                // no reallocation, so no copy of the plaintext is freed
                // unzeroized.
                let mut out =
                    Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
                out.extend_from_slice(&nonce);
                out.extend_from_slice(plaintext);
                let (_, body) = out.split_at_mut(NONCE_LEN);
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        body,
                    )
                    .map_err(|_| Fail::internal("encryption"))?;
                out.extend_from_slice(tag.as_ref());
                out
            }
            t if t.is_rsa() => {
                if !aad.is_empty() {
                    return Err(Fail::bad("associated_data is only supported by AEAD keys"));
                }
                let private = PrivateDecryptingKey::from_pkcs8(&ver.secret)
                    .map_err(|_| Fail::internal("RSA key"))?;
                let public = OaepPublicEncryptingKey::new(private.public_key())
                    .map_err(|_| Fail::internal("RSA key"))?;
                if plaintext.len() > public.max_plaintext_size(&OAEP_SHA256_MGF1SHA256) {
                    return Err(Fail::bad("plaintext is too long for this RSA key"));
                }
                let mut out = vec![0u8; public.ciphertext_size()];
                let n = public
                    .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
                    .map_err(|_| Fail::internal("encryption"))?
                    .len();
                out.truncate(n);
                out
            }
            _ => {
                return Err(Fail::bad(format!(
                    "key type {} does not support encryption",
                    self.key_type.name()
                )))
            }
        };
        Ok(versioned(v, &body))
    }

    /// Decrypts `vault:vN:base64`; returns the plaintext.
    pub fn decrypt(&self, ciphertext: &str, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, Fail> {
        if !self.key_type.supports_encryption() {
            return Err(Fail::bad(format!(
                "key type {} does not support decryption",
                self.key_type.name()
            )));
        }
        let (v, body) = parse_versioned(ciphertext, "ciphertext")?;
        self.check_decryption_version(v)?;
        let ver = self.version(v)?;
        let failed = || Fail::bad("cipher: message authentication failed");
        match self.key_type {
            KeyType::Aes256Gcm96 => {
                let key = ver.aes()?;
                let Some((nonce, _)) = body.split_first_chunk::<NONCE_LEN>() else {
                    return Err(Fail::bad("invalid ciphertext: too short"));
                };
                if body.len() < NONCE_LEN + 16 {
                    return Err(Fail::bad("invalid ciphertext: too short"));
                }
                let nonce = *nonce;
                let mut buf = Zeroizing::new(body.get(NONCE_LEN..).unwrap_or_default().to_vec());
                let n = key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        buf.as_mut_slice(),
                    )
                    .map_err(|_| failed())?
                    .len();
                buf.truncate(n);
                Ok(buf)
            }
            _ => {
                if !aad.is_empty() {
                    return Err(Fail::bad("associated_data is only supported by AEAD keys"));
                }
                let private = PrivateDecryptingKey::from_pkcs8(&ver.secret)
                    .map_err(|_| Fail::internal("RSA key"))?;
                let private = OaepPrivateDecryptingKey::new(private)
                    .map_err(|_| Fail::internal("RSA key"))?;
                let mut out = Zeroizing::new(vec![0u8; private.min_output_size()]);
                let n = private
                    .decrypt(&OAEP_SHA256_MGF1SHA256, &body, out.as_mut_slice(), None)
                    .map_err(|_| Fail::bad("invalid ciphertext: decryption failed"))?
                    .len();
                out.truncate(n);
                Ok(out)
            }
        }
    }

    /// Vault's export: version -> key material (base64 or PEM).
    pub fn export(&self, kind: &str) -> Result<BTreeMap<String, String>, Fail> {
        let mut out = BTreeMap::new();
        for (n, v) in self.versions.iter() {
            let value = match (kind, self.key_type) {
                ("hmac-key", KeyType::Hmac) => B64.encode(v.secret.as_slice()),
                ("hmac-key", _) => B64.encode(v.hmac_key.as_slice()),
                ("encryption-key", KeyType::Aes256Gcm96) => B64.encode(v.secret.as_slice()),
                ("encryption-key" | "signing-key", t) if t.is_rsa() => {
                    pem("PRIVATE KEY", v.secret.as_slice())
                }
                ("signing-key", KeyType::EcdsaP256 | KeyType::EcdsaP384) => {
                    pem("PRIVATE KEY", v.secret.as_slice())
                }
                ("signing-key", KeyType::Ed25519) => {
                    let pair = Ed25519KeyPair::from_pkcs8(&v.secret)
                        .map_err(|_| Fail::internal("ed25519 key"))?;
                    let seed = pair.seed().map_err(|_| Fail::internal("ed25519 key"))?;
                    let seed: aws_lc_rs::encoding::Curve25519SeedBin<'static> = seed
                        .as_be_bytes()
                        .map_err(|_| Fail::internal("ed25519 key"))?;
                    let mut full = Zeroizing::new(seed.as_ref().to_vec());
                    full.extend_from_slice(pair.public_key().as_ref());
                    B64.encode(full.as_slice())
                }
                ("public-key", t) if t.is_asymmetric() => self.public_key(v)?,
                _ => {
                    return Err(Fail::bad(format!(
                        "export type {kind} is not supported by key type {}",
                        self.key_type.name()
                    )))
                }
            };
            out.insert(n.to_string(), value);
        }
        Ok(out)
    }
}

/// Writes `vault:vN:base64` (ciphertexts, signatures, HMACs) in one
/// allocation.
pub fn versioned(v: u64, body: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(30 + body.len().div_ceil(3) * 4);
    let _ = write!(out, "vault:v{v}:");
    B64.encode_string(body, &mut out);
    out
}

/// Parses `vault:vN:base64` (ciphertexts, signatures, HMACs).
pub fn parse_versioned(s: &str, what: &str) -> Result<(u64, Vec<u8>), Fail> {
    let bad = || Fail::bad(format!("invalid {what}: not of the form vault:vN:base64"));
    let rest = s.strip_prefix("vault:v").ok_or_else(bad)?;
    let (n, b64) = rest.split_once(':').ok_or_else(bad)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 10 {
        return Err(bad());
    }
    let v: u64 = n.parse().map_err(|_| bad())?;
    let body = B64
        .decode(b64)
        .map_err(|_| Fail::bad(format!("invalid {what}: bad base64")))?;
    Ok((v, body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Buffered nonces never repeat, within a thread (across refills) or
    /// across threads, and are never the zeroes left where one was taken.
    #[test]
    fn nonces_do_not_repeat() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..5 * NONCE_BATCH)
                        .map(|_| gcm_nonce().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            for nonce in t.join().unwrap() {
                assert_ne!(nonce, [0; NONCE_LEN]);
                assert!(all.insert(nonce), "a nonce repeated");
            }
        }
        assert_eq!(all.len(), 4 * 5 * NONCE_BATCH);
    }

    /// `vault:vN:base64` as Vault writes it, read back by the parser.
    #[test]
    fn versioned_strings_round_trip() {
        assert_eq!(versioned(1, b""), "vault:v1:");
        assert_eq!(versioned(12, b"hi!"), "vault:v12:aGkh");
        for (v, body) in [
            (1, vec![]),
            (7, vec![0u8; 1]),
            (u64::from(u32::MAX), vec![255; 29]),
        ] {
            assert_eq!(
                parse_versioned(&versioned(v, &body), "x").unwrap(),
                (v, body)
            );
        }
    }

    fn version(byte: u8) -> Version {
        Version::new(
            1,
            Zeroizing::new(vec![byte; 32]),
            Zeroizing::new(vec![byte; 32]),
        )
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
