//! Key derivation from the simulated platform's root secrets.
//!
//! Every key below a root secret is HKDF-SHA256 (RFC 5869): salt
//! `"minikms-sgx-sim v1"`, input keying material the root secret, info a
//! label naming the key followed by the fields the key is bound to. The
//! same root secret and fields always give the same key, which is what
//! makes sealed data and the platform's certificates survive restarts.

use aws_lc_rs::{agreement, hkdf, signature};
use zeroize::Zeroizing;

const SALT: &[u8] = b"minikms-sgx-sim v1";

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256(salt, ikm, info = concatenation of `info`), `N` bytes.
pub(crate) fn derive<const N: usize>(
    ikm: &[u8],
    info: &[&[u8]],
) -> Result<Zeroizing<[u8; N]>, aws_lc_rs::error::Unspecified> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(ikm);
    let okm = prk.expand(info, Len(N))?;
    let mut out = Zeroizing::new([0u8; N]);
    okm.fill(out.as_mut())?;
    Ok(out)
}

/// A P-256 key pair derived from a root secret. No `Debug`: it holds a
/// private key.
pub(crate) struct DerivedP256 {
    /// Signs with raw `r || s` (64 bytes), as SGX quotes and Intel's
    /// collateral carry signatures.
    pub(crate) ecdsa: signature::EcdsaKeyPair,
    /// PKCS#8 v1 DER of the same key, for rcgen (certificates and CRLs).
    pub(crate) pkcs8: Zeroizing<Vec<u8>>,
}

impl DerivedP256 {
    /// Derives the private scalar as HKDF(root, label || counter) for the
    /// first counter (from 0) that gives a valid P-256 scalar (in [1, n-1];
    /// a retry happens with probability about 2^-32).
    pub(crate) fn derive(root: &[u8], label: &[u8]) -> Result<Self, aws_lc_rs::error::Unspecified> {
        for counter in 0u8..=255 {
            let scalar = derive::<32>(root, &[label, &[counter]])?;
            let Ok(private) =
                agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, scalar.as_ref())
            else {
                continue;
            };
            let public = private.compute_public_key()?;
            let ecdsa = signature::EcdsaKeyPair::from_private_key_and_public_key(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                scalar.as_ref(),
                public.as_ref(),
            )
            .map_err(|_| aws_lc_rs::error::Unspecified)?;
            let pkcs8 = Zeroizing::new(ecdsa.to_pkcs8v1()?.as_ref().to_vec());
            return Ok(Self { ecdsa, pkcs8 });
        }
        Err(aws_lc_rs::error::Unspecified)
    }

    /// The public key as SGX carries it: x || y, 64 bytes.
    pub(crate) fn public_xy(&self) -> Result<[u8; 64], aws_lc_rs::error::Unspecified> {
        use aws_lc_rs::signature::KeyPair;
        let public = self.ecdsa.public_key().as_ref();
        let mut out = [0u8; 64];
        match public {
            [0x04, xy @ ..] if xy.len() == 64 => {
                out.copy_from_slice(xy);
                Ok(out)
            }
            _ => Err(aws_lc_rs::error::Unspecified),
        }
    }

    /// ECDSA P-256 SHA-256 signature, raw `r || s`.
    pub(crate) fn sign_raw(
        &self,
        message: &[u8],
    ) -> Result<[u8; 64], aws_lc_rs::error::Unspecified> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.ecdsa.sign(&rng, message)?;
        let mut out = [0u8; 64];
        if sig.as_ref().len() != 64 {
            return Err(aws_lc_rs::error::Unspecified);
        }
        out.copy_from_slice(sig.as_ref());
        Ok(out)
    }

    /// The same key for rcgen.
    pub(crate) fn rcgen_key(&self) -> Result<rcgen::KeyPair, rcgen::Error> {
        rcgen::KeyPair::try_from(self.pkcs8.as_slice())
    }
}
