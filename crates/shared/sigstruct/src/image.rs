//! The signed enclave file (our `enclave.signed`):
//!
//! ```text
//! [enclave ELF][properties: 64 bytes][SIGSTRUCT: 1808 bytes][trailer: 32 bytes]
//! trailer = "MINIKMS-SIGNED\0\x01" | ELF length (u64 LE) | 8 zero bytes
//! ```
//!
//! The ELF loader ignores what follows the program, so the signed file is
//! itself the executable the host launches, and the running enclave can
//! re-check the very file it was started from.

use crate::config::PROPERTIES_LEN;
use crate::measure::mrenclave;
use crate::sigstruct::{Identity, SigningKey, Sigstruct, SIGSTRUCT_LEN};
use crate::{EnclaveConfig, Error};

const MAGIC: &[u8; 16] = b"MINIKMS-SIGNED\0\x01";
const TRAILER_LEN: usize = 32;
const SUFFIX_LEN: usize = PROPERTIES_LEN + SIGSTRUCT_LEN + TRAILER_LEN;

/// A parsed signed image. Parsing checks the layout only; use
/// [`verify_image`] to check signature and measurement.
pub struct SignedImage<'a> {
    pub elf: &'a [u8],
    pub config: EnclaveConfig,
    pub sigstruct: Sigstruct,
}

impl<'a> SignedImage<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let suffix_at = bytes
            .len()
            .checked_sub(SUFFIX_LEN)
            .ok_or_else(|| Error::Format("file too short to hold a signature".into()))?;
        let (elf, suffix) = bytes.split_at(suffix_at);
        let (properties, rest) = suffix.split_at(PROPERTIES_LEN);
        let (sigstruct, trailer) = rest.split_at(SIGSTRUCT_LEN);
        if &trailer[..16] != MAGIC {
            return Err(Error::Format(
                "no minikms signature trailer (sign it with `kms-host sign`)".into(),
            ));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&trailer[16..24]);
        if u64::from_le_bytes(len) != elf.len() as u64 || trailer[24..].iter().any(|&b| b != 0) {
            return Err(Error::Format(
                "signature trailer does not match the file".into(),
            ));
        }
        Ok(Self {
            elf,
            config: EnclaveConfig::from_properties(properties)?,
            sigstruct: Sigstruct::parse(sigstruct)?,
        })
    }

    /// Measures `elf` with `config`, signs it, and returns the signed file.
    pub fn build(
        elf: &[u8],
        config: &EnclaveConfig,
        key: &SigningKey,
        date: (u16, u8, u8),
    ) -> Result<Vec<u8>, Error> {
        if !elf.starts_with(b"\x7fELF") {
            return Err(Error::Format(
                "the enclave binary is not an ELF executable".into(),
            ));
        }
        if elf.len() >= TRAILER_LEN && elf[elf.len() - TRAILER_LEN..].starts_with(MAGIC) {
            return Err(Error::Format(
                "the enclave binary is already signed; sign the unsigned build".into(),
            ));
        }
        let sigstruct = Sigstruct::sign(key, mrenclave(elf, config), config, date)?;
        let mut out = Vec::with_capacity(elf.len() + SUFFIX_LEN);
        out.extend_from_slice(elf);
        out.extend_from_slice(&config.to_properties());
        out.extend_from_slice(sigstruct.as_bytes());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(elf.len() as u64).to_le_bytes());
        out.extend_from_slice(&[0u8; 8]);
        Ok(out)
    }
}

/// Everything a launcher or the enclave itself checks, as EINIT would:
/// layout, signature, measurement, and that the measured config agrees with
/// the signed fields.
pub fn verify_image(bytes: &[u8]) -> Result<(Identity, EnclaveConfig), Error> {
    let image = SignedImage::parse(bytes)?;
    let identity = image.sigstruct.verify()?;
    let measured = mrenclave(image.elf, &image.config);
    if measured != identity.mrenclave {
        return Err(Error::MeasurementMismatch {
            signed: identity.mrenclave,
            measured,
        });
    }
    let c = &image.config;
    if c.debug != identity.debug
        || c.product_id != identity.product_id
        || c.security_version != identity.security_version
    {
        return Err(Error::Format(
            "enclave properties disagree with the SIGSTRUCT".into(),
        ));
    }
    Ok((identity, image.config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unsigned_files_are_refused() {
        for bytes in [&b""[..], b"\x7fELF", &[0u8; 4096]] {
            let err = verify_image(bytes)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.starts_with("not a signed enclave"), "{err}");
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4000)) {
            let _ = verify_image(&bytes);
        }

        #[test]
        fn parser_never_panics_on_plausible_suffixes(
            elf in proptest::collection::vec(any::<u8>(), 0..64),
            junk in proptest::collection::vec(any::<u8>(), SUFFIX_LEN - TRAILER_LEN..=SUFFIX_LEN - TRAILER_LEN),
        ) {
            let mut bytes = elf.clone();
            bytes.extend_from_slice(&junk);
            bytes.extend_from_slice(MAGIC);
            bytes.extend_from_slice(&(elf.len() as u64).to_le_bytes());
            bytes.extend_from_slice(&[0u8; 8]);
            prop_assert!(verify_image(&bytes).is_err());
        }
    }
}
