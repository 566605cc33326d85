//! Bring your own key, as Vault's transit import: the wrapping key,
//! `import` and `import_version`.
//!
//! The ciphertext is base64(RSA-OAEP-SHA256(ephemeral AES-256 key) ‖
//! AES-KWP(target key)), wrapped to the enclave's RSA-4096 wrapping key,
//! which is made here on first use and kept sealed (`meta/wrapping_key`).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::describe::{self, KeyInfo};
use super::input::{check_name, lenient_bool};
use super::keys::{self, now, random};
use crate::error::Error;
use crate::state::key::{Key, KeyType, Version};
use crate::state::State;

/// The meta record of the wrapping key.
const WRAPPING_ID: &str = "wrapping_key";

/// Largest accepted wrapped blob (base64-decoded).
const MAX_WRAPPED: usize = 64 * 1024;

/// The import wrapping key (PKCS#8), generated and sealed on first use.
fn wrapping_key(state: &State) -> Result<Zeroizing<Vec<u8>>, Error> {
    state.sealed_meta(WRAPPING_ID, || {
        let private = PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa4096)
            .map_err(|_| Error::failed("wrapping key generation"))?;
        let der: Pkcs8V1Der = private
            .as_der()
            .map_err(|_| Error::failed("wrapping key generation"))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    })
}

/// The wrapping key's public half, PEM (SubjectPublicKeyInfo).
pub fn wrapping_public_key(state: &State) -> Result<String, Error> {
    let der = wrapping_key(state)?;
    let private =
        PrivateDecryptingKey::from_pkcs8(&der).map_err(|_| Error::failed("wrapping key"))?;
    let spki: PublicKeyX509Der = private
        .public_key()
        .as_der()
        .map_err(|_| Error::failed("wrapping key"))?;
    Ok(keys::pem("PUBLIC KEY", spki.as_ref()))
}

#[derive(Default, Deserialize, Serialize)]
pub struct ImportRequest {
    /// The wrapped key: wiped with the request, though only the wrapping
    /// key's holder can open it.
    ciphertext: Option<Zeroizing<String>>,
    #[serde(rename = "type")]
    key_type: Option<String>,
    hash_function: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    exportable: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    allow_plaintext_backup: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    allow_rotation: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    derived: Option<bool>,
}

/// Undoes the wrapping: OAEP-decrypts the ephemeral key, then AES-KWP
/// unwraps the target key.
pub(crate) fn unwrap(
    wrapping_der: &[u8],
    ciphertext: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let text = ciphertext
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::invalid("missing ciphertext"))?;
    if text.len() > MAX_WRAPPED * 4 / 3 + 4 {
        return Err(Error::invalid("ciphertext too long"));
    }
    let blob = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| Error::invalid("ciphertext is not valid base64"))?,
    );
    let private = PrivateDecryptingKey::from_pkcs8(wrapping_der)
        .map_err(|_| Error::failed("wrapping key"))?;
    let n = private.key_size_bytes();
    if blob.len() <= n {
        return Err(Error::invalid(
            "ciphertext too short: expected an RSA-OAEP block followed by an AES-KWP wrapped key",
        ));
    }
    let (rsa_part, kwp_part) = blob.split_at(n);
    let oaep = OaepPrivateDecryptingKey::new(private).map_err(|_| Error::failed("wrapping key"))?;
    let mut eph = Zeroizing::new(vec![0u8; oaep.min_output_size()]);
    let eph_len = oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, rsa_part, eph.as_mut_slice(), None)
        .map_err(|_| {
            Error::invalid("failed to unwrap the ephemeral key (not wrapped to this wrapping key with RSA-OAEP-SHA256?)")
        })?
        .len();
    if eph_len != 32 {
        return Err(Error::invalid(
            "the ephemeral key must be a 256-bit AES key",
        ));
    }
    let kek = AesKek::new(&AES_256, &eph[..32]).map_err(|_| Error::failed("key wrap"))?;
    let mut out = Zeroizing::new(vec![0u8; kwp_part.len()]);
    let len = kek
        .unwrap_with_padding(kwp_part, out.as_mut_slice())
        .map_err(|_| {
            Error::invalid("failed to unwrap the target key (AES-KWP integrity check failed)")
        })?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Checks `material` fits `key_type` and returns it in the form the store
