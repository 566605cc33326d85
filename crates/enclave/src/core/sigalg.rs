//! Signature algorithms as Vault's transit names them: which hash, which
//! padding, which encoding, for which key type; and the signing and
//! verifying with aws-lc-rs they come to.
//!
//! ECDSA signs a digest of any of Vault's hashes (or, `prehashed`, the
//! caller's bytes): aws-lc-rs signs and verifies digests on each curve, so
//! the digest is first brought to the curve's digest length the way ECDSA
//! itself reads a digest as a number (SEC 1, 4.1.3 step 5: its leftmost
//! bits up to the group order's bit length; leading zero bytes do not
//! change the number). RSA signs with SHA-2 256, 384 or 512 (aws-lc-rs has
//! no RSA encoding for other hashes or without a DigestInfo: those are
//! refused). Ed25519 signs the input itself whatever the hash, as Vault
//! (OpenBao 2) does.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaPssSaltLength, UnparsedPublicKey,
    VerificationAlgorithm as _,
};

use crate::error::Error;
use crate::state::key::KeyType;

/// A hash as Vault names it; `None` is Vault's `none` (the input is the
/// digest, for prehashed RSA PKCS#1 v1.5 and ECDSA).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha2_224,
    Sha2_256,
    Sha2_384,
    Sha2_512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    None,
}

impl Hash {
    pub fn parse(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "sha1" => Self::Sha1,
            "sha2-224" => Self::Sha2_224,
            "sha2-256" => Self::Sha2_256,
            "sha2-384" => Self::Sha2_384,
            "sha2-512" => Self::Sha2_512,
            "sha3-224" => Self::Sha3_224,
            "sha3-256" => Self::Sha3_256,
            "sha3-384" => Self::Sha3_384,
            "sha3-512" => Self::Sha3_512,
            "none" => Self::None,
            other => return Err(Error::invalid(format!("invalid hash algorithm {other:?}"))),
        })
    }

    /// The digest algorithm, if aws-lc-rs has it (it has no SHA3-224).
    pub fn digest(self) -> Result<&'static digest::Algorithm, Error> {
        Ok(match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha2_224 => &digest::SHA224,
            Self::Sha2_256 => &digest::SHA256,
            Self::Sha2_384 => &digest::SHA384,
            Self::Sha2_512 => &digest::SHA512,
            Self::Sha3_256 => &digest::SHA3_256,
            Self::Sha3_384 => &digest::SHA3_384,
            Self::Sha3_512 => &digest::SHA3_512,
            Self::Sha3_224 => {
                return Err(Error::invalid(
                    "sha3-224 is not supported: aws-lc-rs has no SHA3-224",
                ))
            }
            Self::None => return Err(Error::invalid("hash algorithm none has no digest")),
        })
    }
}

/// How a signature's bytes are laid out and encoded: `asn1` (DER for
/// ECDSA, standard base64) or `jws` (ECDSA as r||s, URL-safe base64
/// without padding, as JWS has it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Marshaling {
    Asn1,
    Jws,
}

impl Marshaling {
    pub fn parse(name: Option<&str>) -> Result<Self, Error> {
        match name {
            None | Some("") | Some("asn1") => Ok(Self::Asn1),
            Some("jws") => Ok(Self::Jws),
            Some(other) => Err(Error::invalid(format!(
                "invalid marshaling type {other:?}: asn1 or jws"
            ))),
        }
    }

    pub fn engine(self) -> &'static base64::engine::GeneralPurpose {
        match self {
            Self::Asn1 => &base64::engine::general_purpose::STANDARD,
            Self::Jws => &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        }
    }
}

/// RSA PSS salt length: Vault's `auto`, `hash` (the digest's length), or
/// a number of bytes. `auto` signs with the digest's length (Vault: the
/// longest salt; every verifier that detects the length takes either, and
/// those that expect the digest's length take only this) and verifies
/// either.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Salt {
    Auto,
    Hash,
    Bytes(u16),
}

