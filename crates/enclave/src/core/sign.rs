//! Sign, verify (signatures and HMACs), hmac: the requests as Vault
//! takes them. Which signature algorithms there are, and what they do, is
//! in [`super::sigalg`]. HMAC: SHA-2 and SHA-3 224, 256, 384, 512, with the
//! version's HMAC key (for `hmac` keys the key itself).

use aws_lc_rs::hmac;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::batch::{self, check_batch, Answer};
use super::input::{b64_field, lenient_bool, lenient_string, lenient_u64};
use super::keys::{parse_versioned, parse_versioned_in, versioned};
use super::sigalg::{self, Hash, Marshaling, Salt};
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

#[derive(Default, Deserialize, Serialize)]
pub struct Item {
    /// What is signed or HMACed: the caller's data, wiped with the request.
    input: Option<zeroize::Zeroizing<String>>,
    signature: Option<String>,
    hmac: Option<String>,
    pub reference: Option<String>,
}

#[derive(Default, Deserialize, Serialize)]
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
    #[serde(default, deserialize_with = "lenient_string")]
    salt_length: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    prehashed: Option<bool>,
}

/// The options shared by every item of a request.
pub struct Options {
    key_version: Option<u64>,
    /// The hash's name, for HMACs.
    hash: String,
    alg: sigalg::Algorithm,
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
    let prehashed = req.prehashed.unwrap_or(false);
    // Checked for HMACs too, as Vault does: a name it does not know is a 400.
    let parsed = Hash::parse(&hash)?;
    if parsed == Hash::None && (!prehashed || pss) {
        return Err(Error::invalid(
            "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15",
        ));
    }
    Ok(Options {
        key_version: req.key_version,
        alg: sigalg::Algorithm {
            hash: parsed,
            pss,
            marshaling: Marshaling::parse(req.marshaling_algorithm.as_deref())?,
            salt: Salt::parse(req.salt_length.as_deref())?,
            prehashed,
        },
        hash,
    })
}

/// An HMAC's hash: SHA-2 from aws-lc-rs, SHA-3 from RustCrypto's `hmac`
/// and `sha3` (aws-lc-rs has no HMAC with SHA-3).
#[derive(Clone, Copy)]
enum MacAlg {
    Sha2(hmac::Algorithm),
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

fn mac_algorithm(name: &str) -> Result<MacAlg, Error> {
    Ok(match name {
        "sha2-224" => MacAlg::Sha2(hmac::HMAC_SHA224),
        "sha2-256" => MacAlg::Sha2(hmac::HMAC_SHA256),
        "sha2-384" => MacAlg::Sha2(hmac::HMAC_SHA384),
        "sha2-512" => MacAlg::Sha2(hmac::HMAC_SHA512),
        "sha3-224" => MacAlg::Sha3_224,
        "sha3-256" => MacAlg::Sha3_256,
        "sha3-384" => MacAlg::Sha3_384,
        "sha3-512" => MacAlg::Sha3_512,
        other => return Err(Error::invalid(format!("unsupported algorithm {other}"))),
    })
}

/// A SHA-3 HMAC over `input` (any key length is valid for HMAC).
fn sha3_mac<D>(key: &[u8], input: &[u8]) -> Result<::hmac::SimpleHmac<D>, Error>
where
    D: sha3::Digest + sha3::digest::common::BlockSizeUser,
{
    use ::hmac::{KeyInit as _, Mac as _};
    let mut mac =
        ::hmac::SimpleHmac::<D>::new_from_slice(key).map_err(|_| Error::failed("hmac"))?;
    mac.update(input);
    Ok(mac)
}

impl MacAlg {
    fn tag(self, key: &[u8], input: &[u8]) -> Result<Vec<u8>, Error> {
        use ::hmac::Mac as _;
        Ok(match self {
            Self::Sha2(alg) => hmac::sign(&hmac::Key::new(alg, key), input)
                .as_ref()
                .to_vec(),
            Self::Sha3_224 => sha3_mac::<sha3::Sha3_224>(key, input)?
                .finalize()
                .into_bytes()
                .to_vec(),
            Self::Sha3_256 => sha3_mac::<sha3::Sha3_256>(key, input)?
                .finalize()
                .into_bytes()
                .to_vec(),
            Self::Sha3_384 => sha3_mac::<sha3::Sha3_384>(key, input)?
                .finalize()
                .into_bytes()
                .to_vec(),
            Self::Sha3_512 => sha3_mac::<sha3::Sha3_512>(key, input)?
                .finalize()
                .into_bytes()
                .to_vec(),
        })
    }

