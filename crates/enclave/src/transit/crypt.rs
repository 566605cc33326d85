//! Encrypt, decrypt, rewrap, datakey.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use super::auth::Authed;
use super::keys::{random, Key, B64};
use super::{
    b64_field, batch_answer, check_batch, envelope, enveloped, json_body, lenient_u64, with_key,
    Fail,
};
use crate::api::AppState;

/// One encrypt, decrypt or rewrap item: the request itself, or an entry of
/// its `batch_input` (where a nested `batch_input` is ignored). One struct
/// rather than a flattened pair, which serde would parse twice.
#[derive(Default, Deserialize)]
pub struct Item {
    plaintext: Option<Zeroizing<String>>,
    ciphertext: Option<String>,
    associated_data: Option<String>,
    context: Option<String>,
    nonce: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    key_version: Option<u64>,
    reference: Option<String>,
    batch_input: Option<Vec<Item>>,
}

/// What one item answers, as Vault names the fields.
#[derive(Default, Serialize)]
pub struct Outcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<Zeroizing<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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

fn no_derivation(item: &Item) -> Result<(), Fail> {
    if item.context.as_deref().is_some_and(|c| !c.is_empty()) {
        return Err(Fail::bad(
            "context is only valid for derived keys, which are not supported",
        ));
    }
    if item.nonce.as_deref().is_some_and(|c| !c.is_empty()) {
        return Err(Fail::bad(
            "nonce is only valid for convergent encryption, which is not supported",
        ));
    }
    Ok(())
}

fn encrypt_one(key: &Key, item: &Item) -> Result<Outcome, Fail> {
    no_derivation(item)?;
    let Some(plaintext) = &item.plaintext else {
        return Err(Fail::bad("missing plaintext to encrypt"));
    };
    let plaintext = b64_field(Some(plaintext.as_str()), "plaintext")?;
    let aad = b64_field(item.associated_data.as_deref(), "associated_data")?;
    let v = key.version_for_use(item.key_version)?;
    let ciphertext = key.encrypt(v, &plaintext, &aad)?;
    Ok(Outcome::encrypted(ciphertext, v))
}

fn decrypt_one(key: &Key, item: &Item) -> Result<Outcome, Fail> {
    no_derivation(item)?;
    let Some(ciphertext) = &item.ciphertext else {
        return Err(Fail::bad("missing ciphertext to decrypt"));
    };
    let aad = b64_field(item.associated_data.as_deref(), "associated_data")?;
    let plain = key.decrypt(ciphertext, &aad)?;
    Ok(Outcome {
        plaintext: Some(Zeroizing::new(B64.encode(plain.as_slice()))),
        ..Outcome::default()
    })
}

fn rewrap_one(key: &Key, item: &Item) -> Result<Outcome, Fail> {
    no_derivation(item)?;
    let Some(ciphertext) = &item.ciphertext else {
        return Err(Fail::bad("missing ciphertext to rewrap"));
    };
    let aad = b64_field(item.associated_data.as_deref(), "associated_data")?;
    let plain = key.decrypt(ciphertext, &aad)?;
    let v = key.version_for_use(item.key_version)?;
    let ciphertext = key.encrypt(v, &plain, &aad)?;
    Ok(Outcome::encrypted(ciphertext, v))
}

/// Runs `one` on the request or on each batch item.
async fn run(
    state: AppState,
    name: String,
    body: Body,
    one: fn(&Key, &Item) -> Result<Outcome, Fail>,
) -> Result<Response, Fail> {
    let req: Item = json_body(body).await?;
    if let Some(batch) = &req.batch_input {
        check_batch(batch)?;
    }
    let items = req.batch_input.as_ref().map_or(1, Vec::len);
    with_key(&state.transit, &name, items, move |key| {
        let Some(batch) = &req.batch_input else {
            let outcome = one(key, &req)?;
            if let Some(v) = outcome.key_version {
                crate::audit::context::note_version(v);
            }
            return Ok(enveloped(StatusCode::OK, &outcome, None));
        };
        let mut first_error = None;
        let results: Vec<Outcome> = batch
            .iter()
            .map(|item| {
                let mut outcome = one(key, item).unwrap_or_else(|e| {
                    first_error.get_or_insert_with(|| e.message().to_string());
                    Outcome {
                        error: Some(e.message().to_string()),
                        ..Outcome::default()
                    }
                });
                outcome.reference.clone_from(&item.reference);
                outcome
            })
            .collect();
        Ok(batch_answer(&results, first_error))
    })
    .await
}

/// `POST /v1/transit/encrypt/:name`.
pub async fn encrypt(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    run(state, name, body, encrypt_one).await
}

/// `POST /v1/transit/decrypt/:name`.
pub async fn decrypt(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    run(state, name, body, decrypt_one).await
}

/// `POST /v1/transit/rewrap/:name`.
pub async fn rewrap(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    run(state, name, body, rewrap_one).await
}

#[derive(Default, Deserialize)]
pub struct DatakeyRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    bits: Option<u64>,
    context: Option<String>,
    nonce: Option<String>,
}

/// `POST /v1/transit/datakey/:kind/:name`, kind `plaintext` or `wrapped`.
pub async fn datakey(
    State(state): State<AppState>,
    _: Authed,
    Path((kind, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response, Fail> {
    let req: DatakeyRequest = json_body(body).await?;
    let show_plaintext = match kind.as_str() {
        "plaintext" => true,
        "wrapped" => false,
        _ => return Err(Fail::bad("invalid type: must be plaintext or wrapped")),
    };
    let bytes = match req.bits {
        None | Some(0) | Some(256) => 32,
        Some(128) => 16,
        Some(512) => 64,
        Some(_) => return Err(Fail::bad("invalid bits: must be 128, 256 or 512")),
    };
    no_derivation(&Item {
        context: req.context,
        nonce: req.nonce,
        ..Item::default()
    })?;
    with_key(&state.transit, &name, 1, move |key| {
        let v = key.version_for_use(None)?;
        let data_key = random(bytes)?;
        let ciphertext = key.encrypt(v, &data_key, &[])?;
        let mut data = json!({ "ciphertext": ciphertext, "key_version": v });
        if show_plaintext {
            let encoded = Zeroizing::new(B64.encode(data_key.as_slice()));
            if let Some(obj) = data.as_object_mut() {
                obj.insert("plaintext".into(), json!(encoded.as_str()));
            }
        }
        Ok(envelope(data))
    })
    .await
}
