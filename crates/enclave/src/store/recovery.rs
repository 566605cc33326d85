//! Recovery shares: the store's root key ([`crate::store::root`]) split k
//! of n with Shamir's scheme (the `blahaj` crate, over GF(256)), each
//! share encrypted to a person's RSA key, and the root key rebuilt from k
//! of them on a machine that cannot unseal it.
//!
//! A share is 41 bytes: `init id (8) || x (1) || y (32)`. The init id names
//! one `sys/init`, so a share of another init is refused by name. The
//! public recovery facts ([`RecoveryInfo`]) hold k, n, the init id and
//! SHA-256("minikms share v1" || share) of each share: a share that is not
//! one of them is refused when given, not after k were collected. They are
//! kept twice: sealed in the init record (the truth: "this store has
//! shares" decides that no more are made), and unsealed beside the store,
//! only as the hint a sealed server reads before it has the root key
//! (an edited hint can only make the rebuilt root key wrong). No share is
//! kept anywhere: the enclave forgets them once it has answered, and wipes
//! the ones given to unseal once the root key is rebuilt (or on `reset`).
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest;
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use base64::Engine;
use blahaj::{Share, Sharks};
use rand10::SeedableRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::platform::Platform;
use crate::store::root::RootKey;

const INIT_ID_LEN: usize = 8;
/// A share's length: init id, x, and one y byte per root key byte.
pub const SHARE_LEN: usize = INIT_ID_LEN + 1 + 32;
/// RSA recipients smaller than this are refused.
const MIN_RSA_BITS: usize = 2048;

/// What anyone may know about the shares: no share, nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryInfo {
    pub threshold: u8,
    pub shares: u8,
    pub init_id: String,
    pub share_sha256: Vec<String>,
}

impl RecoveryInfo {
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `sys/init`'s share parameters, as Vault names them.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct SplitRequest {
    #[serde(default)]
    pub secret_shares: Option<u8>,
    #[serde(default)]
    pub secret_threshold: Option<u8>,
    /// PEM RSA public keys (SubjectPublicKeyInfo), one per share.
    #[serde(default)]
    pub pgp_keys: Option<Vec<String>>,
}

/// Shares made by init: raw, or each encrypted to its recipient.
pub struct Split {
    pub info: RecoveryInfo,
    /// Share i, or its RSA-OAEP-SHA256 ciphertext for recipient i.
    pub shares: Vec<Zeroizing<Vec<u8>>>,
    pub encrypted: bool,
}

