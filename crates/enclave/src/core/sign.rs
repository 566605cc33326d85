//! Sign, verify (signatures and HMACs), hmac.
//!
//! Signatures: Ed25519 (over the input); ECDSA P-256 with SHA-256, P-384
//! with SHA-384 or SHA3-384, P-521 with SHA-2 224/256/384/512 or SHA3-512,
//! ASN.1 (DER) encoded, `prehashed` supported; RSA PSS
//! (default; salt length = hash length) or PKCS#1 v1.5 with SHA-2 256, 384
//! or 512. HMAC: SHA-2 224, 256, 384, 512, with the version's HMAC key
//! (for `hmac` keys the key itself).

use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::batch::{self, check_batch, Answer};
use super::input::{b64_field, lenient_bool, lenient_u64};
use super::keys::{parse_versioned, versioned};
use crate::error::Error;
use crate::state::key::{Key, KeyType};

/// What one item answers, as Vault names the fields.
#[derive(Default, Serialize)]
pub struct SignOutcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SignOutcome {
    fn valid(valid: bool) -> Self {
        Self {
            valid: Some(valid),
            ..Self::default()
        }
    }
}

#[derive(Default, Deserialize)]
pub struct Item {
    /// What is signed or HMACed: the caller's data, wiped with the request.
    input: Option<zeroize::Zeroizing<String>>,
    signature: Option<String>,
    hmac: Option<String>,
    pub reference: Option<String>,
}

#[derive(Default, Deserialize)]
pub struct Request {
    #[serde(flatten)]
    pub item: Item,
    pub batch_input: Option<Vec<Item>>,
    #[serde(default, deserialize_with = "lenient_u64")]
    key_version: Option<u64>,
    hash_algorithm: Option<String>,
    algorithm: Option<String>,
    signature_algorithm: Option<String>,
    marshaling_algorithm: Option<String>,
    salt_length: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    prehashed: Option<bool>,
}

/// The options shared by every item of a request.
pub struct Options {
    key_version: Option<u64>,
    hash: String,
    pss: bool,
    prehashed: bool,
}

pub fn options(req: &Request, path_alg: Option<String>) -> Result<Options, Error> {
    let hash = path_alg
        .or_else(|| req.hash_algorithm.clone().filter(|s| !s.is_empty()))
        .or_else(|| req.algorithm.clone().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "sha2-256".to_string());
    let pss = match req.signature_algorithm.as_deref() {
        None | Some("") | Some("pss") => true,
        Some("pkcs1v15") => false,
        Some(other) => {
            return Err(Error::invalid(format!(
                "unsupported signature_algorithm {other}: use pss or pkcs1v15"
            )))
        }
    };
    match req.marshaling_algorithm.as_deref() {
        None | Some("") | Some("asn1") => {}
        Some(other) => {
            return Err(Error::invalid(format!(
                "unsupported marshaling_algorithm {other}: only asn1"
            )))
        }
    }
    match req.salt_length.as_deref() {
        None | Some("") | Some("auto") | Some("hash") => {}
        Some(_) => return Err(Error::invalid("unsupported salt_length: only auto or hash")),
    }
    Ok(Options {
        key_version: req.key_version,
        hash,
        pss,
        prehashed: req.prehashed.unwrap_or(false),
    })
}

fn mac_algorithm(name: &str) -> Result<hmac::Algorithm, Error> {
    Ok(match name {
        "sha2-224" => hmac::HMAC_SHA224,
        "sha2-256" => hmac::HMAC_SHA256,
        "sha2-384" => hmac::HMAC_SHA384,
        "sha2-512" => hmac::HMAC_SHA512,
        other => return Err(Error::invalid(format!("unsupported algorithm {other}"))),
    })
}

fn hmac_key(key: &Key, v: u64) -> Result<&[u8], Error> {
    let ver = key.version(v)?;
    Ok(if key.key_type == KeyType::Hmac {
        ver.secret.as_slice()
    } else {
        ver.hmac_key.as_slice()
    })
}

fn input_of(item: &Item) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    if item.input.is_none() {
        return Err(Error::invalid("missing input"));
    }
    b64_field(item.input.as_ref().map(|i| i.as_str()), "input")
}

pub fn hmac_one(key: &Key, o: &Options, item: &Item) -> Result<SignOutcome, Error> {
    let alg = mac_algorithm(&o.hash)?;
    let input = input_of(item)?;
    let v = key.version_for_use(o.key_version)?;
    let tag = hmac::sign(&hmac::Key::new(alg, hmac_key(key, v)?), &input);
    Ok(SignOutcome {
        hmac: Some(versioned(v, tag.as_ref())),
        ..SignOutcome::default()
    })
}

