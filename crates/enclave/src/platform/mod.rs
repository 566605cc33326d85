//! What the TEE gives the enclave, behind one trait, so the rest of the
//! enclave never asks which platform it is on. Simulation is one full
//! implementation chosen at run time, never a build feature.
//!
//! Today: identity and randomness. Reports, quotes and sealing keys join
//! this trait with remote attestation.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::path::Path;

use minikms_sigstruct::{verify_image, EnclaveConfig, Identity};
use zeroize::Zeroizing;

/// The services a TEE platform provides to the enclave.
pub trait Platform: Send + Sync + 'static {
    /// "simulation" or "sgx"; stamped into every status and evidence.
    fn name(&self) -> &'static str;
    /// Who we are, as verified from our own SIGSTRUCT.
    fn identity(&self) -> &Identity;
    fn config(&self) -> &EnclaveConfig;
    /// Fills `buf` from the platform's cryptographic random source.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError>;
    /// A 128-bit sealing key, as EGETKEY derives it: bound to the platform,
    /// to our identity under `policy`, and to `key_id`. Callers widen it
    /// with HKDF for their own use.
    fn sealing_key(
        &self,
        policy: SealPolicy,
        key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError>;
}

/// Our identity as the boundary channel carries it.
pub fn edl_identity(id: &Identity, platform: &str) -> minikms_edl::Identity {
    minikms_edl::Identity {
        mrenclave: id.mrenclave.to_hex(),
        mrsigner: id.mrsigner.to_hex(),
        product_id: id.product_id,
        security_version: id.security_version,
        debug: id.debug,
        platform: platform.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the platform random source failed")]
pub struct RandomError;

/// What a sealing key is bound to, besides the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealPolicy {
    /// This exact enclave build only.
    MrEnclave,
    /// Any enclave of the same signer and product (with an SVN at least
    /// ours): survives upgrades.
    MrSigner,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("simulated platform file {path}: {error}")]
    PlatformFile { path: String, error: std::io::Error },
    #[error("the platform random source failed")]
    Random,
}

/// Checks the file we were started from, as EINIT checks an enclave before
/// it may run: layout, signature, measurement. On real SGX the CPU does this;
/// in simulation we re-measure `/proc/self/exe` (the file the kernel actually
/// mapped, whatever path the host used) so that a host that swaps the file
/// after its own check still cannot start a different enclave.
pub fn self_check() -> Result<(Identity, EnclaveConfig), String> {
    let bytes = std::fs::read("/proc/self/exe")
        .map_err(|e| format!("enclave self-check failed: cannot read our own executable: {e}"))?;
    verify_image(&bytes).map_err(|e| format!("enclave self-check failed: {e}"))
}

/// The software platform: runs anywhere, proves nothing. Identity comes from
/// our own verified SIGSTRUCT; randomness from the OS through aws-lc; the
/// root secret ("fuses") from a file outside the enclave's data.
pub struct Simulation {
    identity: Identity,
    config: EnclaveConfig,
    rng: SystemRandom,
    fuses: Zeroizing<[u8; 32]>,
}

impl Simulation {
    /// Opens the simulated platform, creating its fuse file (mode 0600) on
    /// first use.
    pub fn open(
        identity: Identity,
        config: EnclaveConfig,
        fuse_file: &Path,
    ) -> Result<Self, PlatformError> {
        let rng = SystemRandom::new();
        let fuses =
            read_or_create_fuses(fuse_file, &rng).map_err(|error| PlatformError::PlatformFile {
                path: fuse_file.display().to_string(),
                error,
            })?;
        Ok(Self {
            identity,
            config,
            rng,
            fuses,
        })
    }
}

fn read_or_create_fuses(path: &Path, rng: &SystemRandom) -> std::io::Result<Zeroizing<[u8; 32]>> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut fuses = Zeroizing::new([0u8; 32]);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            rng.fill(fuses.as_mut())
                .map_err(|_| std::io::Error::other("no randomness"))?;
            file.write_all(fuses.as_ref())?;
            file.sync_all()?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut file = std::fs::File::open(path)?;
            file.read_exact(fuses.as_mut())?;
        }
        Err(e) => return Err(e),
    }
    Ok(fuses)
}

impl Platform for Simulation {
    fn name(&self) -> &'static str {
        "simulation"
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn config(&self) -> &EnclaveConfig {
        &self.config
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        self.rng.fill(buf).map_err(|_| RandomError)
    }

    // INTERIM (until the simulated CPU's EGETKEY lands): HMAC-SHA256 of the
    // fuses over the policy, the identity it selects and the key id.
    fn sealing_key(
        &self,
        policy: SealPolicy,
        key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError> {
        use aws_lc_rs::hmac;
        let id = &self.identity;
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.fuses.as_ref());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(b"minikms-sim-egetkey-interim");
        match policy {
            SealPolicy::MrEnclave => ctx.update(&[1]),
            SealPolicy::MrSigner => ctx.update(&[2]),
        }
        if policy == SealPolicy::MrEnclave {
            ctx.update(&id.mrenclave.0);
        }
        ctx.update(&id.mrsigner.0);
        ctx.update(&id.product_id.to_le_bytes());
        ctx.update(&id.security_version.to_le_bytes());
        ctx.update(key_id);
        let tag = ctx.sign();
        let mut out = Zeroizing::new([0u8; 16]);
        out.copy_from_slice(&tag.as_ref()[..16]);
        Ok(out)
    }
}
