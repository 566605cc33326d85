//! Vault's derived and convergent keys (`derived`, `convergent_encryption`).
//!
//! As OpenBao's `keysutil` does it for keys created today (KDF
//! `hkdf_sha256`, convergent version 3):
//! - the key of a request is HKDF-SHA256 of the version's key, with no salt
//!   and the request's `context` as info: as many bytes as the AEAD's key
//!   (16 or 32), and for convergent encryption 32 more, an HMAC key;
//! - a convergent encryption's nonce is the first 12 bytes of
//!   HMAC-SHA256(that HMAC key, plaintext), so equal plaintexts under an
//!   equal context give equal ciphertexts; the ciphertext is laid out as
//!   every other (`nonce | sealed | tag`) and decrypts the same way.
//!
//! Derived keys are derived per request and wiped when dropped; they are
//! never stored.

use aws_lc_rs::aead::{LessSafeKey, UnboundKey, NONCE_LEN};
use aws_lc_rs::{hkdf, hmac};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::state::key::{Key, Version};

/// Vault's answer to a derived key used without a context.
pub const MISSING_CONTEXT: &str = "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";

/// Bytes of the HMAC key a convergent encryption derives after the AEAD key.
const NONCE_KEY_LEN: usize = 32;

/// An output length for aws-lc-rs's HKDF.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256(ikm = `secret`, salt = none, info = `context`), `len` bytes.
fn hkdf_sha256(secret: &[u8], context: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let failed = || Error::failed("key derivation");
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(secret);
    let info = [context];
    let okm = prk.expand(&info, Len(len)).map_err(|_| failed())?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    okm.fill(out.as_mut_slice()).map_err(|_| failed())?;
    Ok(out)
}

/// The keys one request of a derived key uses: its AEAD key, and for a
/// convergent key the HMAC key its nonces come from.
pub struct Derived {
    pub aead: LessSafeKey,
    nonce_key: Option<Zeroizing<Vec<u8>>>,
}

impl Derived {
    /// The nonce of a convergent encryption of `plaintext`; `None` for a
    /// key that is not convergent (a random nonce is used).
    pub fn convergent_nonce(&self, plaintext: &[u8]) -> Option<[u8; NONCE_LEN]> {
        let nonce_key = self.nonce_key.as_ref()?;
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, nonce_key.as_slice()),
            plaintext,
        );
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(tag.as_ref().get(..NONCE_LEN)?);
        Some(nonce)
    }
}

/// The keys of version `ver` of the derived key `key` for `context`;
/// `for_encryption` also derives a convergent key's nonce key. A 400 with
/// Vault's words if `context` is empty.
pub fn derive(
    key: &Key,
    ver: &Version,
    context: &[u8],
    for_encryption: bool,
) -> Result<Derived, Error> {
    if context.is_empty() {
        return Err(Error::invalid(MISSING_CONTEXT));
    }
    let alg = key
        .key_type
        .aead()
        .ok_or_else(|| Error::invalid("derivation is only supported for encryption keys"))?;
    let key_len = alg.key_len();
    let convergent = for_encryption && key.convergent_encryption;
    let extra = if convergent { NONCE_KEY_LEN } else { 0 };
    let bytes = hkdf_sha256(&ver.secret, context, key_len + extra)?;
    let (enc, rest) = bytes.split_at(key_len);
    let aead = UnboundKey::new(alg, enc)
        .map(LessSafeKey::new)
        .map_err(|_| Error::failed("AEAD key"))?;
    Ok(Derived {
        aead,
        nonce_key: convergent.then(|| Zeroizing::new(rest.to_vec())),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 5869 test case 3 (no salt, no info) and its first bytes: the
    /// HKDF here is the standard one, as Go's `hkdf.New` with a nil salt.
    #[test]
    fn hkdf_matches_rfc5869_case_3() {
        let ikm = [0x0bu8; 22];
        let okm = hkdf_sha256(&ikm, &[], 42).unwrap();
        assert_eq!(
            hex(&okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }

    /// A known answer worked out apart (Python's `hmac`, from OpenBao's
    /// `keysutil`): key bytes 0..32, context `my-context`, plaintext
    /// `attack at dawn`; the AEAD key then the nonce key, and the nonce.
    #[test]
    fn convergent_derivation_matches_vaults_scheme() {
        use crate::state::key::KeyType;
        let secret: Vec<u8> = (0..32).collect();
        let okm = hkdf_sha256(&secret, b"my-context", 64).unwrap();
        assert_eq!(
            hex(&okm),
            "4a10e0dd7750402d5d67a8babd31aaaceee6a194780140dcb6bf3bcc29da533d\
             ec02d160886b7bc2000b3e8b5a37b1634c2a53cbbf624b8874111dc86fd5e964"
        );
        let ver = Version::new(0, Zeroizing::new(secret), Zeroizing::new(vec![0; 32]));
        let mut key = Key::new("k".into(), KeyType::Aes256Gcm96, ver.clone());
        key.derived = true;
        key.convergent_encryption = true;
        let d = derive(&key, &ver, b"my-context", true).unwrap();
        let nonce = d.convergent_nonce(b"attack at dawn").unwrap();
        assert_eq!(hex(&nonce), "5726a190425037209d975e60");
        // Decryption derives no nonce key; no context is Vault's 400.
        assert!(derive(&key, &ver, b"my-context", false)
            .unwrap()
            .convergent_nonce(b"x")
            .is_none());
        let err = derive(&key, &ver, b"", true).err().unwrap();
        assert!(format!("{err:?}").contains("missing 'context'"), "{err:?}");
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
