//! `minikms import NAME --file KEY`: bring your own key, wrapped on this
//! side for the attested enclave only.
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
use zeroize::Zeroizing;

use crate::cli::ImportArgs;
use crate::connection::Connection;

/// Key files larger than this are not keys.
const MAX_KEY_FILE: u64 = 64 * 1024;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A key ready to wrap: its Vault type and the bytes Vault expects.
pub struct TargetKey {
    pub key_type: String,
    pub bytes: Zeroizing<Vec<u8>>,
}

/// Imports the key `args` names over the attested `conn`.
pub async fn run(
    conn: &mut Connection,
    args: &ImportArgs,
    token: Option<&str>,
) -> Result<serde_json::Value, String> {
    let target = read_key(&args.file, args.key_type.as_deref())?;
    check_name(&args.name)?;
    let response = conn
        .request("GET", "/v1/transit/wrapping_key", token, None)
        .await?;
    let wrapping = crate::commands::answer(response)?;
    let public_pem = wrapping["data"]["public_key"]
        .as_str()
        .ok_or("the server sent no wrapping key")?;
    let ciphertext = wrap(public_pem, &target.bytes)?;
    let route = if args.new_version {
        "import_version"
    } else {
        "import"
    };
    let mut body = serde_json::json!({
        "ciphertext": ciphertext,
        "hash_function": "SHA256",
    });
    if !args.new_version {
        body["type"] = target.key_type.clone().into();
        body["exportable"] = args.exportable.into();
        body["allow_rotation"] = args.allow_rotation.into();
    }
    let path = format!("/v1/transit/keys/{}/{route}", args.name);
    crate::commands::answer(conn.request("POST", &path, token, Some(&body)).await?)?;
    Ok(serde_json::json!({
        "name": args.name,
        "type": target.key_type,
        "imported": if args.new_version { "new version" } else { "new key" },
    }))
}

/// Wraps `target` for the enclave's wrapping key (PKIX PEM).
pub fn wrap(public_pem: &str, target: &[u8]) -> Result<String, String> {
    let bad = |what: &str| format!("the server's wrapping key is unusable: {what}");
    let der = pem::parse(public_pem).map_err(|_| bad("not PEM"))?;
    let public = PublicEncryptingKey::from_der(der.contents()).map_err(|_| bad("not RSA"))?;
    let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| bad("not RSA"))?;
    let mut ephemeral = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(ephemeral.as_mut()).map_err(|_| "no randomness")?;
    let mut rsa = vec![0u8; oaep.ciphertext_size()];
    let rsa = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, ephemeral.as_ref(), &mut rsa, None)
        .map_err(|_| bad("OAEP encryption failed"))?;
    let mut kwp = vec![0u8; target.len() + 16];
    let kwp = AesKek::new(&AES_256, ephemeral.as_ref())
        .and_then(|kek| kek.wrap_with_padding(target, &mut kwp))
        .map_err(|_| "key wrapping failed".to_string())?;
    let mut blob = rsa.to_vec();
    blob.extend_from_slice(kwp);
    Ok(B64.encode(blob))
}

/// Reads a key file and finds its Vault type (checked against `wanted`).
pub fn read_key(path: &Path, wanted: Option<&str>) -> Result<TargetKey, String> {
    let raw = Zeroizing::new(crate::files::read_file(path, MAX_KEY_FILE)?);
    let shown = path.display();
    let der = if raw.trim_ascii_start().starts_with(b"-----BEGIN ") {
        let (label, der) = pem_contents(&raw).map_err(|e| format!("{shown}: {e}"))?;
        if label == "ENCRYPTED PRIVATE KEY" {
            return Err(format!(
                "{shown}: encrypted keys are not supported; decrypt it first (openssl pkey -in KEY -out PLAIN)"
            ));
        }
        if !label.ends_with("PRIVATE KEY") {
            return Err(format!("{shown}: a {label}, not a private key"));
        }
        Some(der)
    } else if raw.first() == Some(&0x30) && wanted.is_none_or(is_asymmetric) {
        Some(raw.clone())
    } else {
        None
    };
    let target = match der {
        Some(der) => asymmetric(&der).ok_or_else(|| {
            format!("{shown}: not an RSA, ECDSA P-256/P-384 or Ed25519 private key (PKCS#8, PKCS#1 or SEC1)")
        })?,
        None => symmetric(raw, wanted.unwrap_or("aes256-gcm96")).map_err(|e| format!("{shown}: {e}"))?,
    };
    match wanted {
        Some(w) if w != target.key_type => Err(format!(
            "{shown} holds a key of type {}, not {w}",
            target.key_type
        )),
        _ => Ok(target),
    }
}

/// Key names as the server accepts them.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid key name {name:?}: 1 to 128 characters of A-Z a-z 0-9 _ . -"
        ))
    }
}

fn is_asymmetric(key_type: &str) -> bool {
    !matches!(key_type, "aes256-gcm96" | "hmac")
}

fn symmetric(raw: Zeroizing<Vec<u8>>, key_type: &str) -> Result<TargetKey, String> {
    match key_type {
        "aes256-gcm96" if raw.len() != 32 => Err(format!(
            "an aes256-gcm96 key is 32 raw bytes, this file has {}",
            raw.len()
        )),
        "hmac" if raw.is_empty() => Err("an empty HMAC key".into()),
        "aes256-gcm96" | "hmac" => Ok(TargetKey {
            key_type: key_type.into(),
            bytes: raw,
        }),
        other => Err(format!("unknown key type {other:?}")),
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
/// into a zeroized buffer (the `pem` crate keeps plain copies).
fn pem_contents(text: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>), String> {
    let text = std::str::from_utf8(text).map_err(|_| "PEM that is not text")?;
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let begin = lines.next().unwrap_or_default();
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or("malformed PEM header")?
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
            return Err("PEM with headers (an encrypted legacy key?) is not supported".into());
        }
        body.push_str(line);
    }
    if !ended {
        return Err(format!("no {end} line"));
    }
    let mut der = Zeroizing::new(Vec::with_capacity(body.len()));
    B64.decode_vec(body.as_bytes(), &mut der)
        .map_err(|_| "PEM body is not base64")?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks() {
        let (label, der) =
            pem_contents(b"\n-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n")
                .unwrap();
        assert_eq!(label, "PRIVATE KEY");
        assert_eq!(der.as_slice(), &[0, 1, 2]);
        assert!(pem_contents(b"-----BEGIN PRIVATE KEY-----\nAAEC\n").is_err());
        assert!(pem_contents(b"-----BEGIN X-----\nProc-Type: 4\n-----END X-----").is_err());
    }

    #[test]
    fn symmetric_keys_are_checked() {
        let key = |n: usize| Zeroizing::new(vec![7u8; n]);
        assert_eq!(
            symmetric(key(32), "aes256-gcm96").unwrap().key_type,
            "aes256-gcm96"
        );
        assert!(symmetric(key(16), "aes256-gcm96").is_err());
        assert!(symmetric(key(0), "hmac").is_err());
        assert!(symmetric(key(32), "rsa-2048").is_err());
    }
}