impl Salt {
    /// Vault's values: `auto`, `hash`, or an integer (Go's 0 is `auto`,
    /// -1 is `hash`).
    pub fn parse(value: Option<&str>) -> Result<Self, Error> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("auto") | Some("0") => Ok(Self::Auto),
            Some("hash") | Some("-1") => Ok(Self::Hash),
            Some(n) => n.parse::<u16>().map(Self::Bytes).map_err(|_| {
                Error::invalid(format!(
                    "salt length neither 'auto', 'hash', nor a valid integer: {n}"
                ))
            }),
        }
    }
}

/// Everything a signature's algorithm depends on besides the key.
#[derive(Clone, Copy)]
pub struct Algorithm {
    pub hash: Hash,
    pub pss: bool,
    pub marshaling: Marshaling,
    pub salt: Salt,
    pub prehashed: bool,
}

fn failed(what: &'static str) -> Error {
    Error::failed(what)
}

/// What ECDSA is asked to sign: the input's digest, or the input itself
/// when prehashed (or `none`).
fn message_digest(alg: &Algorithm, input: &[u8]) -> Result<Vec<u8>, Error> {
    if alg.prehashed || alg.hash == Hash::None {
        return Ok(input.to_vec());
    }
    Ok(digest::digest(alg.hash.digest()?, input).as_ref().to_vec())
}

/// The curve's digest algorithm for aws-lc-rs's digest signing, and the
/// digest brought to its length without changing the number ECDSA reads
/// from it (see the module's comment).
fn fit_digest(t: KeyType, d: &[u8]) -> Result<Digest, Error> {
    let (alg, len): (&'static digest::Algorithm, usize) = match t {
        KeyType::EcdsaP256 => (&digest::SHA256, 32),
        KeyType::EcdsaP384 => (&digest::SHA384, 48),
        // The order has 521 bits: a digest of up to 64 bytes is read whole.
        KeyType::EcdsaP521 => (&digest::SHA512, 64),
        _ => return Err(failed("ECDSA on a non-ECDSA key")),
    };
    let mut fitted = vec![0u8; len];
    if d.len() >= len {
        if t == KeyType::EcdsaP521 && d.len() > len {
            return Err(Error::invalid(
                "prehashed input for ecdsa-p521 is longer than 64 bytes",
            ));
        }
        fitted.copy_from_slice(&d[..len]);
    } else {
        fitted[len - d.len()..].copy_from_slice(d);
    }
    Digest::import_less_safe(&fitted, alg).map_err(|_| failed("digest"))
}

fn ecdsa_algs(
    t: KeyType,
    m: Marshaling,
) -> Result<
    (
        &'static signature::EcdsaSigningAlgorithm,
        &'static signature::EcdsaVerificationAlgorithm,
    ),
    Error,
> {
    use signature::*;
    Ok(match (t, m) {
        (KeyType::EcdsaP256, Marshaling::Asn1) => {
            (&ECDSA_P256_SHA256_ASN1_SIGNING, &ECDSA_P256_SHA256_ASN1)
        }
        (KeyType::EcdsaP256, Marshaling::Jws) => {
            (&ECDSA_P256_SHA256_FIXED_SIGNING, &ECDSA_P256_SHA256_FIXED)
        }
        (KeyType::EcdsaP384, Marshaling::Asn1) => {
            (&ECDSA_P384_SHA384_ASN1_SIGNING, &ECDSA_P384_SHA384_ASN1)
        }
        (KeyType::EcdsaP384, Marshaling::Jws) => {
            (&ECDSA_P384_SHA384_FIXED_SIGNING, &ECDSA_P384_SHA384_FIXED)
        }
        (KeyType::EcdsaP521, Marshaling::Asn1) => {
            (&ECDSA_P521_SHA512_ASN1_SIGNING, &ECDSA_P521_SHA512_ASN1)
        }
        (KeyType::EcdsaP521, Marshaling::Jws) => {
            (&ECDSA_P521_SHA512_FIXED_SIGNING, &ECDSA_P521_SHA512_FIXED)
        }
        _ => return Err(failed("ECDSA on a non-ECDSA key")),
    })
}

