//! The quoting service the host runs for its enclave, as aesmd and the
//! quoting enclave do on a real SGX machine: it turns the enclave's REPORT
//! into a quote a remote verifier can check. Nothing here is trusted: a
//! wrong quote only makes the enclave's attestation fail.

use minikms_sgx_sim::{CpuError, ParseError, PcsError, QeError};

/// A quote and, where the platform issues it itself, its collateral.
pub type Quoted = (Vec<u8>, Option<serde_json::Value>);

/// Why a quote was not made; the enclave is told (its attestation fails).
#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    #[error("no quoting service on this platform")]
    Unavailable,
    /// The enclave's report is not hex, or not a REPORT.
    #[error("the report is not hex")]
    NotHex,
    #[error("bad report: {0}")]
    BadReport(#[from] ParseError),
    #[error("simulated platform file {path}: {error}")]
    PlatformFile { path: String, error: CpuError },
    #[error("{0}")]
    Qe(#[from] QeError),
    #[error("{0}")]
    Pcs(#[from] PcsError),
    #[error("the system clock is before 1970")]
    Clock,
}

/// Turns reports into quotes.
pub trait Quoting: Send + Sync {
    /// The quoting enclave's TARGETINFO (512 bytes).
    fn target_info(&self) -> Result<Vec<u8>, QuoteError>;
    /// A quote for `report` (432 bytes) and, where the platform issues it
    /// itself, its collateral.
    fn quote(&self, report: &[u8]) -> Result<Quoted, QuoteError>;
}

/// No quoting service: every request fails with a clear reason.
pub struct Unavailable;

impl Quoting for Unavailable {
    fn target_info(&self) -> Result<Vec<u8>, QuoteError> {
        Err(QuoteError::Unavailable)
    }

    fn quote(&self, _report: &[u8]) -> Result<Quoted, QuoteError> {
        Err(QuoteError::Unavailable)
    }
}

/// The simulated platform's quoting enclave and provisioning service,
/// running on the host as aesmd and the QE do on a real machine. They share
/// the simulated CPU (its fuse file) with the enclave.
pub struct Simulated {
    cpu: minikms_sgx_sim::SimCpu,
    qe: minikms_sgx_sim::SimQuotingEnclave,
    pcs: minikms_sgx_sim::SimPcs,
}

impl Simulated {
    /// Opens (or makes, mode 0600) the simulated CPU's fuse file.
    pub fn open(fuse_file: &std::path::Path) -> Result<Self, QuoteError> {
        let cpu = minikms_sgx_sim::SimCpu::open_or_create(fuse_file).map_err(|error| {
            QuoteError::PlatformFile {
                path: fuse_file.display().to_string(),
                error,
            }
        })?;
        let qe = minikms_sgx_sim::SimQuotingEnclave::new(&cpu)?;
        let pcs = minikms_sgx_sim::SimPcs::new(&cpu)?;
        Ok(Self { cpu, qe, pcs })
    }
}

impl Quoting for Simulated {
    fn target_info(&self) -> Result<Vec<u8>, QuoteError> {
        Ok(self.qe.target_info().to_bytes().to_vec())
    }

    fn quote(&self, report: &[u8]) -> Result<Quoted, QuoteError> {
        let report = minikms_sgx_sim::Report::from_bytes(report)?;
        let quote = self.qe.quote(&self.cpu, &report, &self.pcs)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| QuoteError::Clock)?
            .as_secs();
        let collateral = self.pcs.collateral_json(now)?;
        Ok((quote, Some(collateral)))
    }
}