pub fn sign_one(key: &Key, o: &Options, item: &Item) -> Result<SignOutcome, Error> {
    let input = input_of(item)?;
    let v = key.version_for_use(o.key_version)?;
    let secret = &key.version(v)?.secret;
    let failed = || Error::failed("signing");
    let rng = SystemRandom::new();
    let sig: Vec<u8> = match key.key_type {
        KeyType::Ed25519 => {
            if o.prehashed {
                return Err(Error::invalid("prehashed is not supported for ed25519"));
            }
            let pair = Ed25519KeyPair::from_pkcs8(secret).map_err(|_| failed())?;
            pair.sign(&input).as_ref().to_vec()
        }
        t if t.is_ecdsa() => {
            let (alg, _, hash) = ecdsa_algs(t, &o.hash)?;
            let pair = EcdsaKeyPair::from_pkcs8(alg, secret).map_err(|_| failed())?;
            let sig = if o.prehashed {
                let d = digest::Digest::import_less_safe(&input, hash)
                    .map_err(|_| Error::invalid("prehashed input has the wrong length"))?;
                pair.sign_digest(&d).map_err(|_| failed())?
            } else {
                pair.sign(&rng, &input).map_err(|_| failed())?
            };
            sig.as_ref().to_vec()
        }
        t if t.is_rsa() => {
            if o.prehashed {
                return Err(Error::invalid("prehashed is not supported for RSA keys"));
            }
            let encoding: &'static dyn signature::RsaEncoding = match (o.pss, o.hash.as_str()) {
                (true, "sha2-256") => &signature::RSA_PSS_SHA256,
                (true, "sha2-384") => &signature::RSA_PSS_SHA384,
                (true, "sha2-512") => &signature::RSA_PSS_SHA512,
                (false, "sha2-256") => &signature::RSA_PKCS1_SHA256,
                (false, "sha2-384") => &signature::RSA_PKCS1_SHA384,
                (false, "sha2-512") => &signature::RSA_PKCS1_SHA512,
                (_, other) => {
                    return Err(Error::invalid(format!(
                        "unsupported hash algorithm {other} for RSA keys"
                    )))
                }
            };
            let pair = RsaKeyPair::from_pkcs8(secret).map_err(|_| failed())?;
            let mut sig = vec![0u8; pair.public_modulus_len()];
            pair.sign(encoding, &rng, &input, &mut sig)
                .map_err(|_| failed())?;
            sig
        }
        other => {
            return Err(Error::invalid(format!(
                "key type {} does not support signing",
                other.name()
            )))
        }
    };
    Ok(SignOutcome {
        signature: Some(versioned(v, &sig)),
        key_version: Some(v),
        ..SignOutcome::default()
    })
}

/// The ECDSA algorithms (signing, verifying, digest) for a curve and a
/// hash: the pairs aws-lc-rs offers.
type EcdsaAlgs = (
    &'static signature::EcdsaSigningAlgorithm,
    &'static signature::EcdsaVerificationAlgorithm,
    &'static digest::Algorithm,
);

fn ecdsa_algs(t: KeyType, hash: &str) -> Result<EcdsaAlgs, Error> {
    use signature::*;
    Ok(match (t, hash) {
        (KeyType::EcdsaP256, "sha2-256") => (
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &ECDSA_P256_SHA256_ASN1,
            &digest::SHA256,
        ),
        (KeyType::EcdsaP384, "sha2-384") => (
            &ECDSA_P384_SHA384_ASN1_SIGNING,
            &ECDSA_P384_SHA384_ASN1,
            &digest::SHA384,
        ),
        (KeyType::EcdsaP384, "sha3-384") => (
            &ECDSA_P384_SHA3_384_ASN1_SIGNING,
            &ECDSA_P384_SHA3_384_ASN1,
            &digest::SHA3_384,
        ),
        (KeyType::EcdsaP521, "sha2-224") => (
            &ECDSA_P521_SHA224_ASN1_SIGNING,
            &ECDSA_P521_SHA224_ASN1,
            &digest::SHA224,
        ),
        (KeyType::EcdsaP521, "sha2-256") => (
            &ECDSA_P521_SHA256_ASN1_SIGNING,
            &ECDSA_P521_SHA256_ASN1,
            &digest::SHA256,
        ),
        (KeyType::EcdsaP521, "sha2-384") => (
            &ECDSA_P521_SHA384_ASN1_SIGNING,
            &ECDSA_P521_SHA384_ASN1,
            &digest::SHA384,
        ),
        (KeyType::EcdsaP521, "sha2-512") => (
            &ECDSA_P521_SHA512_ASN1_SIGNING,
            &ECDSA_P521_SHA512_ASN1,
            &digest::SHA512,
        ),
        (KeyType::EcdsaP521, "sha3-512") => (
            &ECDSA_P521_SHA3_512_ASN1_SIGNING,
            &ECDSA_P521_SHA3_512_ASN1,
            &digest::SHA3_512,
        ),
        _ => {
            return Err(Error::invalid(format!(
                "unsupported hash algorithm {hash} for {}: ecdsa-p256 signs with sha2-256; ecdsa-p384 with sha2-384 or sha3-384; ecdsa-p521 with sha2-224, sha2-256, sha2-384, sha2-512 or sha3-512",
                t.name()
            )))
        }
    })
}