/// Vault's RSA hashes that aws-lc-rs can sign with.
fn rsa_digest(alg: &Algorithm) -> Result<&'static digest::Algorithm, Error> {
    match alg.hash {
        Hash::Sha2_256 => Ok(&digest::SHA256),
        Hash::Sha2_384 => Ok(&digest::SHA384),
        Hash::Sha2_512 => Ok(&digest::SHA512),
        _ => Err(Error::invalid(
            "RSA keys sign with sha2-256, sha2-384 or sha2-512 only: aws-lc-rs has no RSA signature with other hashes or without a DigestInfo",
        )),
    }
}

/// The input's digest for RSA: computed, or the caller's when prehashed.
fn rsa_message(alg: &Algorithm, input: &[u8]) -> Result<Digest, Error> {
    let d = rsa_digest(alg)?;
    if alg.prehashed {
        Digest::import_less_safe(input, d)
            .map_err(|_| Error::invalid("prehashed input has the wrong length for its hash"))
    } else {
        Ok(digest::digest(d, input))
    }
}

fn pss_length(salt: Salt) -> RsaPssSaltLength {
    match salt {
        Salt::Auto | Salt::Hash => RsaPssSaltLength::Digest,
        Salt::Bytes(n) => RsaPssSaltLength::Custom(n),
    }
}

fn rsa_encoding(
    d: &'static digest::Algorithm,
    pss: bool,
) -> &'static signature::RsaSignatureEncoding {
    use signature::*;
    match (pss, d.output_len()) {
        (true, 32) => &RSA_PSS_SHA256,
        (true, 48) => &RSA_PSS_SHA384,
        (true, _) => &RSA_PSS_SHA512,
        (false, 32) => &RSA_PKCS1_SHA256,
        (false, 48) => &RSA_PKCS1_SHA384,
        (false, _) => &RSA_PKCS1_SHA512,
    }
}

/// A PSS encoding with a salt length. aws-lc-rs signs with `'static`
/// encodings only: each (hash, length) pair is made once and kept; the
/// lengths are checked against the key first, so there are at most a few
/// thousand.
fn pss_encoding(
    d: &'static digest::Algorithm,
    salt: Salt,
) -> &'static signature::RsaSignatureEncoding {
    type Made = HashMap<(usize, u16), &'static signature::RsaSignatureEncoding>;
    static MADE: OnceLock<Mutex<Made>> = OnceLock::new();
    match salt {
        Salt::Auto | Salt::Hash => rsa_encoding(d, true),
        Salt::Bytes(n) => {
            let mut made = MADE
                .get_or_init(Mutex::default)
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            made.entry((d.output_len(), n)).or_insert_with(|| {
                let base = match d.output_len() {
                    32 => signature::RSA_PSS_SHA256,
                    48 => signature::RSA_PSS_SHA384,
                    _ => signature::RSA_PSS_SHA512,
                };
                Box::leak(Box::new(
                    base.with_pss_salt_length(RsaPssSaltLength::Custom(n)),
                ))
            })
        }
    }
}

/// Checks a salt length as Vault does: at most the key's bytes less the
/// digest's and 2.
fn check_salt(pair: &RsaKeyPair, d: &'static digest::Algorithm, salt: Salt) -> Result<(), Error> {
    if let Salt::Bytes(n) = salt {
        let max = pair.public_modulus_len().saturating_sub(2 + d.output_len());
        if usize::from(n) > max {
            return Err(Error::invalid(format!(
                "requested salt length {n} is invalid"
            )));
        }
    }
    Ok(())
}

