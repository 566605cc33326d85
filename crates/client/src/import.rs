//! Bring your own key: reading a key file and wrapping it for an enclave's
//! wrapping key. `Client::import` sends it, over the attested connection
//! only.
//!
//! The connection is attested first (the handshake refuses a server whose
//! evidence does not meet the policy), so the wrapping key fetched over it
//! belongs to the enclave the user checked; the key never travels to
//! anything else. Wrapping is Vault's: base64(RSA-OAEP-SHA256(ephemeral
//! AES-256 key) ‖ AES-KWP(target key)), the target key raw for symmetric
//! types and PKCS#8 DER for RSA, ECDSA and Ed25519.
//!
//! Key files: PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`), DER
//! (PKCS#8, PKCS#1 or SEC1), or raw bytes (symmetric keys). Every copy of
//! the key on this side is zeroized.

use std::path::Path;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING,
};
use base64::Engine;
use minikms_api::key_name;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::files::read_file;

/// Key files larger than this are not keys.
const MAX_KEY_FILE: u64 = 64 * 1024;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A key ready to wrap: its Vault type and the bytes Vault expects.
pub struct TargetKey {
    /// The Vault key type, e.g. `rsa-2048`, `aes256-gcm96`.
    pub key_type: String,
    /// The key: raw for aes256-gcm96 and hmac, PKCS#8 DER otherwise.
    pub bytes: Zeroizing<Vec<u8>>,
}

/// How to import a key.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Add the key as a new version of an existing imported key
    /// (`import_version`) instead of creating it.
    pub new_version: bool,
    /// Allow the key to be exported later (new keys only).
    pub exportable: bool,
    /// Allow the server to rotate the key (new keys only).
    pub allow_rotation: bool,
}

/// What was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The managed key's name.
    pub name: String,
    /// Its Vault type.
    pub key_type: String,
    /// Whether it was added as a new version of an existing key.
    pub new_version: bool,
}

impl Imported {
    /// As the CLI prints it: `{"name", "type", "imported"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "type": self.key_type,
            "imported": if self.new_version { "new version" } else { "new key" },
        })
    }
}

/// Refuses a key name the server would refuse, before anything is sent.
pub fn check_name(name: &str) -> Result<(), Error> {
    if key_name::is_valid(name) {
        Ok(())
    } else {
        Err(Error::InvalidKeyName(name.to_string()))
    }
}

/// The transit route that imports `name`, and its body (Vault's shape).
pub fn request(
    name: &str,
    target: &TargetKey,
    ciphertext: String,
    options: ImportOptions,
) -> (String, serde_json::Value) {
    let route = if options.new_version {
        "import_version"
    } else {
        "import"
    };
    let mut body = serde_json::json!({
        "ciphertext": ciphertext,
        "hash_function": "SHA256",
    });
    if !options.new_version {
        body["type"] = target.key_type.clone().into();
        body["exportable"] = options.exportable.into();
        body["allow_rotation"] = options.allow_rotation.into();
    }
    (format!("/v1/transit/keys/{name}/{route}"), body)
}

/// Wraps `target` for the enclave's wrapping key (PKIX PEM).
pub fn wrap(public_pem: &str, target: &[u8]) -> Result<String, Error> {
    let bad =
        |what: &str| Error::Protocol(format!("the server's wrapping key is unusable: {what}"));
    let der = pem::parse(public_pem).map_err(|_| bad("not PEM"))?;
    let public = PublicEncryptingKey::from_der(der.contents()).map_err(|_| bad("not RSA"))?;
    let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| bad("not RSA"))?;
    let mut ephemeral = Zeroizing::new([0u8; 32]);
    crate::random::fill(ephemeral.as_mut())?;
    let mut rsa = vec![0u8; oaep.ciphertext_size()];
    let rsa = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, ephemeral.as_ref(), &mut rsa, None)
        .map_err(|_| bad("OAEP encryption failed"))?;
    let mut kwp = vec![0u8; target.len() + 16];
    let kwp = AesKek::new(&AES_256, ephemeral.as_ref())
        .and_then(|kek| kek.wrap_with_padding(target, &mut kwp))
        .map_err(|_| Error::System("key wrapping failed".into()))?;
    let mut blob = rsa.to_vec();
    blob.extend_from_slice(kwp);
    Ok(B64.encode(blob))
}

/// Reads a key file and finds its Vault type (checked against `wanted`).
pub fn read_key(path: &Path, wanted: Option<&str>) -> Result<TargetKey, Error> {
    let raw = Zeroizing::new(read_file(path, MAX_KEY_FILE)?);
    let bad = |message: &str| Error::bad_file(path, message);
    let der = if raw.trim_ascii_start().starts_with(b"-----BEGIN ") {
        let (label, der) = pem_contents(path, &raw)?;
        if label == "ENCRYPTED PRIVATE KEY" {
            return Err(bad(
                "encrypted keys are not supported; decrypt it first (openssl pkey -in KEY -out PLAIN)",
            ));
        }
        if !label.ends_with("PRIVATE KEY") {
            return Err(bad(&format!("a {label}, not a private key")));
        }
        Some(der)
    } else if raw.first() == Some(&0x30) && wanted.is_none_or(is_asymmetric) {
        Some(raw.clone())
    } else {
        None
    };
    let target = match der {
        Some(der) => asymmetric(&der).ok_or_else(|| {
            bad("not an RSA, ECDSA P-256/P-384 or Ed25519 private key (PKCS#8, PKCS#1 or SEC1)")
        })?,
        None => symmetric(path, raw, wanted.unwrap_or("aes256-gcm96"))?,
    };
    match wanted {
        Some(w) if w != target.key_type => Err(Error::WrongKeyType {
            path: path.to_path_buf(),
            found: target.key_type,
            wanted: w.to_string(),
        }),
        _ => Ok(target),
    }
}

