//! The root key: 32 random bytes made inside the enclave when a store is
//! created. Every record is sealed under a key derived from it
//! ([`super::seal`]), not from the CPU, so the store outlives the machine:
//! the root key can be rebuilt from recovery shares or handed to an
//! attested peer ([`crate::store::recovery`]).
//!
//! On disk the root key is kept sealed under this CPU's sealing key
//! ([`SealPolicy::MrSigner`], key id SHA-256("minikms root key v1"), at a
//! given ISVSVN), so a restart on the same machine opens by itself:
//! `"MKR2" || check (8) || nonce (12) || AES-256-GCM(root) || tag (16)`,
//! associated data `"minikms root key v1" || ISVSVN (u16 LE)`. Another CPU
//! (or another signer) cannot open it: the store then starts sealed.
//!
//! `check` is the CPU key's check value (HKDF of the sealing key, info
//! `minikms root key v1 key check`): public, it tells a root key sealed
//! by another CPU (another check value) from a damaged one (ours, yet it
//! does not open, or not in this format at all), which
//! [`RootKey::unseal_or_why`] reports. Builds before it wrote `"MKR1"`
//! without `check` (then the two cannot be told apart); such a root key
//! is re-sealed as `"MKR2"` when it next opens.
//!
//! Other small values a replica keeps in its data dir are sealed under
//! this CPU too, each under its own label and magic ([`seal_under_cpu`]):
//! `magic || nonce (12) || AES-256-GCM(value) || tag (16)`.
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

const MAGIC: &[u8; 4] = b"MKR2";
/// Builds before the check value: read, never written.
const MAGIC_V1: &[u8; 4] = b"MKR1";
const LABEL: &[u8] = b"minikms root key v1";
/// The sealed root key's length after its magic: root key and tag.
const SEALED_LEN: usize = NONCE_LEN + 32 + 16;
const CHECK_LEN: usize = 8;

/// What unsealing a root key found.
pub enum Unsealing {
    Opened(RootKey),
    /// Not this CPU's: another machine or signer, another security
    /// version, or a platform with no sealing key (ours or the sealer's).
    Foreign,
    /// Sealed by this CPU (its check value), or in no format we write,
    /// yet it does not open: damaged (or edited). Why, without secrets.
    Damaged(String),
}

/// Whether `sealed` is in the format before the check value (to re-seal).
pub fn is_legacy(sealed: &[u8]) -> bool {
    sealed.starts_with(MAGIC_V1)
}

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
        let svn = platform.identity().security_version;
        let Some((key, check)) = cpu_key(platform, LABEL, svn)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(4 + CHECK_LEN + SEALED_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&check);
        seal_into(platform, &key, LABEL, svn, self.0.as_slice(), &mut out)?;
        Ok(out)
    }

    /// Opens a root key sealed at security version `svn`; `Ok(None)` if
    /// this CPU's key does not open it (another machine or signer).
    pub fn unseal(
        platform: &Arc<dyn Platform>,
        svn: u16,
        sealed: &[u8],
    ) -> Result<Option<Self>, StoreError> {
        Ok(match Self::unseal_or_why(platform, svn, sealed)? {
            Unsealing::Opened(root) => Some(root),
            Unsealing::Foreign | Unsealing::Damaged(_) => None,
        })
    }

    /// Opens a root key sealed at security version `svn`, or says why
    /// not: sealed by another CPU, or damaged.
    pub fn unseal_or_why(
        platform: &Arc<dyn Platform>,
        svn: u16,
        sealed: &[u8],
    ) -> Result<Unsealing, StoreError> {
        let damaged = |why: &str| Ok(Unsealing::Damaged(why.into()));
        // A platform with no sealing key seals nothing (an empty value).
        if sealed.is_empty() {
            return Ok(Unsealing::Foreign);
        }
        let (rest, check) = if let Some(rest) = sealed.strip_prefix(MAGIC.as_slice()) {
            let Some((check, rest)) = rest.split_first_chunk::<CHECK_LEN>() else {
                return damaged("the sealed root key is cut short");
            };
            (rest, Some(*check))
        } else if let Some(rest) = sealed.strip_prefix(MAGIC_V1.as_slice()) {
            (rest, None)
        } else {
            return damaged("the sealed root key is in no format this build knows");
        };
        if rest.len() != SEALED_LEN {
            return damaged("the sealed root key is not of its length");
        }
        let Some((key, ours)) = cpu_key(platform, LABEL, svn)? else {
            return Ok(Unsealing::Foreign);
        };
        if let Some(plain) = open_with(&key, LABEL, svn, rest) {
            return Ok(Self::from_bytes(&plain).map_or_else(
                || Unsealing::Damaged("the sealed root key is not 32 bytes".into()),
                Unsealing::Opened,
            ));
        }
        // Without a check value (sealed by an older build), a root key
        // that does not open may as well be another CPU's.
        match check {
            Some(check) if check == ours => damaged(
                "the sealed root key does not open under this CPU's key, which sealed it (its check value says so)",
            ),
            _ => Ok(Unsealing::Foreign),
        }
    }
}