/// Signs `input` with a version's PKCS#8 private key.
pub fn sign(t: KeyType, pkcs8: &[u8], alg: &Algorithm, input: &[u8]) -> Result<Vec<u8>, Error> {
    match t {
        KeyType::Ed25519 => {
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| failed("signing"))?;
            Ok(pair.sign(input).as_ref().to_vec())
        }
        t if t.is_ecdsa() => {
            let d = fit_digest(t, &message_digest(alg, input)?)?;
            let (signing, _) = ecdsa_algs(t, alg.marshaling)?;
            let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8).map_err(|_| failed("signing"))?;
            let sig = pair.sign_digest(&d).map_err(|_| failed("signing"))?;
            Ok(sig.as_ref().to_vec())
        }
        t if t.is_rsa() => {
            let d = rsa_message(alg, input)?;
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| failed("signing"))?;
            let encoding = if alg.pss {
                check_salt(&pair, d.algorithm(), alg.salt)?;
                pss_encoding(d.algorithm(), alg.salt)
            } else {
                rsa_encoding(d.algorithm(), false)
            };
            let mut sig = vec![0u8; pair.public_modulus_len()];
            pair.sign_digest(encoding, &d, &mut sig)
                .map_err(|_| failed("signing"))?;
            Ok(sig)
        }
        other => Err(Error::invalid(format!(
            "key type {} does not support signing",
            other.name()
        ))),
    }
}

/// Whether `sig` is a valid signature of `input` by the version whose
/// PKCS#8 private key is `pkcs8`.
pub fn verify(
    t: KeyType,
    pkcs8: &[u8],
    alg: &Algorithm,
    input: &[u8],
    sig: &[u8],
) -> Result<bool, Error> {
    match t {
        KeyType::Ed25519 => {
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| failed("verification"))?;
            Ok(
                UnparsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref())
                    .verify(input, sig)
                    .is_ok(),
            )
        }
        t if t.is_ecdsa() => {
            let d = fit_digest(t, &message_digest(alg, input)?)?;
            let (signing, verifying) = ecdsa_algs(t, alg.marshaling)?;
            let pair =
                EcdsaKeyPair::from_pkcs8(signing, pkcs8).map_err(|_| failed("verification"))?;
            Ok(
                UnparsedPublicKey::new(verifying, pair.public_key().as_ref())
                    .verify_digest(&d, sig)
                    .is_ok(),
            )
        }
        t if t.is_rsa() => {
            let d = rsa_message(alg, input)?;
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| failed("verification"))?;
            let public = pair.public_key().as_ref();
            if !alg.pss {
                return Ok(rsa_parameters(d.algorithm(), false)
                    .verify_digest_sig(public, &d, sig)
                    .is_ok());
            }
            check_salt(&pair, d.algorithm(), alg.salt)?;
            // `auto` verifies what minikms signs (the digest's length) and
            // what Vault signs (the longest salt).
            let lengths: &[RsaPssSaltLength] = match alg.salt {
                Salt::Auto => &[RsaPssSaltLength::Digest, RsaPssSaltLength::Max],
                other => &[pss_length(other)],
            };
            Ok(lengths.iter().any(|l| {
                rsa_parameters(d.algorithm(), true)
                    .with_pss_salt_length(*l)
                    .verify_digest_sig(public, &d, sig)
                    .is_ok()
            }))
        }
        other => Err(Error::invalid(format!(
            "key type {} does not support verification",
            other.name()
        ))),
    }
}

fn rsa_parameters(d: &'static digest::Algorithm, pss: bool) -> signature::RsaParameters {
    use signature::*;
    match (pss, d.output_len()) {
        (true, 32) => RSA_PSS_2048_8192_SHA256,
        (true, 48) => RSA_PSS_2048_8192_SHA384,
        (true, _) => RSA_PSS_2048_8192_SHA512,
        (false, 32) => RSA_PKCS1_2048_8192_SHA256,
        (false, 48) => RSA_PKCS1_2048_8192_SHA384,
        (false, _) => RSA_PKCS1_2048_8192_SHA512,
    }
}
