//! The SGX SIGSTRUCT (Intel SDM vol. 3D, 38.13), byte for byte: what the
//! enclave's signer vouches for, and what EINIT checks before an enclave may
//! run. Multi-byte integers are little-endian, as in SGX, and so are the
//! modulus, signature, Q1 and Q2.

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use num_bigint::BigUint;
use pkcs1::der::Decode;

use crate::{EnclaveConfig, Error, Measurement};

pub const SIGSTRUCT_LEN: usize = 1808;
const MODULUS_LEN: usize = 384;

const HEADER: [u8; 16] = [6, 0, 0, 0, 0xE1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
const HEADER2: [u8; 16] = [1, 1, 0, 0, 0x60, 0, 0, 0, 0x60, 0, 0, 0, 1, 0, 0, 0];

// Field offsets.
const VENDOR: usize = 16;
const DATE: usize = 20;
const MODULUS: usize = 128;
const EXPONENT: usize = 512;
const SIGNATURE: usize = 516;
const MISCSELECT: usize = 900;
const MISCMASK: usize = 904;
const ATTRIBUTES: usize = 928;
const ATTRIBUTE_MASK: usize = 944;
const ENCLAVE_HASH: usize = 960;
const ISV_PROD_ID: usize = 1024;
const ISV_SVN: usize = 1026;
const Q1: usize = 1040;
const Q2: usize = 1424;

/// ATTRIBUTES.FLAGS bits.
pub const ATTR_DEBUG: u64 = 1 << 1;
pub const ATTR_MODE64BIT: u64 = 1 << 2;
/// XFRM: x87 and SSE state, the minimum every enclave has.
const XFRM: u64 = 0x3;
/// The Intel signing tool's default masks: everything but DEBUG must match.
const FLAGS_MASK: u64 = 0xffff_ffff_ffff_fffb;
const XFRM_MASK: u64 = 0xffff_ffff_fff9_ff1b;

/// An enclave signing key: RSA-3072 with public exponent 3, as SGX requires.
/// The private half lives in aws-lc; this type has no `Debug` on purpose.
pub struct SigningKey {
    key: RsaKeyPair,
    /// Big-endian modulus, without leading zeros.
    modulus: Vec<u8>,
}

impl SigningKey {
    /// Loads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`, what
    /// `openssl genrsa -3 3072` writes) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        use rustls_pki_types::{pem::PemObject, PrivateKeyDer};
        let bad = |why: String| Error::SigningKey(why);
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|_| bad("the file holds no PEM private key".into()))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(d) => RsaKeyPair::from_pkcs8(d.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(d) => RsaKeyPair::from_der(d.secret_pkcs1_der()),
            _ => return Err(bad("the file holds a non-RSA key".into())),
        }
        .map_err(|_| bad("the file holds no usable RSA private key".into()))?;
        let public = pkcs1::RsaPublicKey::from_der(key.public_key().as_ref())
            .map_err(|_| bad("its public key does not parse".into()))?;
        let modulus = public.modulus.as_bytes().to_vec();
        let exponent = BigUint::from_bytes_be(public.public_exponent.as_bytes());
        let bits = modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
        if bits != 3072 || exponent != BigUint::from(3u32) {
            return Err(bad(format!("got RSA-{bits} with e = {exponent}")));
        }
        Ok(Self { key, modulus })
    }

    /// MRSIGNER of enclaves this key signs.
    pub fn mrsigner(&self) -> Measurement {
        mrsigner(&to_le_fixed(&self.modulus))
    }
}

/// What an enclave is, once its SIGSTRUCT has verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub mrenclave: Measurement,
    pub mrsigner: Measurement,
    pub product_id: u16,
    pub security_version: u16,
    /// ATTRIBUTES.FLAGS and XFRM.
    pub attributes: [u8; 16],
    pub debug: bool,
}

