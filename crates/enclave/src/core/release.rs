//! Release to an attested recipient: key material (and other secrets) for
//! a workload that logged in with evidence
//! (`crate::services::attest_login`), wrapped to the key its token is
//! bound to with [`minikms_api::release::wrap`] (RSA-OAEP-SHA256 of a
//! fresh AES-256 key ‖ AES-KWP of the secret), so it never appears in
//! clear in the answer. A request asks for it with `recipient=attested`.
//!
//! A key made with `release_only_to_attested` leaves the enclave only this
//! way: never exportable, never backed up in plaintext, whoever asks (root
//! included); encrypting and decrypting with it are as usual.

use base64::Engine;
use zeroize::Zeroizing;

use serde::{Deserialize, Serialize};

use super::crypt::{self, DatakeyPlan, DatakeyRequest, Item};
use super::keys::B64;
use super::manage::{export_material, Exported};
use crate::error::Error;
use crate::state::key::Key;
use crate::state::tokens::Identity;
use crate::state::State;

/// The one recipient a request may name: the key its token is bound to.
pub const ATTESTED: &str = "attested";

/// Checks a request's `recipient` (only [`ATTESTED`]).
pub fn check_recipient(recipient: &str) -> Result<(), Error> {
    if recipient == ATTESTED {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "recipient must be {ATTESTED:?} (the key the token is bound to)"
        )))
    }
}

/// The public key (SubjectPublicKeyInfo DER) `identity`'s token is bound
/// to; refused for a token that did not come from an attested login.
pub fn recipient_key(identity: &Identity) -> Result<Vec<u8>, Error> {
    let refused = || {
        Error::Forbidden(
            "recipient=attested needs a token from auth/attest/login (bound to an attested key)"
                .into(),
        )
    };
    let bound = identity.bound_key().ok_or_else(refused)?;
    let der = identity
        .record
        .as_ref()
        .and_then(|r| r.meta.get("public_key"))
        .and_then(|k| B64.decode(k).ok())
        .ok_or_else(refused)?;
    // The binding the guard checked is the key's hash: this must be it.
    if hex::encode(minikms_api::claims::sha256(&der)) != bound {
        return Err(Error::internal("release", "token key and binding differ"));
    }
    Ok(der)
}

/// `secret` wrapped to `recipient`, base64.
pub fn wrap(recipient: &[u8], secret: &[u8]) -> Result<String, Error> {
    let blob =
        minikms_api::release::wrap(recipient, secret).map_err(|e| Error::internal("release", e))?;
    Ok(B64.encode(blob))
}

/// Export of key material (Vault's `kind`, every version or `version`)
/// wrapped to `identity`'s attested key: allowed for exportable keys and
/// for release-only ones. Each version's value is the wrap of what a clear
/// export would give: the raw bytes for base64 values (AES, HMAC,
/// Ed25519), the PEM text for RSA and ECDSA keys.
pub fn export(
    state: &State,
    identity: &Identity,
    kind: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Exported, Error> {
    let recipient = recipient_key(identity)?;
    let key = state
        .find(name)
        .ok_or_else(|| Error::not_found("key not found"))?;
    if kind != "public-key" && !key.exportable && !key.release_only_to_attested {
        return Err(Error::invalid("private key material is not exportable"));
    }
    let mut exported = export_material(&key, kind, version)?;
    for value in exported.keys.values_mut() {
        let material = if value.starts_with("-----BEGIN") {
            Zeroizing::new(value.as_bytes().to_vec())
        } else {
            Zeroizing::new(
                B64.decode(value.as_bytes())
                    .map_err(|_| Error::failed("release"))?,
            )
        };
        *value = Zeroizing::new(wrap(&recipient, &material)?);
    }
    Ok(exported)
}

/// `datakey`'s body: Vault's, and an optional `recipient`.
#[derive(Default, Deserialize, Serialize)]
pub struct DatakeyBody {
    pub recipient: Option<String>,
    #[serde(flatten)]
    pub req: DatakeyRequest,
}

/// A data key for an attested workload: under the key (`ciphertext`, as
/// Vault's), and wrapped to the workload's key instead of in clear.
#[derive(Serialize)]
pub struct ReleasedDataKey {
    pub ciphertext: String,
    pub key_version: u64,
    /// base64 of [`minikms_api::release::wrap`] of the raw data key.
    pub wrapped_plaintext: String,
}

/// What an attested data key request asks (`kind` `plaintext` or
/// `wrapped`: either way the data key is answered wrapped, so it is made
/// with its plaintext).
pub fn datakey_plan(kind: &str, req: DatakeyRequest) -> Result<DatakeyPlan, Error> {
    if !matches!(kind, "plaintext" | "wrapped") {
        return Err(Error::invalid("invalid type: must be plaintext or wrapped"));
    }
    crypt::datakey_plan("plaintext", req)
}

/// A fresh data key under `key`, wrapped to `recipient`.
pub fn datakey(key: &Key, plan: &DatakeyPlan, recipient: &[u8]) -> Result<ReleasedDataKey, Error> {
    let made = crypt::datakey(key, plan)?;
    let plain = made
        .plaintext
        .as_ref()
        .ok_or_else(|| Error::failed("release"))?;
    let raw = Zeroizing::new(
        B64.decode(plain.as_bytes())
            .map_err(|_| Error::failed("release"))?,
    );
    Ok(ReleasedDataKey {
        ciphertext: made.ciphertext.clone(),
        key_version: made.key_version,
        wrapped_plaintext: wrap(recipient, &raw)?,
    })
}

/// `decrypt`'s answer for an attested workload: the plaintext wrapped to
/// its key, never in clear.
#[derive(Serialize)]
pub struct ReleasedPlaintext {
    /// base64 of [`minikms_api::release::wrap`] of the raw plaintext.
    pub wrapped_plaintext: String,
}

/// Decrypts one ciphertext under `key` for `recipient`. A batch is
/// refused: one wrapped answer per request keeps the format simple.
pub fn decrypt(key: &Key, item: &Item, recipient: &[u8]) -> Result<ReleasedPlaintext, Error> {
    if item.batch_input.is_some() {
        return Err(Error::invalid(
            "recipient=attested decrypts one ciphertext: send it without batch_input",
        ));
    }
    let opened = crypt::decrypt_one(key, item)?;
    let plain = opened
        .plaintext
        .as_ref()
        .ok_or_else(|| Error::failed("release"))?;
    let raw = Zeroizing::new(
        B64.decode(plain.as_bytes())
            .map_err(|_| Error::failed("release"))?,
    );
    Ok(ReleasedPlaintext {
        wrapped_plaintext: wrap(recipient, &raw)?,
    })
}
