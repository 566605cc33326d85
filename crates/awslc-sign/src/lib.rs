//! RSA signatures as Vault's transit makes them, through aws-lc's C API:
//! PKCS#1 v1.5 and PSS with SHA-1, SHA-2 224/256/384/512 and SHA-3
//! 224/256/384/512, and PKCS#1 v1.5 without a DigestInfo (Vault's hash
//! `none`). aws-lc-rs offers RSA with SHA-2 256, 384 and 512 only; the
//! rest is in the same aws-lc (`aws-lc-sys`, the version aws-lc-rs links)
//! behind `EVP_PKEY_sign` and `EVP_PKEY_verify`.
//!
//! This is the only crate of the workspace that allows `unsafe`, and its
//! only job is these calls: every block says why it is sound. It signs
//! and verifies digests; the caller hashes (or passes the caller's
//! prehashed bytes).

// The workspace denies unsafe code; this crate is the one exception
// (issue 37's decision), kept to the calls below.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::fmt;
use std::ptr::{self, NonNull};

use aws_lc_sys as sys;

/// A hash aws-lc signs with: its DigestInfo for PKCS#1 v1.5, its MGF1
/// and its length for PSS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha2_224,
    Sha2_256,
    Sha2_384,
    Sha2_512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

impl Hash {
    /// Every hash, for tests and callers that list them.
    pub const ALL: [Hash; 9] = [
        Hash::Sha1,
        Hash::Sha2_224,
        Hash::Sha2_256,
        Hash::Sha2_384,
        Hash::Sha2_512,
        Hash::Sha3_224,
        Hash::Sha3_256,
        Hash::Sha3_384,
        Hash::Sha3_512,
    ];

    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha2_224 | Hash::Sha3_224 => 28,
            Hash::Sha2_256 | Hash::Sha3_256 => 32,
            Hash::Sha2_384 | Hash::Sha3_384 => 48,
            Hash::Sha2_512 | Hash::Sha3_512 => 64,
        }
    }

    fn md(self) -> *const sys::EVP_MD {
        // SAFETY: each function takes nothing and returns a pointer to a
        // static, immutable EVP_MD that lives as long as the program.
        unsafe {
            match self {
                Hash::Sha1 => sys::EVP_sha1(),
                Hash::Sha2_224 => sys::EVP_sha224(),
                Hash::Sha2_256 => sys::EVP_sha256(),
                Hash::Sha2_384 => sys::EVP_sha384(),
                Hash::Sha2_512 => sys::EVP_sha512(),
                Hash::Sha3_224 => sys::EVP_sha3_224(),
                Hash::Sha3_256 => sys::EVP_sha3_256(),
                Hash::Sha3_384 => sys::EVP_sha3_384(),
                Hash::Sha3_512 => sys::EVP_sha3_512(),
            }
        }
    }
}

/// The PSS salt's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Salt {
    /// The digest's length.
    Digest,
    /// Signing: the longest the key allows; verifying: whatever length
    /// the signature has.
    Auto,
    /// This many bytes.
    Bytes(u16),
}

/// How the digest is padded into the RSA block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Pkcs1v15,
    Pss(Salt),
}

/// Why a signature could not be made or checked (a signature that does
/// not verify is `Ok(false)`, not an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not an RSA key of the expected form (PKCS#8 private
    /// key, or SubjectPublicKeyInfo).
    Key,
    /// A private key is needed (signing with a public key).
    NotPrivate,
    /// The digest's length is not the hash's.
    DigestLength { expected: usize, got: usize },
    /// PSS needs a hash.
    PssWithoutHash,
    /// The input is too long for the key (PKCS#1 v1.5 without a
    /// DigestInfo: at most the key's length less 11 bytes).
    TooLong { max: usize },
    /// The salt is longer than the key allows (its length less the
    /// digest's and 2).
    SaltTooLong { max: usize },
    /// aws-lc refused (a bug or a key it cannot use).
    Failed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Key => f.write_str("not an RSA key"),
            Error::NotPrivate => f.write_str("signing needs the private key"),
            Error::DigestLength { expected, got } => write!(
                f,
                "the digest has {got} bytes; the hash's digest has {expected}"
            ),
            Error::PssWithoutHash => f.write_str("PSS signatures need a hash"),
            Error::TooLong { max } => write!(f, "the input is longer than {max} bytes"),
            Error::SaltTooLong { max } => {
                write!(
                    f,
                    "the salt is longer than {max} bytes, the most this key allows"
                )
            }
            Error::Failed => f.write_str("aws-lc could not make or check the signature"),
        }
    }
}