pub fn verify_one(key: &Key, o: &Options, item: &Item) -> Result<SignOutcome, Error> {
    if item.hmac.is_some() && item.signature.is_some() {
        return Err(Error::invalid("provide one of signature or hmac, not both"));
    }
    let input = input_of(item)?;
    if let Some(mac) = &item.hmac {
        let alg = mac_algorithm(&o.hash)?;
        let (v, tag) = parse_versioned(mac, "hmac")?;
        key.check_decryption_version(v)?;
        let valid = hmac::verify(&hmac::Key::new(alg, hmac_key(key, v)?), &input, &tag).is_ok();
        return Ok(SignOutcome::valid(valid));
    }
    let Some(sig) = &item.signature else {
        return Err(Error::invalid("missing signature or hmac to verify"));
    };
    let (v, sig) = parse_versioned(sig, "signature")?;
    key.check_decryption_version(v)?;
    let secret = &key.version(v)?.secret;
    let failed = || Error::failed("verification");
    let valid = match key.key_type {
        KeyType::Ed25519 => {
            let pair = Ed25519KeyPair::from_pkcs8(secret).map_err(|_| failed())?;
            UnparsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref())
                .verify(&input, &sig)
                .is_ok()
        }
        t if t.is_ecdsa() => {
            let (alg, verify_alg, hash) = ecdsa_algs(t, &o.hash)?;
            let pair = EcdsaKeyPair::from_pkcs8(alg, secret).map_err(|_| failed())?;
            let public = UnparsedPublicKey::new(verify_alg, pair.public_key().as_ref());
            if o.prehashed {
                let d = digest::Digest::import_less_safe(&input, hash)
                    .map_err(|_| Error::invalid("prehashed input has the wrong length"))?;
                public.verify_digest(&d, &sig).is_ok()
            } else {
                public.verify(&input, &sig).is_ok()
            }
        }
        t if t.is_rsa() => {
            if o.prehashed {
                return Err(Error::invalid("prehashed is not supported for RSA keys"));
            }
            let params: &'static signature::RsaParameters = match (o.pss, o.hash.as_str()) {
                (true, "sha2-256") => &signature::RSA_PSS_2048_8192_SHA256,
                (true, "sha2-384") => &signature::RSA_PSS_2048_8192_SHA384,
                (true, "sha2-512") => &signature::RSA_PSS_2048_8192_SHA512,
                (false, "sha2-256") => &signature::RSA_PKCS1_2048_8192_SHA256,
                (false, "sha2-384") => &signature::RSA_PKCS1_2048_8192_SHA384,
                (false, "sha2-512") => &signature::RSA_PKCS1_2048_8192_SHA512,
                (_, other) => {
                    return Err(Error::invalid(format!(
                        "unsupported hash algorithm {other} for RSA keys"
                    )))
                }
            };
            let pair = RsaKeyPair::from_pkcs8(secret).map_err(|_| failed())?;
            UnparsedPublicKey::new(params, pair.public_key().as_ref())
                .verify(&input, &sig)
                .is_ok()
        }
        other => {
            return Err(Error::invalid(format!(
                "key type {} does not support verification",
                other.name()
            )))
        }
    };
    Ok(SignOutcome::valid(valid))
}

/// One item's operation.
pub type One = fn(&Key, &Options, &Item) -> Result<SignOutcome, Error>;

/// Checks a request's batch (if any) before any work.
pub fn check(req: &Request) -> Result<(), Error> {
    match &req.batch_input {
        Some(batch) => check_batch(batch),
        None => Ok(()),
    }
}

/// Runs `one` on the request, or on each item of its batch.
pub fn run(key: &Key, o: &Options, req: &Request, one: One) -> Result<Answer<SignOutcome>, Error> {
    let Some(batch) = &req.batch_input else {
        return one(key, o, &req.item).map(Answer::One);
    };
    Ok(batch::each(batch, |item| one(key, o, item)))
}

impl batch::Item<SignOutcome> for Item {
    fn reference(&self) -> Option<&String> {
        self.reference.as_ref()
    }
}

impl batch::Outcome for SignOutcome {
    fn set_error(&mut self, message: String) {
        self.error = Some(message);
    }

    fn set_reference(&mut self, reference: Option<String>) {
        self.reference = reference;
    }
}