fn is_asymmetric(key_type: &str) -> bool {
    !matches!(key_type, "aes256-gcm96" | "hmac")
}

/// A raw symmetric key from the file at `path`.
fn symmetric(path: &Path, raw: Zeroizing<Vec<u8>>, key_type: &str) -> Result<TargetKey, Error> {
    let bad = |message: String| Err(Error::bad_file(path, message));
    match key_type {
        "aes256-gcm96" if raw.len() != 32 => bad(format!(
            "an aes256-gcm96 key is 32 raw bytes, this file has {}",
            raw.len()
        )),
        "hmac" if raw.is_empty() => bad("an empty HMAC key".into()),
        "aes256-gcm96" | "hmac" => Ok(TargetKey {
            key_type: key_type.into(),
            bytes: raw,
        }),
        other => bad(format!("unknown key type {other:?}")),
    }
}

/// PKCS#8 DER and type of an RSA, ECDSA or Ed25519 key in PKCS#8, PKCS#1
/// (RSA) or SEC1 (EC) DER.
fn asymmetric(der: &[u8]) -> Option<TargetKey> {
    let pkcs8 = |d: Pkcs8V1Der<'_>| Zeroizing::new(d.as_ref().to_vec());
    if let Ok(rsa) = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der)) {
        let bits = rsa.public_modulus_len() * 8;
        let key_type = match bits {
            2048 | 3072 | 4096 => format!("rsa-{bits}"),
            _ => return None,
        };
        return Some(TargetKey {
            key_type,
            bytes: pkcs8(rsa.as_der().ok()?),
        });
    }
    for (alg, key_type) in [
        (&ECDSA_P256_SHA256_ASN1_SIGNING, "ecdsa-p256"),
        (&ECDSA_P384_SHA384_ASN1_SIGNING, "ecdsa-p384"),
    ] {
        if let Ok(ec) = EcdsaKeyPair::from_private_key_der(alg, der) {
            return Some(TargetKey {
                key_type: key_type.into(),
                bytes: Zeroizing::new(ec.to_pkcs8v1().ok()?.as_ref().to_vec()),
            });
        }
    }
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?;
    Some(TargetKey {
        key_type: "ed25519".into(),
        bytes: Zeroizing::new(der.to_vec()),
    })
}

/// The label and decoded contents of the first PEM block, decoded straight
/// into a zeroized buffer (the `pem` crate keeps plain copies). `path` is
/// the file it came from, for errors.
fn pem_contents(path: &Path, text: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>), Error> {
    let bad = |message: &str| Error::bad_file(path, message);
    let text = std::str::from_utf8(text).map_err(|_| bad("PEM that is not text"))?;
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let begin = lines.next().unwrap_or_default();
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| bad("malformed PEM header"))?
        .to_string();
    let end = format!("-----END {label}-----");
    let mut body = Zeroizing::new(String::new());
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if line.contains(':') {
            return Err(bad(
                "PEM with headers (an encrypted legacy key?) is not supported",
            ));
        }
        body.push_str(line);
    }
    if !ended {
        return Err(bad(&format!("no {end} line")));
    }
    let mut der = Zeroizing::new(Vec::with_capacity(body.len()));
    B64.decode_vec(body.as_bytes(), &mut der)
        .map_err(|_| bad("PEM body is not base64"))?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks() {
        let file = Path::new("key.pem");
        let (label, der) = pem_contents(
            file,
            b"\n-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert_eq!(label, "PRIVATE KEY");
        assert_eq!(der.as_slice(), &[0, 1, 2]);
        let err = pem_contents(file, b"-----BEGIN PRIVATE KEY-----\nAAEC\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "key.pem: no -----END PRIVATE KEY----- line"
        );
        assert!(pem_contents(file, b"-----BEGIN X-----\nProc-Type: 4\n-----END X-----").is_err());
    }

    #[test]
    fn symmetric_keys_are_checked() {
        let file = Path::new("key.bin");
        let key = |n: usize| Zeroizing::new(vec![7u8; n]);
        assert_eq!(
            symmetric(file, key(32), "aes256-gcm96").unwrap().key_type,
            "aes256-gcm96"
        );
        assert!(symmetric(file, key(16), "aes256-gcm96").is_err());
        assert!(symmetric(file, key(0), "hmac").is_err());
        assert!(symmetric(file, key(32), "rsa-2048").is_err());
    }

    #[test]
    fn key_names_are_the_servers() {
        assert!(check_name("app-1.x_y").is_ok());
        let long = "x".repeat(key_name::MAX + 1);
        for bad in ["", "a/b", "a b", long.as_str()] {
            assert_eq!(
                check_name(bad).unwrap_err().to_string(),
                format!("invalid key name {bad:?}: 1 to 128 characters of A-Z a-z 0-9 _ . -, starting and ending with a letter, digit or _")
            );
        }
    }

    #[test]
    fn import_requests_are_vaults() {
        let target = TargetKey {
            key_type: "aes256-gcm96".into(),
            bytes: Zeroizing::new(vec![0; 32]),
        };
        let (path, body) = request("k", &target, "CT".into(), ImportOptions::default());
        assert_eq!(path, "/v1/transit/keys/k/import");
        assert_eq!(body["type"], "aes256-gcm96");
        assert_eq!(body["exportable"], false);
        let new_version = ImportOptions {
            new_version: true,
            ..ImportOptions::default()
        };
        let (path, body) = request("k", &target, "CT".into(), new_version);
        assert_eq!(path, "/v1/transit/keys/k/import_version");
        assert!(body.get("type").is_none());
    }
}
