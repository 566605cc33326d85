//! Signing: measure an enclave binary with its config and wrap both, with
//! the SIGSTRUCT, into a signed enclave file (see `minikms_sigstruct::image`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use minikms_sigstruct::{verify_image, EnclaveConfig, Identity, SignedImage, SigningKey};

use crate::{io_error, HostError};

pub fn read_config(path: &Path) -> Result<EnclaveConfig, HostError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error("read", path, e))?;
    Ok(EnclaveConfig::from_toml(&text)?)
}

/// Signs `enclave` and writes the signed, executable file to `out`
/// (atomically: a reader sees the old file or the whole new one).
pub fn sign_file(
    key: &SigningKey,
    config: &EnclaveConfig,
    enclave: &Path,
    out: &Path,
) -> Result<Identity, HostError> {
    let elf = std::fs::read(enclave).map_err(|e| io_error("read", enclave, e))?;
    let signed = SignedImage::build(&elf, config, key, today())?;
    // Check what we produced exactly as a launcher will.
    let (identity, _) = verify_image(&signed)?;

    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(&tmp)?;
        file.write_all(&signed)?;
        file.sync_all()?;
        std::fs::rename(&tmp, out)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("write", out, e)
    })?;
    Ok(identity)
}

fn today() -> (u16, u8, u8) {
    let d = time::OffsetDateTime::now_utc().date();
    (
        u16::try_from(d.year()).unwrap_or(0),
        u8::from(d.month()),
        d.day(),
    )
}
