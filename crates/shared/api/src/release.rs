//! Secure key release, as both sides compute it.
//!
//! - Login evidence: a workload proves its identity and its fresh RSA key
//!   with evidence whose report data is [`report_data`]`(nonce, key)`:
//!   SHA-256(nonce ‖ SubjectPublicKeyInfo DER), then 32 zero bytes.
//! - Release: a secret for the workload is [`wrap`]ped to that key as in
//!   Vault's BYOK import: RSA-OAEP-SHA256 (MGF1-SHA256, no label) of a fresh
//!   AES-256 key, followed by AES-KWP (RFC 5649) of the secret under it.
//!   The workload [`unwrap`]s it with its private key.

use aws_lc_rs::digest;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    OAEP_SHA256_MGF1SHA256,
};
use zeroize::Zeroizing;

/// The smallest RSA key a secret is wrapped to.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest secret wrapped (an RSA-4096 key in PKCS#8 is ~2.4 KiB).
pub const MAX_SECRET: usize = 64 * 1024;

/// The 64 bytes of report data login evidence carries for `nonce` and
/// the workload's public key (SubjectPublicKeyInfo DER).
pub fn report_data(nonce: &[u8], public_key_der: &[u8]) -> [u8; 64] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(nonce);
    ctx.update(public_key_der);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(ctx.finish().as_ref());
    out
}

/// Why a wrap or unwrap failed. No variant carries secret data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapError {
    /// The public key is not an RSA SubjectPublicKeyInfo of at least
    /// [`MIN_RSA_BITS`] bits.
    BadPublicKey,
    /// The private key is not an RSA PKCS#8 key.
    BadPrivateKey,
    /// The secret is empty or larger than [`MAX_SECRET`].
    BadSecret,
    /// The blob was not wrapped to this key, or was changed.
    NotForThisKey,
    /// The crypto library failed.
    Failed,
}

impl std::fmt::Display for WrapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::BadPublicKey => {
                "not an RSA public key (SubjectPublicKeyInfo DER) of at least 2048 bits"
            }
            Self::BadPrivateKey => "not an RSA private key (PKCS#8 DER)",
            Self::BadSecret => "the secret is empty or too large",
            Self::NotForThisKey => {
                "not wrapped to this key, or changed (RSA-OAEP or AES-KWP check failed)"
            }
            Self::Failed => "the crypto library failed",
        })
    }
}

impl std::error::Error for WrapError {}

/// Checks a workload's public key: RSA, at least [`MIN_RSA_BITS`].
pub fn check_public_key(public_key_der: &[u8]) -> Result<PublicEncryptingKey, WrapError> {
    let key = PublicEncryptingKey::from_der(public_key_der).map_err(|_| WrapError::BadPublicKey)?;
    if key.key_size_bits() < MIN_RSA_BITS {
        return Err(WrapError::BadPublicKey);
    }
    Ok(key)
}

/// `secret` wrapped to `public_key_der`: RSA-OAEP-SHA256(ephemeral AES-256
/// key) ‖ AES-KWP(secret).
pub fn wrap(public_key_der: &[u8], secret: &[u8]) -> Result<Vec<u8>, WrapError> {
    if secret.is_empty() || secret.len() > MAX_SECRET {
        return Err(WrapError::BadSecret);
    }
    let oaep = OaepPublicEncryptingKey::new(check_public_key(public_key_der)?)
        .map_err(|_| WrapError::BadPublicKey)?;
    let mut ephemeral = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(ephemeral.as_mut()).map_err(|_| WrapError::Failed)?;
    let mut blob = vec![0u8; oaep.ciphertext_size()];
    let n = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, ephemeral.as_ref(), &mut blob, None)
        .map_err(|_| WrapError::Failed)?
        .len();
    blob.truncate(n);
    let mut kwp = vec![0u8; secret.len() + 16];
    let wrapped = AesKek::new(&AES_256, ephemeral.as_ref())
        .and_then(|kek| kek.wrap_with_padding(secret, &mut kwp))
        .map_err(|_| WrapError::Failed)?;
    blob.extend_from_slice(wrapped);
    Ok(blob)
}

/// Undoes [`wrap`] with the private key (PKCS#8 DER).
pub fn unwrap(private_key_pkcs8: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
    let private = PrivateDecryptingKey::from_pkcs8(private_key_pkcs8)
        .map_err(|_| WrapError::BadPrivateKey)?;
    let n = private.key_size_bytes();
    if blob.len() <= n || blob.len() > n + MAX_SECRET + 16 {
        return Err(WrapError::NotForThisKey);
    }
    let (rsa_part, kwp_part) = blob.split_at(n);
    let oaep = OaepPrivateDecryptingKey::new(private).map_err(|_| WrapError::BadPrivateKey)?;
    let mut ephemeral = Zeroizing::new(vec![0u8; oaep.min_output_size()]);
    let len = oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, rsa_part, &mut ephemeral, None)
        .map_err(|_| WrapError::NotForThisKey)?
        .len();
    if len != 32 {
        return Err(WrapError::NotForThisKey);
    }
    let kek = AesKek::new(&AES_256, &ephemeral[..32]).map_err(|_| WrapError::Failed)?;
    let mut out = Zeroizing::new(vec![0u8; kwp_part.len()]);
    let len = kek
        .unwrap_with_padding(kwp_part, &mut out)
        .map_err(|_| WrapError::NotForThisKey)?
        .len();
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
    use aws_lc_rs::rsa::KeySize;

    #[test]
    fn a_wrapped_secret_opens_only_with_its_key() {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der = key.as_der().unwrap();
        let spki: PublicKeyX509Der = key.public_key().as_der().unwrap();
        let blob = wrap(spki.as_ref(), b"thirty-two bytes of key material").unwrap();
        assert_eq!(blob.len(), 256 + 32 + 8);
        let back = unwrap(pkcs8.as_ref(), &blob).unwrap();
        assert_eq!(back.as_slice(), b"thirty-two bytes of key material");
        let other = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let other: Pkcs8V1Der = other.as_der().unwrap();
        assert_eq!(
            unwrap(other.as_ref(), &blob).unwrap_err(),
            WrapError::NotForThisKey
        );
        let mut changed = blob.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert!(unwrap(pkcs8.as_ref(), &changed).is_err());
        assert_eq!(wrap(b"junk", b"x").unwrap_err(), WrapError::BadPublicKey);
    }

    #[test]
    fn report_data_is_the_hash_of_nonce_and_key_then_zeros() {
        let rd = report_data(b"n", b"k");
        assert_eq!(&rd[..32], crate::claims::sha256(b"nk").as_slice());
        assert_eq!(rd[32..], [0u8; 32]);
    }
}