/// Splits `root` as `req` asks. No shares asked (Vault's fields absent):
/// `None`, and the store can only be opened on this machine.
pub fn split(
    platform: &dyn Platform,
    root: &RootKey,
    req: &SplitRequest,
) -> Result<Option<Split>, Error> {
    let recipients = req.pgp_keys.as_deref().unwrap_or_default();
    let (n, k) =
        match (req.secret_shares, req.secret_threshold) {
            (None, None) if recipients.is_empty() => return Ok(None),
            (Some(n), Some(k)) => (n, k),
            _ => return Err(Error::invalid(
                "give both secret_shares and secret_threshold (or neither, for no recovery shares)",
            )),
        };
    if n == 0 || k == 0 || k > n {
        return Err(Error::invalid(format!(
            "secret_threshold must be between 1 and secret_shares (got {k} of {n})"
        )));
    }
    if n > 1 && k < 2 {
        return Err(Error::invalid(
            "secret_threshold must be at least 2 when there are several shares",
        ));
    }
    let keys = recipients
        .iter()
        .enumerate()
        .map(|(i, pem)| recipient_key(i, pem))
        .collect::<Result<Vec<_>, _>>()?;
    if !keys.is_empty() && keys.len() != usize::from(n) {
        return Err(Error::invalid(format!(
            "pgp_keys has {} keys for {n} shares: give one public key per share",
            keys.len()
        )));
    }
    let mut init_id = [0u8; INIT_ID_LEN];
    let mut seed = Zeroizing::new([0u8; 32]);
    platform
        .fill_random(&mut init_id)
        .and_then(|()| platform.fill_random(seed.as_mut_slice()))
        .map_err(|e| Error::platform("random", e))?;
    let mut rng = rand10::rngs::StdRng::from_seed(*seed);
    let raw: Vec<Zeroizing<Vec<u8>>> = Sharks(k)
        .dealer_rng(root.expose(), &mut rng)
        .take(usize::from(n))
        .map(|share| {
            let mut bytes = Zeroizing::new(init_id.to_vec());
            bytes.extend_from_slice(&Zeroizing::new(Vec::from(&share)));
            bytes
        })
        .collect();
    drop(rng);
    let info = RecoveryInfo {
        threshold: k,
        shares: n,
        init_id: hex::encode(init_id),
        share_sha256: raw.iter().map(|s| share_hash(s)).collect(),
    };
    if keys.is_empty() {
        return Ok(Some(Split {
            info,
            shares: raw,
            encrypted: false,
        }));
    }
    let shares = raw
        .iter()
        .zip(&keys)
        .map(|(share, key)| {
            let mut out = vec![0u8; key.ciphertext_size()];
            key.encrypt(&OAEP_SHA256_MGF1SHA256, share, &mut out, None)
                .map(|c| Zeroizing::new(c.to_vec()))
                .map_err(|_| Error::failed("encrypting a share"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Split {
        info,
        shares,
        encrypted: true,
    }))
}

/// What `sys/recovery-shares` asks beyond init's rules. Root asks, and a
/// token is not a quorum of share holders, so no single share may be the
/// root key: every share is encrypted to its own recipient, at least two
/// rebuild it, and no recipient is named twice (who holds k shares holds
/// the root key).
pub fn check_for_initialised(req: &SplitRequest) -> Result<(), Error> {
    let recipients = req.pgp_keys.as_deref().unwrap_or_default();
    if recipients.is_empty() {
        return Err(Error::invalid(
            "pgp_keys: missing: sys/recovery-shares never answers shares in clear; \
             give one RSA public key (PEM) per share, each of a different person",
        ));
    }
    if req.secret_threshold.is_some_and(|k| k < 2) {
        return Err(Error::invalid(
            "secret_threshold must be at least 2 for sys/recovery-shares: \
             a share of a threshold of 1 is the root key itself",
        ));
    }
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for (i, text) in recipients.iter().enumerate() {
        // A key that does not parse is refused by `split`, with its reason.
        // The same reading as `split`'s, so a key sent base64-encoded is
        // recognised as a duplicate too.
        let Some(block) = recipient_pem(text.trim()) else {
            continue;
        };
        if let Some(j) = seen.iter().position(|der| der == block.contents()) {
            return Err(Error::invalid(format!(
                "pgp_keys[{i}] is the same key as pgp_keys[{j}]: give each share to a different person"
            )));
        }
        seen.push(block.contents().to_vec());
    }
    Ok(())
}

/// A recipient's PEM RSA public key (SubjectPublicKeyInfo).
fn recipient_key(i: usize, text: &str) -> Result<OaepPublicEncryptingKey, Error> {
    let bad = |why: &str| Error::invalid(format!("pgp_keys[{i}]: {why}"));
    let block = recipient_pem(text.trim()).ok_or_else(|| {
        bad("not a PEM public key: give an RSA public key as `openssl rsa -pubout` writes it")
    })?;
    if block.tag() != "PUBLIC KEY" {
        return Err(bad(&format!(
            "a PEM \"{}\", not a \"PUBLIC KEY\" (SubjectPublicKeyInfo): convert it with `openssl rsa -pubout`",
            block.tag()
        )));
    }
    let key = PublicEncryptingKey::from_der(block.contents())
        .map_err(|_| bad("not an RSA public key"))?;
    if key.key_size_bits() < MIN_RSA_BITS {
        return Err(bad(&format!(
            "an RSA key of {} bits; at least {MIN_RSA_BITS} are needed",
            key.key_size_bits()
        )));
    }
    OaepPublicEncryptingKey::new(key).map_err(|_| bad("not an RSA public key"))
}

/// A recipient's key as given: PEM, or PEM base64-encoded, which is how
/// `bao operator init -pgp-keys=a.pem,...` sends each file (Vault's CLI
/// base64-encodes a key file unless it is base64 already, as PGP keys are).
fn recipient_pem(text: &str) -> Option<pem::Pem> {
    pem::parse(text).ok().or_else(|| {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        pem::parse(decoded).ok()
    })
}

fn share_hash(share: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"minikms share v1");
    ctx.update(share);
    hex::encode(ctx.finish())
}

/// The recovery side of an open store: its root key (which init splits),
/// and one init at a time. What is known of its shares is the state's
/// ([`crate::state::State::recovery_info`]).
pub struct Recovery {
    root: RootKey,
    init: Mutex<()>,
}

impl Recovery {
    pub fn new(root: RootKey) -> Self {
        Self {
            root,
            init: Mutex::new(()),
        }
    }

    pub fn root(&self) -> &RootKey {
        &self.root
    }

    /// Held through an init: two at once must not both split.
    pub fn one_init(&self) -> std::sync::MutexGuard<'_, ()> {
        self.init.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The progress of an unseal: the shares given so far (wiped on drop).
#[derive(Default)]
pub struct Progress {
    shares: Mutex<Vec<Zeroizing<Vec<u8>>>>,
}

/// What a share given to unseal did.
pub enum Given {
    /// Kept; `n` shares given so far, fewer than the threshold.
    Kept(usize),
    /// The threshold is reached: the root key they rebuild (not yet known
    /// to be the store's). Progress is reset.
    Rebuilt(RootKey),
}

impl Progress {
    /// The number of shares given so far.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Forgets the shares given so far.
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Zeroizing<Vec<u8>>>> {
        self.shares.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one share (hex or base64 of its 41 bytes), checked against
    /// `info`; a refused share changes nothing.
    pub fn give(&self, info: Option<&RecoveryInfo>, key: &str) -> Result<Given, Error> {
        let info = info.ok_or_else(|| {
            Error::invalid(
                "this store has no recovery shares (none were asked for at init): \
                 start it on the machine that sealed it, or join it to a running peer",
            )
        })?;
        let share = decode_share(key)?;
        if hex::encode(&share[..INIT_ID_LEN]) != info.init_id {
            return Err(Error::invalid(format!(
                "this share belongs to another init (id {}); this store's shares have id {}",
                hex::encode(&share[..INIT_ID_LEN]),
                info.init_id
            )));
        }
        if !info.share_sha256.contains(&share_hash(&share)) {
            return Err(Error::invalid(
                "this share is not one of the shares made at init (altered or mistyped)",
            ));
        }
        let mut shares = self.lock();
        if shares.iter().any(|s| s[INIT_ID_LEN] == share[INIT_ID_LEN]) {
            return Err(Error::invalid("this share was already given"));
        }
        shares.push(share);
        if shares.len() < usize::from(info.threshold) {
            return Ok(Given::Kept(shares.len()));
        }
        let parsed = shares
            .iter()
            .map(|s| Share::try_from(&s[INIT_ID_LEN..]))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::failed("rebuilding the root key"));
        shares.clear();
        let secret = Zeroizing::new(
            Sharks(info.threshold)
                .recover(&parsed?)
                .map_err(|_| Error::failed("rebuilding the root key"))?,
        );
        RootKey::from_bytes(&secret)
            .map(Given::Rebuilt)
            .ok_or_else(|| Error::failed("rebuilding the root key"))
    }
}

/// A share as sent: hex or base64 (as Vault takes unseal keys).
fn decode_share(key: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let key = key.trim();
    let bytes = hex::decode(key)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(key).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| Error::invalid("key: a share is hex or base64 of its 41 bytes"))?;
    if bytes.len() != SHARE_LEN {
        return Err(Error::invalid(format!(
            "key: a share is {SHARE_LEN} bytes, this is {}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::platform::fixed::platform;

    fn three_of_five() -> (RootKey, Split) {
        let p = platform();
        let root = RootKey::generate(p.as_ref()).unwrap();
        let req = SplitRequest {
            secret_shares: Some(5),
            secret_threshold: Some(3),
            pgp_keys: None,
        };
        let split = split(p.as_ref(), &root, &req).unwrap().unwrap();
        (root, split)
    }

    #[test]
    fn any_three_of_five_rebuild_the_root_key() {
        let (root, split) = three_of_five();
        let progress = Progress::default();
        for (i, share) in [4, 0, 2].into_iter().map(|i| (i, &split.shares[i])) {
            match progress
                .give(Some(&split.info), &hex::encode(share))
                .unwrap()
            {
                Given::Kept(n) => assert!(n < 3, "share {i}"),
                Given::Rebuilt(r) => assert_eq!(r.expose(), root.expose()),
            }
        }
        assert_eq!(progress.count(), 0);
    }

    #[test]
    fn foreign_altered_and_repeated_shares_are_refused() {
        let (_, split) = three_of_five();
        let (_, other) = three_of_five();
        let progress = Progress::default();
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let e = progress
            .give(Some(&split.info), &b64(&other.shares[0]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("another init"), "{e}");
        let mut altered = split.shares[1].to_vec();
        altered[20] ^= 1;
        let e = progress
            .give(Some(&split.info), &b64(&altered))
            .err()
            .unwrap();
        assert!(e.to_string().contains("not one of the shares"), "{e}");
        progress
            .give(Some(&split.info), &b64(&split.shares[1]))
            .unwrap();
        let e = progress
            .give(Some(&split.info), &b64(&split.shares[1]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("already given"), "{e}");
        assert_eq!(progress.count(), 1);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let p = platform();
        let root = RootKey::generate(p.as_ref()).unwrap();
        for (n, k) in [(3, 4), (0, 0), (3, 1)] {
            let req = SplitRequest {
                secret_shares: Some(n),
                secret_threshold: Some(k),
                pgp_keys: None,
            };
            assert!(split(p.as_ref(), &root, &req).is_err(), "{k} of {n}");
        }
    }
}
