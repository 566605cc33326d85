//! What the TEE gives the enclave, behind one trait, so the rest of the
//! enclave never asks which platform it is on. Simulation is one full
//! implementation chosen at run time, never a build feature.
//!
//! Today: identity and randomness. Reports, quotes and sealing keys join
//! this trait with remote attestation.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use minikms_sigstruct::{verify_image, EnclaveConfig, Identity};

/// The services a TEE platform provides to the enclave.
pub trait Platform: Send + Sync + 'static {
    /// "simulation" or "sgx"; stamped into every status and evidence.
    fn name(&self) -> &'static str;
    /// Who we are, as verified from our own SIGSTRUCT.
    fn identity(&self) -> &Identity;
    fn config(&self) -> &EnclaveConfig;
    /// Fills `buf` from the platform's cryptographic random source.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError>;

    /// Our identity as the boundary channel carries it.
    fn edl_identity(&self) -> minikms_edl::Identity {
        let id = self.identity();
        minikms_edl::Identity {
            mrenclave: id.mrenclave.to_hex(),
            mrsigner: id.mrsigner.to_hex(),
            product_id: id.product_id,
            security_version: id.security_version,
            debug: id.debug,
            platform: self.name().to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the platform random source failed")]
pub struct RandomError;

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
/// our own verified SIGSTRUCT; randomness from the OS through aws-lc.
pub struct Simulation {
    identity: Identity,
    config: EnclaveConfig,
    rng: SystemRandom,
}

impl Simulation {
    pub fn new(identity: Identity, config: EnclaveConfig) -> Self {
        Self {
            identity,
            config,
            rng: SystemRandom::new(),
        }
    }
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
}
