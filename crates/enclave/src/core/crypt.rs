//! Encrypt, decrypt, rewrap, datakey.

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::batch::{self, check_batch, Answer};
use super::input::{b64_field, lenient_bool, lenient_u64};
use super::keys::{self, random, B64};
use super::{manage, mount_config};
use crate::error::Error;
use crate::state::key::{Key, KeyType};
use crate::state::State;

/// One encrypt, decrypt or rewrap item: the request itself, or an entry of
/// its `batch_input` (where a nested `batch_input` is ignored). `context`
/// (base64) is required by derived keys and ignored by others, as Vault
/// does; `nonce` is refused by derived keys (Vault's convergent version 3
/// derives it) and ignored by others. One struct
/// rather than a flattened pair, which serde would parse twice.
#[derive(Default, Deserialize, Serialize)]
pub struct Item {
    pub plaintext: Option<Zeroizing<String>>,
    pub ciphertext: Option<String>,
    pub associated_data: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub key_version: Option<u64>,
    pub reference: Option<String>,
    pub context: Option<String>,
    pub nonce: Option<String>,
    pub batch_input: Option<Vec<Item>>,
    /// The type of a key encrypt creates (upsert).
    #[serde(rename = "type")]
    pub key_type: Option<String>,
    /// Whether a key encrypt creates with a context is convergent.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub convergent_encryption: Option<bool>,
    /// `decrypt` only: answer the plaintext wrapped to the attested key of
    /// the token (`crate::core::release`), never in clear.
    pub recipient: Option<String>,
    /// Vault's status for a batch in which some items failed and others
    /// did not (encrypt, decrypt); 400 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_failure_response_code: Option<serde_json::Value>,
}

impl Item {
    /// `partial_failure_response_code` as a number (a JSON number or a
    /// numeric string, as Vault takes it).
    pub fn partial_failure_code(&self) -> Result<Option<i64>, Error> {
        let bad = || Error::invalid("partial_failure_response_code must be an integer");
        match &self.partial_failure_response_code {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => s.parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }
}

impl Item {
    /// How encrypt's upsert makes the key, as Vault does: derived if the
    /// (first) item has a context, then convergent if asked.
    pub fn upsert_plan(&self) -> manage::CreateRequest {
        let first = self
            .batch_input
            .as_ref()
            .and_then(|b| b.first())
            .unwrap_or(self);
        let derived = first.context.as_deref().is_some_and(|c| !c.is_empty());
        let convergent = derived && self.convergent_encryption == Some(true);
        manage::CreateRequest::of_type(self.key_type.clone()).derived(derived, convergent)
    }
}

/// What one item answers, as Vault names the fields.
#[derive(Default, Serialize)]
pub struct Outcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Zeroizing<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    fn encrypted(ciphertext: String, key_version: u64) -> Self {
        Self {
            ciphertext: Some(ciphertext),
            key_version: Some(key_version),
            ..Self::default()
        }
    }
}

/// An item's `context`, decoded, for `key`; refuses a `nonce` on a derived
/// key as Vault does.
fn context_of(key: &Key, context: Option<&str>, nonce: Option<&str>) -> Result<Vec<u8>, Error> {
    let context = b64_field(context, "context")?;
    if key.derived && nonce.is_some_and(|n| !n.is_empty()) {
        return Err(Error::invalid("nonce provided when not allowed"));
    }
    Ok(context.to_vec())
}

pub fn encrypt_one(key: &Key, item: &Item) -> Result<Outcome, Error> {
    let Some(plaintext) = &item.plaintext else {
        return Err(Error::invalid("missing plaintext to encrypt"));
    };
    let plaintext = b64_field(Some(plaintext.as_str()), "plaintext")?;
    let aad = b64_field(item.associated_data.as_deref(), "associated_data")?;
    let context = context_of(key, item.context.as_deref(), item.nonce.as_deref())?;
    let v = key.version_for_use(item.key_version)?;
    let ciphertext = keys::encrypt(key, v, &plaintext, &aad, &context)?;
    Ok(Outcome::encrypted(ciphertext, v))
}

pub fn decrypt_one(key: &Key, item: &Item) -> Result<Outcome, Error> {
    let Some(ciphertext) = &item.ciphertext else {
        return Err(Error::invalid("missing ciphertext to decrypt"));
    };
    let aad = b64_field(item.associated_data.as_deref(), "associated_data")?;
    let context = context_of(key, item.context.as_deref(), None)?;
    let plain = keys::decrypt(key, ciphertext, &aad, &context)?;
    Ok(Outcome {
        plaintext: Some(Zeroizing::new(B64.encode(plain.as_slice()))),
        ..Outcome::default()
    })
}