    /// Whether `tag` is the HMAC of `input`: compared in constant time
    /// (aws-lc-rs's `verify`, RustCrypto's `verify_slice`).
    fn verify(self, key: &[u8], input: &[u8], tag: &[u8]) -> Result<bool, Error> {
        use ::hmac::Mac as _;
        Ok(match self {
            Self::Sha2(alg) => hmac::verify(&hmac::Key::new(alg, key), input, tag).is_ok(),
            Self::Sha3_224 => sha3_mac::<sha3::Sha3_224>(key, input)?
                .verify_slice(tag)
                .is_ok(),
            Self::Sha3_256 => sha3_mac::<sha3::Sha3_256>(key, input)?
                .verify_slice(tag)
                .is_ok(),
            Self::Sha3_384 => sha3_mac::<sha3::Sha3_384>(key, input)?
                .verify_slice(tag)
                .is_ok(),
            Self::Sha3_512 => sha3_mac::<sha3::Sha3_512>(key, input)?
                .verify_slice(tag)
                .is_ok(),
        })
    }
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
    let tag = alg.tag(hmac_key(key, v)?, &input)?;
    Ok(SignOutcome {
        hmac: Some(versioned(v, &tag)),
        ..SignOutcome::default()
    })
}

pub fn sign_one(key: &Key, o: &Options, item: &Item) -> Result<SignOutcome, Error> {
    let input = input_of(item)?;
    let v = key.version_for_use(o.key_version)?;
    let sig = sigalg::sign(key.key_type, &key.version(v)?.secret, &o.alg, &input)?;
    let mut signature = format!("vault:v{v}:");
    o.alg
        .marshaling
        .engine()
        .encode_string(&sig, &mut signature);
    Ok(SignOutcome {
        signature: Some(signature),
        key_version: Some(v),
        ..SignOutcome::default()
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
        let valid = alg.verify(hmac_key(key, v)?, &input, &tag)?;
        return Ok(SignOutcome::valid(valid));
    }
    let Some(sig) = &item.signature else {
        return Err(Error::invalid("missing signature or hmac to verify"));
    };
    let (v, sig) = parse_versioned_in(sig, "signature", o.alg.marshaling.engine())?;
    key.check_decryption_version(v)?;
    let valid = sigalg::verify(key.key_type, &key.version(v)?.secret, &o.alg, &input, &sig)?;
    Ok(SignOutcome::valid(valid))
}

/// What a request does with each item.
#[derive(Clone, Copy)]
pub enum Op {
    Hmac,
    Sign,
    Verify,
}

impl Op {
    fn one(self) -> fn(&Key, &Options, &Item) -> Result<SignOutcome, Error> {
        match self {
            Self::Hmac => hmac_one,
            Self::Sign => sign_one,
            Self::Verify => verify_one,
        }
    }

    /// What a failed batch item shows besides its error, as Vault's:
    /// `key_version` 0 for a signature, `valid` false for a verification.
    fn mark_failed(self, outcome: &mut SignOutcome) {
        match self {
            Self::Hmac => {}
            Self::Sign => outcome.key_version = Some(0),
            Self::Verify => outcome.valid = Some(false),
        }
    }
}

/// Checks a request's batch (if any) before any work.
pub fn check(req: &Request) -> Result<(), Error> {
    match &req.batch_input {
        Some(batch) => check_batch(batch),
        None => Ok(()),
    }
}

/// Runs `one` on the request, or on each item of its batch.
pub fn run(key: &Key, o: &Options, req: &Request, op: Op) -> Result<Answer<SignOutcome>, Error> {
    let one = op.one();
    let Some(batch) = &req.batch_input else {
        return one(key, o, &req.item).map(Answer::One);
    };
    let mut answer = batch::each(batch, |item| one(key, o, item));
    if let Answer::Batch { results, .. } = &mut answer {
        for failed in results.iter_mut().filter(|r| r.error.is_some()) {
            op.mark_failed(failed);
        }
    }
    Ok(answer)
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

    fn key_version(&self) -> Option<u64> {
        self.key_version
    }
}
