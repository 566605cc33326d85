//! What the TEE gives the enclave, behind one trait, so the rest of the
//! enclave never asks which platform it is on. Simulation is one full
//! implementation chosen at run time, never a build feature.
//!
//! - [`simulation`]: the software platform (runs anywhere, NO security).
//! - [`gramine`]: real SGX through Gramine's `/dev/attestation` files.
//! - [`tsm`]: confidential VMs (TDX, SEV-SNP) through Linux configfs-tsm
//!   reports (`kms-host run --platform tsm`); no sealing key.
//! - `fixed` (tests and fuzzing only): fixed keys, an empty quote.

use minikms_sigstruct::{verify_image, EnclaveConfig, Identity};
use zeroize::Zeroizing;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fixed;
pub mod gramine;
pub mod simulation;
pub mod tsm;

/// The services a TEE platform provides to the enclave.
pub trait Platform: Send + Sync + 'static {
    /// "simulation", "sgx", "tdx" or "sev-snp"; stamped into every status
    /// and evidence.
    fn name(&self) -> &'static str;
    /// Whether this is the software platform (no security): what decides
    /// whether simulated evidence is ours, not [`Platform::name`].
    fn is_simulation(&self) -> bool;
    /// Who we are, as verified from our own SIGSTRUCT.
    fn identity(&self) -> &Identity;
    fn config(&self) -> &EnclaveConfig;
    /// Fills `buf` from the platform's cryptographic random source: the
    /// CPU's RDRAND/RDSEED through the OS and aws-lc, on every platform we
    /// support (Gramine forwards getrandom to RDRAND inside the enclave).
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        aws_lc_rs::rand::fill(buf).map_err(|_| RandomError)
    }
    /// A 128-bit sealing key, as EGETKEY derives it: bound to the platform,
    /// to our identity under `policy`, and to `key_id`. Callers widen it
    /// with HKDF for their own use.
    fn sealing_key(
        &self,
        policy: SealPolicy,
        key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError>;
    /// As [`Platform::sealing_key`], for an older ISVSVN (at most ours), as
    /// EGETKEY allows: how data sealed before an upgrade is read again.
    /// Platforms that cannot (Gramine derives at our own SVN only) refuse.
    fn sealing_key_at_svn(
        &self,
        policy: SealPolicy,
        isv_svn: u16,
        key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError> {
        if isv_svn == self.identity().security_version {
            self.sealing_key(policy, key_id)
        } else {
            Err(PlatformError::OlderSvn(isv_svn))
        }
    }
    /// A quote binding `report_data` to our identity, with the collateral
    /// when the platform issues it itself (simulation).
    fn evidence(&self, report_data: [u8; 64]) -> BoxFuture<'_, Result<Evidence, PlatformError>>;
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Attestation evidence: public, safe to hand to anyone.
pub struct Evidence {
    pub quote: Vec<u8>,
    pub collateral: Option<serde_json::Value>,
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
    /// This exact enclave build only. The platforms implement it (as
    /// EGETKEY does, tested with them); no sealed record uses it yet.
    #[allow(dead_code)]
    MrEnclave,
    /// Any enclave of the same signer and product (with an SVN at least
    /// ours): survives upgrades.
    MrSigner,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("simulated platform file {path}: {error}")]
    PlatformFile { path: String, error: std::io::Error },
    #[error("quoting failed: {0}")]
    Quote(String),
    #[error("simulated CPU: {0}")]
    Cpu(String),
    #[error("this platform cannot derive sealing keys of an older security version ({0})")]
    OlderSvn(u16),
    #[error("this platform has no sealing key: {0}")]
    NoSealingKey(&'static str),
}

/// Checks the file we were started from, as EINIT checks an enclave before
/// it may run: layout, signature, measurement. On real SGX the CPU does this;
/// in simulation we re-measure `/proc/self/exe` (the file the kernel actually
/// mapped, whatever path the host used) so that a host that swaps the file
/// after its own check still cannot start a different enclave.
pub fn self_check() -> Result<(Identity, EnclaveConfig), SelfCheckError> {
    let bytes = std::fs::read("/proc/self/exe").map_err(SelfCheckError::Read)?;
    Ok(verify_image(&bytes)?)
}

/// Why the self-check refused to start.
#[derive(Debug, thiserror::Error)]
pub enum SelfCheckError {
    #[error("enclave self-check failed: cannot read our own executable: {0}")]
    Read(std::io::Error),
    #[error("enclave self-check failed: {0}")]
    Image(#[from] minikms_sigstruct::Error),
}