impl std::error::Error for Error {}

/// A return value of aws-lc (1: success) as a result; a failure's error
/// queue is cleared so that it leaks into no later call on this thread.
fn check(ret: std::os::raw::c_int) -> Result<(), Error> {
    if ret == 1 {
        Ok(())
    } else {
        clear_errors();
        Err(Error::Failed)
    }
}

fn clear_errors() {
    // SAFETY: takes nothing; clears this thread's error queue.
    unsafe { sys::ERR_clear_error() }
}

/// An RSA key, private or public, owned (freed on drop; aws-lc wipes a
/// private key's numbers when it frees them).
pub struct RsaKey {
    pkey: NonNull<sys::EVP_PKEY>,
    private: bool,
}

impl Drop for RsaKey {
    fn drop(&mut self) {
        // SAFETY: `pkey` came from EVP_parse_*_key, is owned by this value
        // alone and is freed once, here.
        unsafe { sys::EVP_PKEY_free(self.pkey.as_ptr()) }
    }
}

impl RsaKey {
    /// A PKCS#8 (RFC 5208) RSA private key, DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, Error> {
        Self::parse(der, true)
    }

    /// A SubjectPublicKeyInfo (RFC 5280) RSA public key, DER.
    pub fn from_public_der(der: &[u8]) -> Result<Self, Error> {
        Self::parse(der, false)
    }

    fn parse(der: &[u8], private: bool) -> Result<Self, Error> {
        let mut cbs = sys::CBS {
            data: ptr::null(),
            len: 0,
        };
        // SAFETY: `cbs` is a valid CBS on the stack; it borrows `der`,
        // which outlives every use of `cbs` in this function.
        unsafe { sys::CBS_init(&mut cbs, der.as_ptr(), der.len()) };
        // SAFETY: `cbs` is initialised over `der`; the parsers only read
        // from it and advance it, and return an owned EVP_PKEY or null.
        let raw = unsafe {
            if private {
                sys::EVP_parse_private_key(&mut cbs)
            } else {
                sys::EVP_parse_public_key(&mut cbs)
            }
        };
        let Some(pkey) = NonNull::new(raw) else {
            clear_errors();
            return Err(Error::Key);
        };
        let key = Self { pkey, private };
        // SAFETY: `cbs` is still valid (over `der`); `pkey` is a live key.
        let (rest, id) = unsafe { (sys::CBS_len(&cbs), sys::EVP_PKEY_id(key.pkey.as_ptr())) };
        // Trailing bytes or another kind of key: not what was asked for.
        if rest != 0 || id != sys::EVP_PKEY_RSA {
            return Err(Error::Key);
        }
        Ok(key)
    }

    /// The modulus's length in bytes (a signature's length).
    pub fn modulus_len(&self) -> usize {
        // SAFETY: `pkey` is a live RSA key owned by `self`.
        let n = unsafe { sys::EVP_PKEY_size(self.pkey.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Signs `digest` (the input itself for PKCS#1 v1.5 without a hash).
    pub fn sign(
        &self,
        hash: Option<Hash>,
        padding: Padding,
        digest: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if !self.private {
            return Err(Error::NotPrivate);
        }
        let ctx = self.context(true, hash, padding, digest)?;
        let mut sig = vec![0u8; self.modulus_len()];
        let mut len = sig.len();
        // SAFETY: `ctx` is a live signing context; `sig` has `len` bytes
        // writable, the most a signature with this key takes
        // (EVP_PKEY_size), and aws-lc writes at most `len` and sets it to
        // what it wrote; `digest` is readable for its length.
        check(unsafe {
            sys::EVP_PKEY_sign(
                ctx.0.as_ptr(),
                sig.as_mut_ptr(),
                &mut len,
                digest.as_ptr(),
                digest.len(),
            )
        })?;
        sig.truncate(len);
        Ok(sig)
    }

    /// Whether `sig` is this key's signature of `digest`.
    pub fn verify(
        &self,
        hash: Option<Hash>,
        padding: Padding,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<bool, Error> {
        let ctx = self.context(false, hash, padding, digest)?;
        // SAFETY: `ctx` is a live verifying context; `sig` and `digest`
        // are readable for their lengths and only read.
        let ret = unsafe {
            sys::EVP_PKEY_verify(
                ctx.0.as_ptr(),
                sig.as_ptr(),
                sig.len(),
                digest.as_ptr(),
                digest.len(),
            )
        };
        if ret != 1 {
            clear_errors();
        }
        Ok(ret == 1)
    }

    /// Checks the lengths the way a caller can act on, then makes a
    /// context with the padding, hash and salt set.
    fn context(
        &self,
        sign: bool,
        hash: Option<Hash>,
        padding: Padding,
        digest: &[u8],
    ) -> Result<Context, Error> {
        let k = self.modulus_len();
        match (hash, padding) {
            (None, Padding::Pss(_)) => return Err(Error::PssWithoutHash),
            (None, Padding::Pkcs1v15) if digest.len() + 11 > k => {
                return Err(Error::TooLong {
                    max: k.saturating_sub(11),
                })
            }
            (Some(h), _) if digest.len() != h.digest_len() => {
                return Err(Error::DigestLength {
                    expected: h.digest_len(),
                    got: digest.len(),
                })
            }
            _ => {}
        }
        let mut salt_len = None;
        if let (Some(h), Padding::Pss(salt)) = (hash, padding) {
            let max = k.saturating_sub(h.digest_len() + 2);
            salt_len = Some(match salt {
                Salt::Digest => sys::RSA_PSS_SALTLEN_DIGEST,
                Salt::Auto => sys::RSA_PSS_SALTLEN_AUTO,
                Salt::Bytes(n) if usize::from(n) > max => return Err(Error::SaltTooLong { max }),
                Salt::Bytes(n) => i32::from(n),
            });
        }
        // SAFETY: `pkey` is a live key; the context takes its own
        // reference to it, released when the context is freed.
        let raw = unsafe { sys::EVP_PKEY_CTX_new(self.pkey.as_ptr(), ptr::null_mut()) };
        let ctx = Context(NonNull::new(raw).ok_or_else(|| {
            clear_errors();
            Error::Failed
        })?);
        let p = ctx.0.as_ptr();
        // SAFETY (each call below): `p` is the live context made above,
        // owned by `ctx`; the EVP_MD pointers are aws-lc's statics.
        check(unsafe {
            if sign {
                sys::EVP_PKEY_sign_init(p)
            } else {
                sys::EVP_PKEY_verify_init(p)
            }
        })?;
        let mode = match padding {
            Padding::Pkcs1v15 => sys::RSA_PKCS1_PADDING,
            Padding::Pss(_) => sys::RSA_PKCS1_PSS_PADDING,
        };
        // SAFETY: as above.
        check(unsafe { sys::EVP_PKEY_CTX_set_rsa_padding(p, mode) })?;
        if let Some(h) = hash {
            // SAFETY: as above.
            check(unsafe { sys::EVP_PKEY_CTX_set_signature_md(p, h.md()) })?;
        }
        if let (Some(h), Some(len)) = (hash, salt_len) {
            // MGF1 with the signature's hash, as Vault (Go's crypto/rsa) does.
            // SAFETY: as above.
            check(unsafe { sys::EVP_PKEY_CTX_set_rsa_mgf1_md(p, h.md()) })?;
            // SAFETY: as above.
            check(unsafe { sys::EVP_PKEY_CTX_set_rsa_pss_saltlen(p, len) })?;
        }
        Ok(ctx)
    }
}

/// An EVP_PKEY_CTX, freed on drop.
struct Context(NonNull<sys::EVP_PKEY_CTX>);

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context came from EVP_PKEY_CTX_new, is owned by this
        // value alone and is freed once, here.
        unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) }
    }
}