/// A SIGSTRUCT whose layout has been checked (not yet its signature).
#[derive(Clone)]
pub struct Sigstruct([u8; SIGSTRUCT_LEN]);

impl Sigstruct {
    /// Builds and signs the SIGSTRUCT for an enclave measured as `mrenclave`.
    /// `date` is (year, month, day), stored in BCD as SGX does.
    pub fn sign(
        key: &SigningKey,
        mrenclave: Measurement,
        config: &EnclaveConfig,
        date: (u16, u8, u8),
    ) -> Result<Self, Error> {
        let mut s = [0u8; SIGSTRUCT_LEN];
        s[0..16].copy_from_slice(&HEADER);
        s[VENDOR..VENDOR + 4].copy_from_slice(&0u32.to_le_bytes());
        s[DATE..DATE + 4].copy_from_slice(&bcd_date(date).to_le_bytes());
        s[24..40].copy_from_slice(&HEADER2);
        s[MODULUS..MODULUS + MODULUS_LEN].copy_from_slice(&to_le_fixed(&key.modulus));
        s[EXPONENT..EXPONENT + 4].copy_from_slice(&3u32.to_le_bytes());
        s[MISCSELECT..MISCSELECT + 4].copy_from_slice(&0u32.to_le_bytes());
        s[MISCMASK..MISCMASK + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut flags = ATTR_MODE64BIT;
        if config.debug {
            flags |= ATTR_DEBUG;
        }
        s[ATTRIBUTES..ATTRIBUTES + 8].copy_from_slice(&flags.to_le_bytes());
        s[ATTRIBUTES + 8..ATTRIBUTES + 16].copy_from_slice(&XFRM.to_le_bytes());
        s[ATTRIBUTE_MASK..ATTRIBUTE_MASK + 8].copy_from_slice(&FLAGS_MASK.to_le_bytes());
        s[ATTRIBUTE_MASK + 8..ATTRIBUTE_MASK + 16].copy_from_slice(&XFRM_MASK.to_le_bytes());
        s[ENCLAVE_HASH..ENCLAVE_HASH + 32].copy_from_slice(&mrenclave.0);
        s[ISV_PROD_ID..ISV_PROD_ID + 2].copy_from_slice(&config.product_id.to_le_bytes());
        s[ISV_SVN..ISV_SVN + 2].copy_from_slice(&config.security_version.to_le_bytes());

        let mut sig = vec![0u8; key.key.public_modulus_len()];
        key.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                &signed_bytes(&s),
                &mut sig,
            )
            .map_err(|_| Error::SigningKey("signing failed".into()))?;
        s[SIGNATURE..SIGNATURE + MODULUS_LEN].copy_from_slice(&to_le_fixed(&sig));
        let (q1, q2) = q1_q2(&sig, &key.modulus);
        s[Q1..Q1 + MODULUS_LEN].copy_from_slice(&q1);
        s[Q2..Q2 + MODULUS_LEN].copy_from_slice(&q2);
        Ok(Self(s))
    }