/// keeps (raw bytes, or PKCS#8 as the key generator writes it). Restore
/// checks a backup's versions with it too.
pub fn normalise(key_type: KeyType, material: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let want = |what: &str| {
        Error::invalid(format!(
            "key material does not match type {}: {what}",
            key_type.name()
        ))
    };
    let v = match key_type {
        KeyType::Aes256Gcm96 | KeyType::Aes128Gcm96 | KeyType::Chacha20Poly1305 => {
            let len = key_type.aead_key_len().unwrap_or(32);
            if material.len() != len {
                return Err(want(&format!("expected {len} raw bytes")));
            }
            material.to_vec()
        }
        KeyType::Hmac => {
            if !(32..=512).contains(&material.len()) {
                return Err(want("expected 32 to 512 raw bytes"));
            }
            material.to_vec()
        }
        KeyType::Ed25519 => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(material)
                .map_err(|_| want("expected an Ed25519 PKCS#8 private key"))?;
            pair.to_pkcs8()
                .map_err(|_| Error::failed("key encoding"))?
                .as_ref()
                .to_vec()
        }
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => {
            let pair = EcdsaKeyPair::from_pkcs8(keys::ecdsa_alg(key_type), material)
                .map_err(|_| want("expected an EC PKCS#8 private key on that curve"))?;
            pair.to_pkcs8v1()
                .map_err(|_| Error::failed("key encoding"))?
                .as_ref()
                .to_vec()
        }
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            let bits = match key_type {
                KeyType::Rsa2048 => 2048,
                KeyType::Rsa3072 => 3072,
                _ => 4096,
            };
            let pair = RsaKeyPair::from_pkcs8(material)
                .map_err(|_| want("expected an RSA PKCS#8 private key"))?;
            if pair.public_modulus_len() * 8 != bits {
                return Err(want(&format!(
                    "RSA key has {} bits",
                    pair.public_modulus_len() * 8
                )));
            }
            let der: Pkcs8V1Der = pair.as_der().map_err(|_| Error::failed("key encoding"))?;
            // The stored form must load for decryption too.
            PrivateDecryptingKey::from_pkcs8(der.as_ref()).map_err(|_| want("unusable RSA key"))?;
            der.as_ref().to_vec()
        }
    };
    Ok(Zeroizing::new(v))
}

fn version(key_type: KeyType, material: &[u8]) -> Result<Version, Error> {
    Ok(Version::new(
        now(),
        normalise(key_type, material)?,
        random(32)?,
    ))
}

/// A new key `name` from wrapped material.
pub fn import(state: &State, name: &str, req: ImportRequest) -> Result<KeyInfo, Error> {
    check_name(name)?;
    let key_type = match req.key_type.as_deref() {
        None | Some("") => KeyType::Aes256Gcm96,
        Some(t) => {
            KeyType::parse(t).ok_or_else(|| Error::invalid(format!("unknown key type {t}")))?
        }
    };
    match req.hash_function.as_deref() {
        None | Some("") | Some("SHA256") => {}
        Some(h) => {
            return Err(Error::invalid(format!(
                "unsupported hash_function {h}: only SHA256"
            )))
        }
    }
    if req.derived == Some(true) {
        return Err(Error::invalid("key derivation is not supported"));
    }
    if state.find(name).is_some() {
        return Err(Error::invalid(format!("the import path cannot be used with an existing key; use import_version to add a version to {name}")));
    }
    let wrapping = wrapping_key(state)?;
    let material = unwrap(&wrapping, req.ciphertext.as_ref().map(|c| c.as_str()))?;
    let version = version(key_type, &material)?;
    let mut key = Key::new(name.to_string(), key_type, version);
    key.exportable = req.exportable.unwrap_or(false);
    key.allow_plaintext_backup = req.allow_plaintext_backup.unwrap_or(false);
    key.imported = true;
    key.allow_rotation = req.allow_rotation.unwrap_or(false);
    if !state.create(key)? {
        return Err(Error::invalid("key already exists"));
    }
    describe::info(&*state.get(name)?)
}

/// A new latest version of imported key `name` from wrapped material.
pub fn import_version(state: &State, name: &str, req: ImportRequest) -> Result<KeyInfo, Error> {
    let current = state.get(name)?;
    if !current.imported {
        return Err(Error::invalid("import_version is only for imported keys"));
    }
    let wrapping = wrapping_key(state)?;
    let material = unwrap(&wrapping, req.ciphertext.as_ref().map(|c| c.as_str()))?;
    let version = version(current.key_type, &material)?;
    describe::info(&*state.update(name, |k| k.add_version(version.clone()))?)
}
