//! Signature algorithms as Vault's transit names them: which hash, which
//! padding, which encoding, for which key type; and the signing and
//! verifying with aws-lc-rs they come to.
//!
//! ECDSA signs a digest of any of Vault's hashes (or, `prehashed`, the
//! caller's bytes): aws-lc-rs signs and verifies digests on each curve, so
//! the digest is first brought to the curve's digest length the way ECDSA
//! itself reads a digest as a number (SEC 1, 4.1.3 step 5: its leftmost
//! bits up to the group order's bit length; leading zero bytes do not
//! change the number). RSA signs with every hash Vault takes, and `none`
//! (PKCS#1 v1.5 without a DigestInfo), through `minikms-awslc` (aws-lc's
//! C API: aws-lc-rs has RSA encodings for SHA-2 256, 384 and 512 only).
//! Ed25519 signs the input itself whatever the hash, as Vault
//! (OpenBao 2) does.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use minikms_awslc as awslc;

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

    /// The input's digest: SHA-1 and SHA-2 from aws-lc-rs, SHA-3 from
    /// RustCrypto's `sha3` (aws-lc-rs has no SHA3-224).
    pub fn digest_of(self, input: &[u8]) -> Result<Vec<u8>, Error> {
        use sha3::Digest as _;
        let aws = |alg: &'static digest::Algorithm| digest::digest(alg, input).as_ref().to_vec();
        Ok(match self {
            Self::Sha1 => aws(&digest::SHA1_FOR_LEGACY_USE_ONLY),
            Self::Sha2_224 => aws(&digest::SHA224),
            Self::Sha2_256 => aws(&digest::SHA256),
            Self::Sha2_384 => aws(&digest::SHA384),
            Self::Sha2_512 => aws(&digest::SHA512),
            Self::Sha3_224 => sha3::Sha3_224::digest(input).to_vec(),
            Self::Sha3_256 => sha3::Sha3_256::digest(input).to_vec(),
            Self::Sha3_384 => sha3::Sha3_384::digest(input).to_vec(),
            Self::Sha3_512 => sha3::Sha3_512::digest(input).to_vec(),
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
/// any length.
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
    alg.hash.digest_of(input)
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

/// The RSA hash (`None`: Vault's `none`, PKCS#1 v1.5 without a
/// DigestInfo).
fn rsa_hash(h: Hash) -> Option<awslc::Hash> {
    Some(match h {
        Hash::Sha1 => awslc::Hash::Sha1,
        Hash::Sha2_224 => awslc::Hash::Sha2_224,
        Hash::Sha2_256 => awslc::Hash::Sha2_256,
        Hash::Sha2_384 => awslc::Hash::Sha2_384,
        Hash::Sha2_512 => awslc::Hash::Sha2_512,
        Hash::Sha3_224 => awslc::Hash::Sha3_224,
        Hash::Sha3_256 => awslc::Hash::Sha3_256,
        Hash::Sha3_384 => awslc::Hash::Sha3_384,
        Hash::Sha3_512 => awslc::Hash::Sha3_512,
        Hash::None => return None,
    })
}

/// The padding: PKCS#1 v1.5, or PSS whose `auto` signs with the digest's
/// length (see [`Salt`]) and verifies any length.
fn rsa_padding(alg: &Algorithm, signing: bool) -> awslc::Padding {
    if !alg.pss {
        return awslc::Padding::Pkcs1v15;
    }
    awslc::Padding::Pss(match alg.salt {
        Salt::Auto if !signing => awslc::Salt::Auto,
        Salt::Auto | Salt::Hash => awslc::Salt::Digest,
        Salt::Bytes(n) => awslc::Salt::Bytes(n),
    })
}

/// What RSA signs: the input's digest, or the input itself when
/// prehashed (or `none`).
fn rsa_message(alg: &Algorithm, input: &[u8]) -> Result<Vec<u8>, Error> {
    if alg.prehashed || alg.hash == Hash::None {
        Ok(input.to_vec())
    } else {
        alg.hash.digest_of(input)
    }
}

/// The RSA crate's refusals as the caller's errors (what to change), or
/// ours (a stored key it cannot read).
fn rsa_error(e: awslc::Error, what: &'static str, salt: Salt) -> Error {
    match e {
        awslc::Error::DigestLength { .. } => {
            Error::invalid("prehashed input has the wrong length for its hash")
        }
        awslc::Error::TooLong { max } => Error::invalid(format!(
            "input too long for this RSA key with hash_algorithm none: at most {max} bytes"
        )),
        awslc::Error::SaltTooLong { .. } => Error::invalid(match salt {
            Salt::Bytes(n) => format!("requested salt length {n} is invalid"),
            _ => "requested salt length is invalid".to_string(),
        }),
        awslc::Error::PssWithoutHash => Error::invalid(
            "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15",
        ),
        awslc::Error::NotPrivate => {
            Error::invalid("this key version has only a public key: it can verify, not sign")
        }
        awslc::Error::Key | awslc::Error::Failed => failed(what),
    }
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
            let key = awslc::RsaKey::from_pkcs8(pkcs8).map_err(|_| failed("signing"))?;
            key.sign(
                rsa_hash(alg.hash),
                rsa_padding(alg, true),
                &rsa_message(alg, input)?,
            )
            .map_err(|e| rsa_error(e, "signing", alg.salt))
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
            let key = awslc::RsaKey::from_pkcs8(pkcs8).map_err(|_| failed("verification"))?;
            key.verify(
                rsa_hash(alg.hash),
                rsa_padding(alg, false),
                &rsa_message(alg, input)?,
                sig,
            )
            .map_err(|e| rsa_error(e, "verification", alg.salt))
        }
        other => Err(Error::invalid(format!(
            "key type {} does not support verification",
            other.name()
        ))),
    }
}
