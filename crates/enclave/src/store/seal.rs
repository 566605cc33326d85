//! The sealed record format, whatever the backend stores it in.
//!
//! A record is `MAGIC || version (u64 LE) || nonce (12) || AES-256-GCM
//! ciphertext || tag (16)`, under a key derived with HKDF-SHA256 (salt
//! LABEL, info `LABEL aes-256-gcm`) from a secret:
//! - format 2 (`"MKS2"`, LABEL `minikms store v2`): the store's root key
//!   ([`super::root`]), so the records outlive the machine;
//! - format 1 (`"MKS1"`, LABEL `minikms store v1`, read only to migrate):
//!   the platform sealing key under [`SealPolicy::MrSigner`] with key id
//!   SHA-256("minikms store v1").
//!
//! The nonce is random per write. The associated data is `LABEL || 0 ||
//! table || 0 || id || 0 || version (u64 LE)`: a record moved to another
//! table or id, or edited in any way, fails to open.
//!
//! The key check value (HKDF of the same secret, info `LABEL key check`,
//! 16 bytes) is public: stored beside the records, it tells "sealed under
//! another key" from "tampered", and a rebuilt root key from a wrong one.

use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{digest, hkdf};
use zeroize::Zeroizing;

use super::root::RootKey;
use super::{StoreError, Table};
use crate::platform::{Platform, SealPolicy};

/// The two record formats: what a key is derived from, and its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Under the CPU's sealing key (stores made before the root key).
    V1,
    /// Under the store's root key.
    V2,
}

impl Format {
    fn magic(self) -> &'static [u8; 4] {
        match self {
            Format::V1 => b"MKS1",
            Format::V2 => b"MKS2",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Format::V1 => "minikms store v1",
            Format::V2 => "minikms store v2",
        }
    }
}

/// Seals and opens records with one store key.
pub struct Sealer {
    key: LessSafeKey,
    check: [u8; 16],
    format: Format,
    platform: Arc<dyn Platform>,
}

/// The length of a key check value.
struct CheckLen;

impl hkdf::KeyType for CheckLen {
    fn len(&self) -> usize {
        16
    }
}

impl Sealer {
    /// The sealer of a format-1 store sealed at security version `svn`.
    pub fn legacy(platform: &Arc<dyn Platform>, svn: u16) -> Result<Self, StoreError> {
        let id = digest::digest(&digest::SHA256, Format::V1.label().as_bytes());
        let mut key_id = [0u8; 32];
        key_id.copy_from_slice(id.as_ref());
        let sealing = platform
            .sealing_key_at_svn(SealPolicy::MrSigner, svn, &key_id)
            .map_err(|e| StoreError::Platform(e.to_string()))?;
        Self::derive(platform, sealing.as_ref(), Format::V1)
    }

    /// The sealer of records under `root`.
    pub fn from_root(platform: &Arc<dyn Platform>, root: &RootKey) -> Result<Self, StoreError> {
        Self::derive(platform, root.expose(), Format::V2)
    }

    fn derive(
        platform: &Arc<dyn Platform>,
        secret: &[u8],
        format: Format,
    ) -> Result<Self, StoreError> {
        let label = format.label();
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, label.as_bytes()).extract(secret);
        let derivation = || StoreError::Platform("key derivation failed".into());
        let aead_info = format!("{label} aes-256-gcm");
        let aead_info = [aead_info.as_bytes()];
        let okm = prk
            .expand(&aead_info, &AES_256_GCM)
            .map_err(|_| derivation())?;
        let check_info = format!("{label} key check");
        let mut check = [0u8; 16];
        prk.expand(&[check_info.as_bytes()], CheckLen)
            .and_then(|okm| okm.fill(&mut check))
            .map_err(|_| derivation())?;
        Ok(Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            check,
            format,
            platform: platform.clone(),
        })
    }

    /// The part of the check value a store's header keeps.
    pub fn check_word(&self) -> u64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.check[..8]);
        u64::from_le_bytes(word)
    }

    pub fn seal(
        &self,
        table: Table,
        id: &str,
        version: u64,
        plain: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.platform
            .fill_random(&mut nonce)
            .map_err(|e| StoreError::Platform(e.to_string()))?;
        let mut buf = Zeroizing::new(plain.to_vec());
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(self.format, table, id, version)),
                buf.as_mut_slice(),
            )
            .map_err(|_| StoreError::Platform("sealing failed".into()))?;
        let mut out = Vec::with_capacity(4 + 8 + NONCE_LEN + buf.len() + 16);
        out.extend_from_slice(self.format.magic());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// The version and plaintext of a sealed record of `table/id`.
    pub fn unseal(
        &self,
        table: Table,
        id: &str,
        sealed: &[u8],
    ) -> Result<(u64, Zeroizing<Vec<u8>>), StoreError> {
        let bad = || {
            StoreError::Tampered(format!(
                "record {}/{} does not open under our sealing key",
                table.name(),
                shown(id)
            ))
        };
        let rest = sealed
            .strip_prefix(self.format.magic().as_slice())
            .ok_or_else(bad)?;
        let (version, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let version = u64::from_le_bytes(*version);
        let (nonce, ct) = rest.split_first_chunk::<NONCE_LEN>().ok_or_else(bad)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad(self.format, table, id, version)),
                buf.as_mut_slice(),
            )
            .map_err(|_| bad())?
            .len();
        buf.truncate(len);
        Ok((version, buf))
    }
}

fn aad(format: Format, table: Table, id: &str, version: u64) -> Vec<u8> {
    let label = format.label().as_bytes();
    let mut a = Vec::with_capacity(label.len() + id.len() + 16);
    a.extend_from_slice(label);
    a.push(0);
    a.extend_from_slice(table.name().as_bytes());
    a.push(0);
    a.extend_from_slice(id.as_bytes());
    a.push(0);
    a.extend_from_slice(&version.to_le_bytes());
    a
}

/// Record ids in messages, shortened (they are key names, not secrets).
pub fn shown(id: &str) -> String {
    id.chars().take(64).collect()
}
