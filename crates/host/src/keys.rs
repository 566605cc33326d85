//! Enclave signing keys: RSA-3072 with public exponent 3, as SGX requires.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use minikms_sigstruct::SigningKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

use crate::{io_error, HostError};

/// Makes a new signing key and writes it as PKCS#8 PEM, readable by its
/// owner only. Refuses to overwrite an existing file: losing a signing key
/// changes MRSIGNER, and with it every sealed secret.
pub fn generate(out: &Path) -> Result<SigningKey, HostError> {
    // aws-lc only makes keys with e = 65537, so generation (and nothing
    // else) uses the `rsa` crate; its timing advisory (RUSTSEC-2023-0071)
    // concerns private-key operations, which we do with aws-lc.
    let key =
        rsa::RsaPrivateKey::new_with_exp(&mut rand::rngs::OsRng, 3072, &rsa::BigUint::from(3u32))
            .map_err(|e| HostError::Usage(format!("RSA key generation failed: {e}")))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| HostError::Usage(format!("cannot encode the key: {e}")))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => HostError::Usage(format!(
                "{} already exists; refusing to overwrite a signing key",
                out.display()
            )),
            _ => io_error("create", out, e),
        })?;
    file.write_all(pem.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| io_error("write", out, e))?;
    Ok(SigningKey::from_pem(pem.as_bytes())?)
}

/// Loads a PEM signing key (PKCS#8 or PKCS#1) and checks it is RSA-3072, e = 3.
pub fn load(path: &Path) -> Result<SigningKey, HostError> {
    let pem = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| io_error("read", path, e))?);
    Ok(SigningKey::from_pem(&pem)?)
}