    /// Checks the fixed header fields; refuses anything of another length.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let s: [u8; SIGSTRUCT_LEN] = bytes
            .try_into()
            .map_err(|_| Error::Format(format!("SIGSTRUCT must be {SIGSTRUCT_LEN} bytes")))?;
        if s[0..16] != HEADER || s[24..40] != HEADER2 {
            return Err(Error::Format("SIGSTRUCT header is not SGX's".into()));
        }
        Ok(Self(s))
    }

    pub fn as_bytes(&self) -> &[u8; SIGSTRUCT_LEN] {
        &self.0
    }

    /// Verifies the signature (and Q1/Q2, as EINIT does) and returns the
    /// enclave identity it vouches for.
    pub fn verify(&self) -> Result<Identity, Error> {
        let s = &self.0;
        if u32_at(s, EXPONENT) != 3 {
            return Err(Error::SigningKey(format!(
                "the SIGSTRUCT names e = {}",
                u32_at(s, EXPONENT)
            )));
        }
        let modulus_le = &s[MODULUS..MODULUS + MODULUS_LEN];
        if modulus_le[MODULUS_LEN - 1] & 0x80 == 0 {
            return Err(Error::SigningKey(
                "the SIGSTRUCT modulus is not 3072 bits".into(),
            ));
        }
        let n: Vec<u8> = modulus_le.iter().rev().copied().collect();
        let sig: Vec<u8> = s[SIGNATURE..SIGNATURE + MODULUS_LEN]
            .iter()
            .rev()
            .copied()
            .collect();
        RsaPublicKeyComponents {
            n: n.as_slice(),
            e: &[3u8][..],
        }
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            &signed_bytes(s),
            &sig,
        )
        .map_err(|_| Error::BadSignature)?;
        let (q1, q2) = q1_q2(&sig, &n);
        if s[Q1..Q1 + MODULUS_LEN] != q1 || s[Q2..Q2 + MODULUS_LEN] != q2 {
            return Err(Error::BadSignature);
        }
        let flags = u64::from_le_bytes(fixed(&s[ATTRIBUTES..ATTRIBUTES + 8]));
        let mut attributes = [0u8; 16];
        attributes.copy_from_slice(&s[ATTRIBUTES..ATTRIBUTES + 16]);
        Ok(Identity {
            mrenclave: Measurement(fixed(&s[ENCLAVE_HASH..ENCLAVE_HASH + 32])),
            mrsigner: mrsigner(modulus_le),
            product_id: u16::from_le_bytes(fixed(&s[ISV_PROD_ID..ISV_PROD_ID + 2])),
            security_version: u16::from_le_bytes(fixed(&s[ISV_SVN..ISV_SVN + 2])),
            attributes,
            debug: flags & ATTR_DEBUG != 0,
        })
    }
}

/// The two signed regions: header..reserved, then miscselect..isvsvn.
fn signed_bytes(s: &[u8; SIGSTRUCT_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&s[0..128]);
    out.extend_from_slice(&s[MISCSELECT..ISV_SVN + 2]);
    out
}

/// MRSIGNER is SHA-256 of the modulus as SGX stores it: 384 little-endian bytes.
fn mrsigner(modulus_le: &[u8]) -> Measurement {
    Measurement(fixed(digest::digest(&digest::SHA256, modulus_le).as_ref()))
}

/// Q1 = floor(S^2 / N), Q2 = floor((S^3 - Q1*S*N) / N): the hints EINIT uses
/// to check the signature without a divider.
fn q1_q2(sig_be: &[u8], n_be: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let s = BigUint::from_bytes_be(sig_be);
    let n = BigUint::from_bytes_be(n_be);
    let q1 = &s * &s / &n;
    let q2 = (&s * &s * &s - &q1 * &s * &n) / &n;
    (
        to_le_fixed(&q1.to_bytes_be()),
        to_le_fixed(&q2.to_bytes_be()),
    )
}

/// Big-endian bytes to a 384-byte little-endian field.
fn to_le_fixed(be: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; MODULUS_LEN];
    for (dst, src) in out.iter_mut().zip(be.iter().rev()) {
        *dst = *src;
    }
    out
}

fn bcd_date((year, month, day): (u16, u8, u8)) -> u32 {
    let bcd = |v: u32, digits: u32| {
        (0..digits).fold(0u32, |acc, i| acc | (((v / 10u32.pow(i)) % 10) << (4 * i)))
    };
    (bcd(u32::from(year), 4) << 16) | (bcd(u32::from(month), 2) << 8) | bcd(u32::from(day), 2)
}

fn u32_at(s: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(fixed(&s[at..at + 4]))
}

/// Copies a slice whose length the caller has fixed by construction.
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_is_bcd() {
        assert_eq!(bcd_date((2026, 11, 26)), 0x2026_1126);
    }
}