pub fn rewrap_one(key: &Key, item: &Item) -> Result<Outcome, Error> {
    let Some(ciphertext) = &item.ciphertext else {
        return Err(Error::invalid("missing ciphertext to rewrap"));
    };
    let aad = b64_field(item.associated_data.as_deref(), "associated_data")?;
    let context = context_of(key, item.context.as_deref(), item.nonce.as_deref())?;
    let plain = keys::decrypt(key, ciphertext, &aad, &context)?;
    let v = key.version_for_use(item.key_version)?;
    let ciphertext = keys::encrypt(key, v, &plain, &aad, &context)?;
    Ok(Outcome::encrypted(ciphertext, v))
}

/// Vault's upsert: creates the missing key `name` (of `key_type`, by
/// default `aes256-gcm96`) for an encryption, unless `transit/config/keys`
/// disables it. Whether it made the key.
pub fn upsert(state: &State, name: &str, plan: manage::CreateRequest) -> Result<bool, Error> {
    if state.find(name).is_some() {
        return Ok(false);
    }
    if mount_config::keys_config(state)?.disable_upsert {
        return Err(Error::invalid(
            "encryption key not found (upsert is disabled by transit/config/keys)",
        ));
    }
    if let Some(t) = plan.key_type().filter(|t| !t.is_empty()) {
        if KeyType::parse(t).is_none_or(|t| !t.supports_encryption()) {
            return Err(Error::invalid(format!(
                "key type {t} cannot be created for encryption"
            )));
        }
    }
    manage::create(state, name, plan)?;
    Ok(true)
}

/// Checks a request's batch (if any) before any work.
pub fn check(req: &Item) -> Result<(), Error> {
    match &req.batch_input {
        Some(batch) => check_batch(batch),
        None => Ok(()),
    }
}

/// Runs `one` on the request, or on each item of its batch.
pub fn run(
    key: &Key,
    req: &Item,
    one: fn(&Key, &Item) -> Result<Outcome, Error>,
) -> Result<Answer<Outcome>, Error> {
    let Some(batch) = &req.batch_input else {
        return one(key, req).map(Answer::One);
    };
    Ok(batch::each(batch, |item| one(key, item)))
}

#[derive(Default, Deserialize, Serialize)]
pub struct DatakeyRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    bits: Option<u64>,
    context: Option<String>,
    nonce: Option<String>,
}

/// A data key: encrypted under the key, and in the clear if asked.
#[derive(Serialize)]
pub struct DataKey {
    pub ciphertext: String,
    pub key_version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Zeroizing<String>>,
}

/// What a data key request asks, checked before the key is looked up.
pub struct DatakeyPlan {
    show_plaintext: bool,
    bytes: usize,
    context: Option<String>,
    nonce: Option<String>,
}

/// Checks a data key request: `kind` is `plaintext` or `wrapped`.
pub fn datakey_plan(kind: &str, req: DatakeyRequest) -> Result<DatakeyPlan, Error> {
    let show_plaintext = match kind {
        "plaintext" => true,
        "wrapped" => false,
        _ => return Err(Error::invalid("invalid type: must be plaintext or wrapped")),
    };
    let bytes = match req.bits {
        None | Some(256) => 32,
        Some(128) => 16,
        Some(512) => 64,
        Some(_) => {
            return Err(Error::invalid(
                "invalid bit length: bits must be 128, 256 or 512",
            ))
        }
    };
    // A bad context is refused before the key is looked up.
    b64_field(req.context.as_deref(), "context")?;
    Ok(DatakeyPlan {
        show_plaintext,
        bytes,
        context: req.context,
        nonce: req.nonce,
    })
}

/// A fresh data key under `key`'s latest version.
pub fn datakey(key: &Key, plan: &DatakeyPlan) -> Result<DataKey, Error> {
    let context = context_of(key, plan.context.as_deref(), plan.nonce.as_deref())?;
    let v = key.version_for_use(None)?;
    let data_key = random(plan.bytes)?;
    let ciphertext = keys::encrypt(key, v, &data_key, &[], &context)?;
    Ok(DataKey {
        ciphertext,
        key_version: v,
        plaintext: plan
            .show_plaintext
            .then(|| Zeroizing::new(B64.encode(data_key.as_slice()))),
    })
}

impl batch::Item<Outcome> for Item {
    fn reference(&self) -> Option<&String> {
        self.reference.as_ref()
    }
}

impl batch::Outcome for Outcome {
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
