//! The root key: 32 random bytes made inside the enclave when a store is
//! created. Every record is sealed under a key derived from it
//! ([`super::seal`]), not from the CPU, so the store outlives the machine:
//! the root key can be rebuilt from recovery shares or handed to an
//! attested peer ([`crate::state::recovery`]).
//!
//! On disk the root key is kept sealed under this CPU's sealing key
//! ([`SealPolicy::MrSigner`], key id SHA-256("minikms root key v1"), at a
//! given ISVSVN), so a restart on the same machine opens by itself:
//! `"MKR1" || nonce (12) || AES-256-GCM(root) || tag (16)`, associated data
//! `"minikms root key v1" || ISVSVN (u16 LE)`. Another CPU (or another
//! signer) cannot open it: the store then starts sealed. Other small
//! values a replica keeps in its data dir are sealed the same way, each
//! under its own label ([`seal_under_cpu`]).
//!
//! A platform with no sealing key (a confidential VM: no EGETKEY) keeps no
//! sealed root key: it writes an empty one, which nothing opens, so the
//! store starts sealed at every start and opens with recovery shares or
//! an attested join.

use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{digest, hkdf};
use zeroize::Zeroizing;

use super::StoreError;
use crate::platform::{Platform, PlatformError, SealPolicy};

const MAGIC: &[u8; 4] = b"MKR1";
const LABEL: &[u8] = b"minikms root key v1";

/// The root key. Never written anywhere unsealed, never logged.
#[derive(Clone)]
pub struct RootKey(Zeroizing<[u8; 32]>);

impl RootKey {
    /// A fresh root key from the platform's random source.
    pub fn generate(platform: &dyn Platform) -> Result<Self, StoreError> {
        let mut key = Zeroizing::new([0u8; 32]);
        platform
            .fill_random(key.as_mut_slice())
            .map_err(|e| StoreError::Platform(e.to_string()))?;
        Ok(Self(key))
    }

    /// A root key rebuilt from shares or received from a peer; its check
    /// value decides whether it is this store's.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let key: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(key)))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Seals the root key under this CPU's key at our security version;
    /// empty if the platform has no sealing key.
    pub fn seal(&self, platform: &Arc<dyn Platform>) -> Result<Vec<u8>, StoreError> {
        seal_under_cpu(platform, ROOT_KEY, self.0.as_slice())
    }

    /// Opens a root key sealed at security version `svn`; `Ok(None)` if
    /// this CPU's key does not open it (another machine or signer, or
    /// edited by the host: either way, shares or a peer can unseal).
    pub fn unseal(
        platform: &Arc<dyn Platform>,
        svn: u16,
        sealed: &[u8],
    ) -> Result<Option<Self>, StoreError> {
        let plain = open_under_cpu(platform, ROOT_KEY, svn, sealed)?;
        Ok(plain.and_then(|p| Self::from_bytes(&p)))
    }
}

/// What a value sealed under this CPU is: its magic and its label (the
/// sealing key's id is SHA-256(label); the associated data is the label
/// and the ISVSVN).
pub struct CpuSealed {
    pub magic: &'static [u8; 4],
    pub label: &'static [u8],
}

const ROOT_KEY: CpuSealed = CpuSealed {
    magic: MAGIC,
    label: LABEL,
};

/// Seals `plain` under this CPU's key at our security version, as the
/// root key is (`magic || nonce || AES-256-GCM(plain) || tag`); empty if
/// the platform has no sealing key.
pub fn seal_under_cpu(
    platform: &Arc<dyn Platform>,
    what: CpuSealed,
    plain: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let svn = platform.identity().security_version;
    let Some(key) = cpu_key(platform, what.label, svn)? else {
        return Ok(Vec::new());
    };
    let mut nonce = [0u8; NONCE_LEN];
    platform
        .fill_random(&mut nonce)
        .map_err(|e| StoreError::Platform(e.to_string()))?;
    let mut buf = Zeroizing::new(plain.to_vec());
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(what.label, svn)),
            buf.as_mut_slice(),
        )
        .map_err(|_| StoreError::Platform("sealing under the CPU's key failed".into()))?;
    let mut out = Vec::with_capacity(4 + NONCE_LEN + buf.len() + 16);
    out.extend_from_slice(what.magic);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens what [`seal_under_cpu`] sealed at security version `svn`;
/// `Ok(None)` if this CPU's key does not open it (another machine or
/// signer, edited, or no sealing key).
pub fn open_under_cpu(
    platform: &Arc<dyn Platform>,
    what: CpuSealed,
    svn: u16,
    sealed: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    let Some(key) = cpu_key(platform, what.label, svn)? else {
        return Ok(None);
    };
    let Some(rest) = sealed.strip_prefix(what.magic.as_slice()) else {
        return Ok(None);
    };
    let Some((nonce, ct)) = rest.split_first_chunk::<NONCE_LEN>() else {
        return Ok(None);
    };
    let mut buf = Zeroizing::new(ct.to_vec());
    let Ok(plain) = key.open_in_place(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(aad(what.label, svn)),
        buf.as_mut_slice(),
    ) else {
        return Ok(None);
    };
    let len = plain.len();
    buf.truncate(len);
    Ok(Some(buf))
}

fn aad(label: &[u8], svn: u16) -> Vec<u8> {
    let mut a = label.to_vec();
    a.extend_from_slice(&svn.to_le_bytes());
    a
}

/// The AES-256-GCM key this CPU seals values labelled `label` under, at
/// `svn`; `None` if the platform has no sealing key.
fn cpu_key(
    platform: &Arc<dyn Platform>,
    label: &[u8],
    svn: u16,
) -> Result<Option<LessSafeKey>, StoreError> {
    let id = digest::digest(&digest::SHA256, label);
    let mut key_id = [0u8; 32];
    key_id.copy_from_slice(id.as_ref());
    let sealing = match platform.sealing_key_at_svn(SealPolicy::MrSigner, svn, &key_id) {
        Ok(sealing) => sealing,
        Err(PlatformError::NoSealingKey(_)) => return Ok(None),
        Err(e) => return Err(StoreError::Platform(e.to_string())),
    };
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, label).extract(sealing.as_ref());
    let info = [label, b" aes-256-gcm".as_slice()];
    let okm = prk
        .expand(&info, &AES_256_GCM)
        .map_err(|_| StoreError::Platform("key derivation failed".into()))?;
    Ok(Some(LessSafeKey::new(UnboundKey::from(okm))))
}
