//! Recovery shares on the operator's side: `minikms init` (or `minikms
//! recovery-shares`, for a store initialised without them) asks an
//! attested enclave for shares, each encrypted to one person's RSA key, and writes
//! them one file each; `minikms unseal` decrypts one share with its
//! owner's private key and sends it, only ever over a connection whose
//! enclave passed attestation (the connection is attested before any
//! command runs).
//!
//! A share file is the raw RSA-OAEP-SHA256 ciphertext of the 41-byte
//! share, so standard tools open it: `openssl pkeyutl -decrypt -inkey
//! KEY.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -in
//! share-1.enc`.

use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256};
use base64::Engine;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::client::Client;
use crate::error::Error;
use crate::files::{read_file, write_atomically};

/// Key files are small.
const KEY_FILE_LIMIT: u64 = 64 * 1024;

/// A recipient's public key as `sys/init` takes it (PEM SubjectPublicKeyInfo).
/// A private key file is accepted too: its public half is taken here, and
/// the private key never leaves this process.
pub fn recipient_public_key(path: &Path) -> Result<String, Error> {
    let bytes = read_file(path, KEY_FILE_LIMIT)?;
    let text = String::from_utf8_lossy(&bytes);
    let block = pem::parse(text.trim()).map_err(|_| {
        Error::Input(format!(
            "{}: not a PEM key: give an RSA public key (`openssl rsa -in KEY.pem -pubout`)",
            path.display()
        ))
    })?;
    match block.tag() {
        "PUBLIC KEY" => Ok(pem::encode(&block)),
        "PRIVATE KEY" => {
            let key = private_key(path, block.contents())?;
            let spki = key
                .public_key()
                .as_der()
                .map_err(|_| Error::Input(format!("{}: not an RSA key", path.display())))?;
            Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref())))
        }
        other => Err(Error::Input(format!(
            "{}: a PEM \"{other}\"; give an RSA public key (\"PUBLIC KEY\") or a PKCS#8 private key (\"PRIVATE KEY\", what `openssl genrsa` writes)",
            path.display()
        ))),
    }
}

fn private_key(path: &Path, der: &[u8]) -> Result<PrivateDecryptingKey, Error> {
    PrivateDecryptingKey::from_pkcs8(der).map_err(|_| {
        Error::Input(format!(
            "{}: not a PKCS#8 RSA private key (convert with `openssl pkcs8 -topk8 -nocrypt`)",
            path.display()
        ))
    })
}

/// Which call makes the shares.
#[derive(Debug, Clone, Copy)]
pub enum Making {
    /// `sys/init`: initialises the server, and answers its root token.
    Init,
    /// `sys/recovery-shares`: shares for an initialised server that has
    /// none (root only, at least 2 to rebuild).
    ForInitialised,
}

/// `minikms init` and `minikms recovery-shares`: `shares` shares of which
/// `threshold` unseal, share i encrypted to `recipients[i]` and written
/// to `out/share-i.enc`. Answers the files written (and, for init, the
/// root token).
pub async fn make_shares(
    client: &mut Client,
    making: Making,
    shares: u8,
    threshold: u8,
    recipients: &[PathBuf],
    out: &Path,
) -> Result<Value, Error> {
    if recipients.len() != usize::from(shares) {
        return Err(Error::Input(format!(
            "{} --recipient for {shares} shares: give one recipient's key per share",
            recipients.len()
        )));
    }
    let keys = recipients
        .iter()
        .map(|p| recipient_public_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let body = json!({
        "secret_shares": shares,
        "secret_threshold": threshold,
        "pgp_keys": keys,
    });
    let path = match making {
        Making::Init => "sys/init",
        Making::ForInitialised => "sys/recovery-shares",
    };
    let answer = client.api("PUT", path, Some(&body)).await?;
    // sys/init answers at the top level (Vault's shape), the other in `data`.
    let made = answer.get("data").unwrap_or(&answer);
    let encrypted = made["keys_base64"].as_array().cloned().unwrap_or_default();
    if encrypted.len() != usize::from(shares) || made["keys_encrypted"] != true {
        return Err(Error::Protocol(format!(
            "the server answered {path} with {} encrypted shares, {shares} were asked for",
            encrypted.len()
        )));
    }
    let mut files = Vec::new();
    for (i, share) in encrypted.iter().enumerate() {
        let bytes = share
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .ok_or_else(|| Error::Protocol("a share in the init answer is not base64".into()))?;
        let path = out.join(format!("share-{}.enc", i + 1));
        write_atomically(&path, &bytes)?;
        files.push(path.display().to_string());
    }
    let mut result = json!({
        "secret_shares": shares,
        "secret_threshold": threshold,
        "share_files": files,
    });
    if let Making::Init = making {
        result["root_token"] = answer["root_token"].clone();
    }
    Ok(result)
}

/// `minikms unseal`: decrypts the share in `share` with the private key in
/// `identity` and gives it to the (attested) server; answers its seal
/// status.
pub async fn unseal(client: &mut Client, share: &Path, identity: &Path) -> Result<Value, Error> {
    let key_bytes = Zeroizing::new(read_file(identity, KEY_FILE_LIMIT)?);
    let text = Zeroizing::new(String::from_utf8_lossy(&key_bytes).into_owned());
    let block = pem::parse(text.trim()).map_err(|_| {
        Error::Input(format!(
            "{}: not a PEM private key (`openssl genrsa` writes one)",
            identity.display()
        ))
    })?;
    let contents = Zeroizing::new(block.contents().to_vec());
    let key = OaepPrivateDecryptingKey::new(private_key(identity, &contents)?)
        .map_err(|_| Error::Input(format!("{}: not an RSA key", identity.display())))?;
    let sealed = read_file(share, KEY_FILE_LIMIT)?;
    let mut plain = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let len = key
        .decrypt(&OAEP_SHA256_MGF1SHA256, &sealed, &mut plain, None)
        .map_err(|_| {
            Error::Input(format!(
                "{} does not decrypt with {}: a share encrypted to another recipient?",
                share.display(),
                identity.display()
            ))
        })?
        .len();
    let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&plain[..len]));
    let body = json!({ "key": encoded.as_str() });
    client.api("PUT", "sys/unseal", Some(&body)).await
}