/// What a value sealed under this CPU is: its magic and its label (the
/// sealing key's id is SHA-256(label); the associated data is the label
/// and the ISVSVN).
pub struct CpuSealed {
    pub magic: &'static [u8; 4],
    pub label: &'static [u8],
}

/// Seals `plain` under this CPU's key at our security version
/// (`magic || nonce || AES-256-GCM(plain) || tag`); empty if the platform
/// has no sealing key.
pub fn seal_under_cpu(
    platform: &Arc<dyn Platform>,
    what: CpuSealed,
    plain: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let svn = platform.identity().security_version;
    let Some((key, _)) = cpu_key(platform, what.label, svn)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(4 + NONCE_LEN + plain.len() + 16);
    out.extend_from_slice(what.magic);
    seal_into(platform, &key, what.label, svn, plain, &mut out)?;
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
    let Some((key, _)) = cpu_key(platform, what.label, svn)? else {
        return Ok(None);
    };
    Ok(sealed
        .strip_prefix(what.magic.as_slice())
        .and_then(|rest| open_with(&key, what.label, svn, rest)))
}

/// Appends `nonce || AES-256-GCM(plain) || tag` to `out`.
fn seal_into(
    platform: &Arc<dyn Platform>,
    key: &LessSafeKey,
    label: &[u8],
    svn: u16,
    plain: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let mut nonce = [0u8; NONCE_LEN];
    platform
        .fill_random(&mut nonce)
        .map_err(|e| StoreError::Platform(e.to_string()))?;
    let mut buf = Zeroizing::new(plain.to_vec());
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(label, svn)),
            buf.as_mut_slice(),
        )
        .map_err(|_| StoreError::Platform("sealing under the CPU's key failed".into()))?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    out.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Opens `nonce || AES-256-GCM(plain) || tag`; `None` if it does not open.
fn open_with(
    key: &LessSafeKey,
    label: &[u8],
    svn: u16,
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let (nonce, ct) = sealed.split_first_chunk::<NONCE_LEN>()?;
    let mut buf = Zeroizing::new(ct.to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad(label, svn)),
            buf.as_mut_slice(),
        )
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

fn aad(label: &[u8], svn: u16) -> Vec<u8> {
    let mut a = label.to_vec();
    a.extend_from_slice(&svn.to_le_bytes());
    a
}

/// The length of the CPU key's check value.
struct CheckLen;

impl hkdf::KeyType for CheckLen {
    fn len(&self) -> usize {
        CHECK_LEN
    }
}

/// The AES-256-GCM key this CPU seals values labelled `label` under, at
/// `svn`, and its check value; `None` if the platform has no sealing key.
fn cpu_key(
    platform: &Arc<dyn Platform>,
    label: &[u8],
    svn: u16,
) -> Result<Option<(LessSafeKey, [u8; CHECK_LEN])>, StoreError> {
    let id = digest::digest(&digest::SHA256, label);
    let mut key_id = [0u8; 32];
    key_id.copy_from_slice(id.as_ref());
    let sealing = match platform.sealing_key_at_svn(SealPolicy::MrSigner, svn, &key_id) {
        Ok(sealing) => sealing,
        Err(PlatformError::NoSealingKey(_)) => return Ok(None),
        Err(e) => return Err(StoreError::Platform(e.to_string())),
    };
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, label).extract(sealing.as_ref());
    let failed = |_| StoreError::Platform("key derivation failed".into());
    let key_info = [label, b" aes-256-gcm".as_slice()];
    let okm = prk.expand(&key_info, &AES_256_GCM).map_err(failed)?;
    let check_info = [label, b" key check".as_slice()];
    let mut check = [0u8; CHECK_LEN];
    prk.expand(&check_info, CheckLen)
        .and_then(|okm| okm.fill(&mut check))
        .map_err(failed)?;
    Ok(Some((LessSafeKey::new(UnboundKey::from(okm)), check)))
}
