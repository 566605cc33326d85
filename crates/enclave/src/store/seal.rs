//! The sealed record format, whatever the backend stores it in.
//!
//! A record is `"MKS1" || version (u64 LE) || nonce (12) || AES-256-GCM
//! ciphertext || tag (16)`. The key is HKDF-SHA256 (salt `minikms store
//! v1`, info `minikms store v1 aes-256-gcm`) of the platform sealing key
//! under [`SealPolicy::MrSigner`] with key id SHA-256("minikms store v1"),
//! so a newer enclave of the same signer and product keeps access. The
//! nonce is random per write. The associated data is `"minikms store v1"
//! || 0 || table || 0 || id || 0 || version (u64 LE)`: a record moved to
//! another table or id, or edited in any way, fails to open.
//!
//! The key check value (HKDF of the same sealing key, info `minikms store
//! v1 key check`, 16 bytes) is public: stored beside the records, it tells
//! "sealed under another key" (another signer or machine) from "tampered".

use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{digest, hkdf};
use zeroize::Zeroizing;

use super::{StoreError, Table};
use crate::platform::{Platform, SealPolicy};

const MAGIC: &[u8; 4] = b"MKS1";
pub const LABEL: &[u8] = b"minikms store v1";

/// Seals and opens records with the store key of one security version.
pub struct Sealer {
    key: LessSafeKey,
    check: [u8; 16],
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
    /// The sealer for records sealed at security version `svn`.
    pub fn new(platform: &Arc<dyn Platform>, svn: u16) -> Result<Self, StoreError> {
        let id = digest::digest(&digest::SHA256, LABEL);
        let mut key_id = [0u8; 32];
        key_id.copy_from_slice(id.as_ref());
        let sealing = platform
            .sealing_key_at_svn(SealPolicy::MrSigner, svn, &key_id)
            .map_err(|e| StoreError::Platform(e.to_string()))?;
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, LABEL);
        let prk = salt.extract(sealing.as_ref());
        let derivation = || StoreError::Platform("key derivation failed".into());
        let info = [b"minikms store v1 aes-256-gcm".as_slice()];
        let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| derivation())?;
        let mut check = [0u8; 16];
        prk.expand(&[b"minikms store v1 key check".as_slice()], CheckLen)
            .and_then(|okm| okm.fill(&mut check))
            .map_err(|_| derivation())?;
        Ok(Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            check,
            platform: platform.clone(),
        })
    }

    /// The public key check value of this sealer's key.
    pub fn check_value(&self) -> &[u8; 16] {
        &self.check
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
                Aad::from(aad(table, id, version)),
                buf.as_mut_slice(),
            )
            .map_err(|_| StoreError::Platform("sealing failed".into()))?;
        let mut out = Vec::with_capacity(4 + 8 + NONCE_LEN + buf.len() + 16);
        out.extend_from_slice(MAGIC);
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
        let rest = sealed.strip_prefix(MAGIC.as_slice()).ok_or_else(bad)?;
        let (version, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let version = u64::from_le_bytes(*version);
        let (nonce, ct) = rest.split_first_chunk::<NONCE_LEN>().ok_or_else(bad)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad(table, id, version)),
                buf.as_mut_slice(),
            )
            .map_err(|_| bad())?
            .len();
        buf.truncate(len);
        Ok((version, buf))
    }
}

fn aad(table: Table, id: &str, version: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(LABEL.len() + id.len() + 16);
    a.extend_from_slice(LABEL);
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
