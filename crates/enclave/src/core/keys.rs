//! What each key type does with its material: generation, encryption,
//! decryption, public keys, export, and Vault's `vault:vN:base64` strings.
//! The model itself (versions, policy) is `crate::state::key`.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{Aad, Nonce, NONCE_LEN};
use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair as RsaKeyPair, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine;
use zeroize::Zeroizing;

use super::derive;
use crate::error::Error;
use crate::state::key::{Key, KeyType, Version};

/// Standard base64, as Vault writes it.
pub const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Unix seconds, as a key version's creation time.
pub fn now() -> i64 {
    i64::try_from(crate::clock::now()).unwrap_or(i64::MAX)
}

/// A fresh random 96-bit nonce (AES-GCM and ChaCha20-Poly1305 take the
/// same). Nonces are public and must only never
/// repeat under a key, so they come from a per-thread buffer of system
/// randomness (one `RAND_bytes` per [`NONCE_BATCH`] nonces): each call to
/// the generator locks, checks for reseeding and mixes in RDRAND, which
/// costs as much as the rest of a small encryption. Keys and tokens do
/// not come from here. The enclave never forks, so no buffer is shared.
fn gcm_nonce() -> Result<[u8; NONCE_LEN], Error> {
    use std::cell::RefCell;
    thread_local! {
        static NONCES: RefCell<NonceBuffer> = const { RefCell::new(NonceBuffer { bytes: [0; NONCE_BATCH * NONCE_LEN], used: NONCE_BATCH }) };
    }
    NONCES.with_borrow_mut(|b| {
        if b.used == NONCE_BATCH {
            aws_lc_rs::rand::fill(&mut b.bytes).map_err(|_| Error::failed("randomness"))?;
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

pub fn random(n: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut v = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(v.as_mut_slice()).map_err(|_| Error::failed("randomness"))?;
    Ok(v)
}

/// Fresh key material for a version of `key_type`.
pub fn new_version(key_type: KeyType, hmac_size: usize) -> Result<Version, Error> {
    let rng = SystemRandom::new();
    let gen = || Error::failed("key generation");
    let secret = match key_type {
        KeyType::Aes256Gcm96 | KeyType::Aes128Gcm96 | KeyType::Chacha20Poly1305 => {
            random(key_type.aead_key_len().ok_or_else(gen)?)?
        }
        KeyType::Hmac => random(hmac_size)?,
        KeyType::Ed25519 => Zeroizing::new(
            Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| gen())?
                .as_ref()
                .to_vec(),
        ),
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => Zeroizing::new(
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

/// An algorithm of the key's curve, to read its PKCS#8 with.
pub fn ecdsa_alg(t: KeyType) -> &'static signature::EcdsaSigningAlgorithm {
    match t {
        KeyType::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        KeyType::EcdsaP521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        _ => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    }
}

/// PEM with LF line endings, as Vault writes it.
pub fn pem(tag: &str, der: &[u8]) -> String {
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der), lf)
}

/// The public key of version `v`, as Vault shows it: PEM for RSA and
/// ECDSA, base64 for Ed25519.
pub fn public_key(key: &Key, v: &Version) -> Result<String, Error> {
    let bad = || Error::failed("public key");
    Ok(match key.key_type {
        KeyType::Ed25519 => {
            let pair = Ed25519KeyPair::from_pkcs8(&v.secret).map_err(|_| bad())?;
            B64.encode(pair.public_key().as_ref())
        }
        t if t.is_ecdsa() => {
            let pair =
                EcdsaKeyPair::from_pkcs8(ecdsa_alg(key.key_type), &v.secret).map_err(|_| bad())?;
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

/// Encrypts with version `v`; returns `vault:vN:base64`. `context` is
/// used (and required) by derived keys only, as Vault does.
pub fn encrypt(
    key: &Key,
    v: u64,
    plaintext: &[u8],
    aad: &[u8],
    context: &[u8],
) -> Result<String, Error> {
    let ver = key.version(v)?;
    let body = match key.key_type {
        t if t.aead().is_some() => {
            let alg = t.aead().ok_or_else(|| Error::failed("encryption"))?;
            let derived = match key.derived {
                true => Some(derive::derive(key, ver, context, true)?),
                false => None,
            };
            let (key, nonce) = match &derived {
                Some(d) => match d.convergent_nonce(plaintext) {
                    Some(nonce) => (&d.aead, nonce),
                    None => (&d.aead, gcm_nonce()?),
                },
                None => (ver.aead(alg)?, gcm_nonce()?),
            };
            // nonce | plaintext, sealed in place with room for the tag:
            // no reallocation, so no copy of the plaintext is freed
            // unzeroized.
            let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + alg.tag_len());
            out.extend_from_slice(&nonce);
            out.extend_from_slice(plaintext);
            let (_, body) = out.split_at_mut(NONCE_LEN);
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    body,
                )
                .map_err(|_| Error::failed("encryption"))?;
            out.extend_from_slice(tag.as_ref());
            out
        }
        t if t.is_rsa() => {
            if !aad.is_empty() {
                return Err(Error::invalid(
                    "associated_data is only supported by AEAD keys",
                ));
            }
            let private = PrivateDecryptingKey::from_pkcs8(&ver.secret)
                .map_err(|_| Error::failed("RSA key"))?;
            let public = OaepPublicEncryptingKey::new(private.public_key())
                .map_err(|_| Error::failed("RSA key"))?;
            if plaintext.len() > public.max_plaintext_size(&OAEP_SHA256_MGF1SHA256) {
                return Err(Error::invalid("plaintext is too long for this RSA key"));
            }
            let mut out = vec![0u8; public.ciphertext_size()];
            let n = public
                .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
                .map_err(|_| Error::failed("encryption"))?
                .len();
            out.truncate(n);
            out
        }
        _ => {
            return Err(Error::invalid(format!(
                "key type {} does not support encryption",
                key.key_type.name()
            )))
        }
    };
    Ok(versioned(v, &body))
}

/// Decrypts `vault:vN:base64`; returns the plaintext. `context` as for
/// [`encrypt`].
pub fn decrypt(
    key: &Key,
    ciphertext: &str,
    aad: &[u8],
    context: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if !key.key_type.supports_encryption() {
        return Err(Error::invalid(format!(
            "key type {} does not support decryption",
            key.key_type.name()
        )));
    }
    let (v, body) = parse_versioned(ciphertext, "ciphertext")?;
    key.check_decryption_version(v)?;
    let ver = key.version(v)?;
    let failed = || Error::invalid("cipher: message authentication failed");
    match key.key_type {
        t if t.aead().is_some() => {
            let alg = t.aead().ok_or_else(|| Error::failed("decryption"))?;
            let derived = match key.derived {
                true => Some(derive::derive(key, ver, context, false)?),
                false => None,
            };
            let key = match &derived {
                Some(d) => &d.aead,
                None => ver.aead(alg)?,
            };
            let Some((nonce, _)) = body.split_first_chunk::<NONCE_LEN>() else {
                return Err(Error::invalid("invalid ciphertext: too short"));
            };
            if body.len() < NONCE_LEN + alg.tag_len() {
                return Err(Error::invalid("invalid ciphertext: too short"));
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
                return Err(Error::invalid(
                    "associated_data is only supported by AEAD keys",
                ));
            }
            let private = PrivateDecryptingKey::from_pkcs8(&ver.secret)
                .map_err(|_| Error::failed("RSA key"))?;
            let private =
                OaepPrivateDecryptingKey::new(private).map_err(|_| Error::failed("RSA key"))?;
            let mut out = Zeroizing::new(vec![0u8; private.min_output_size()]);
            let n = private
                .decrypt(&OAEP_SHA256_MGF1SHA256, &body, out.as_mut_slice(), None)
                .map_err(|_| Error::invalid("invalid ciphertext: decryption failed"))?
                .len();
            out.truncate(n);
            Ok(out)
        }
    }
}

/// Vault's export: version -> key material (base64 or PEM), wiped when
/// the answer is dropped.
pub fn export(key: &Key, kind: &str) -> Result<BTreeMap<String, Zeroizing<String>>, Error> {
    let mut out = BTreeMap::new();
    for (n, v) in key.versions.iter() {
        let value = Zeroizing::new(match (kind, key.key_type) {
            ("hmac-key", KeyType::Hmac) => B64.encode(v.secret.as_slice()),
            ("hmac-key", _) => B64.encode(v.hmac_key.as_slice()),
            ("encryption-key", t) if t.aead().is_some() => B64.encode(v.secret.as_slice()),
            // Vault's PEM kinds: PKCS#1 for RSA, SEC 1 for ECDSA.
            ("encryption-key" | "signing-key", t) if t.is_rsa() => {
                let info = pkcs8::PrivateKeyInfo::try_from(v.secret.as_slice())
                    .map_err(|_| Error::failed("RSA key"))?;
                pem("RSA PRIVATE KEY", info.private_key)
            }
            ("signing-key", t) if t.is_ecdsa() => {
                let pair = EcdsaKeyPair::from_pkcs8(ecdsa_alg(t), &v.secret)
                    .map_err(|_| Error::failed("EC key"))?;
                let der: aws_lc_rs::encoding::EcPrivateKeyRfc5915Der<'static> = pair
                    .private_key()
                    .as_der()
                    .map_err(|_| Error::failed("EC key"))?;
                pem("EC PRIVATE KEY", der.as_ref())
            }
            ("signing-key", KeyType::Ed25519) => {
                let pair = Ed25519KeyPair::from_pkcs8(&v.secret)
                    .map_err(|_| Error::failed("ed25519 key"))?;
                let seed = pair.seed().map_err(|_| Error::failed("ed25519 key"))?;
                let seed: aws_lc_rs::encoding::Curve25519SeedBin<'static> = seed
                    .as_be_bytes()
                    .map_err(|_| Error::failed("ed25519 key"))?;
                let mut full = Zeroizing::new(seed.as_ref().to_vec());
                full.extend_from_slice(pair.public_key().as_ref());
                B64.encode(full.as_slice())
            }
            ("public-key", t) if t.is_asymmetric() => public_key(key, v)?,
            _ => {
                return Err(Error::invalid(format!(
                    "export type {kind} is not supported by key type {}",
                    key.key_type.name()
                )))
            }
        });
        out.insert(n.to_string(), value);
    }
    Ok(out)
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
pub fn parse_versioned(s: &str, what: &str) -> Result<(u64, Vec<u8>), Error> {
    parse_versioned_in(s, what, &B64)
}

/// Parses `vault:vN:` and `engine`'s base64 (JWS signatures are URL-safe).
pub fn parse_versioned_in(
    s: &str,
    what: &str,
    engine: &base64::engine::GeneralPurpose,
) -> Result<(u64, Vec<u8>), Error> {
    let bad = || Error::invalid(format!("invalid {what}: not of the form vault:vN:base64"));
    let rest = s.strip_prefix("vault:v").ok_or_else(bad)?;
    let (n, b64) = rest.split_once(':').ok_or_else(bad)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 10 {
        return Err(bad());
    }
    let v: u64 = n.parse().map_err(|_| bad())?;
    let body = engine
        .decode(b64)
        .map_err(|_| Error::invalid(format!("invalid {what}: bad base64")))?;
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
}
