//! The quoting service the host runs for its enclave, as aesmd and the
//! quoting enclave do on a real SGX machine: it turns the enclave's REPORT
//! into a quote a remote verifier can check. Nothing here is trusted: a
//! wrong quote only makes the enclave's attestation fail.

/// Turns reports into quotes.
pub trait Quoting: Send + Sync {
    /// The quoting enclave's TARGETINFO (512 bytes).
    fn target_info(&self) -> Result<Vec<u8>, String>;
    /// A quote for `report` (432 bytes) and, where the platform issues it
    /// itself, its collateral.
    fn quote(&self, report: &[u8]) -> Result<(Vec<u8>, Option<serde_json::Value>), String>;
}

/// No quoting service: every request fails with a clear reason.
pub struct Unavailable;

impl Quoting for Unavailable {
    fn target_info(&self) -> Result<Vec<u8>, String> {
        Err("no quoting service on this platform".into())
    }

    fn quote(&self, _report: &[u8]) -> Result<(Vec<u8>, Option<serde_json::Value>), String> {
        Err("no quoting service on this platform".into())
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
    pub fn open(fuse_file: &std::path::Path) -> Result<Self, String> {
        let cpu = minikms_sgx_sim::SimCpu::open_or_create(fuse_file)
            .map_err(|e| format!("simulated platform file {}: {e}", fuse_file.display()))?;
        let qe = minikms_sgx_sim::SimQuotingEnclave::new(&cpu).map_err(|e| e.to_string())?;
        let pcs = minikms_sgx_sim::SimPcs::new(&cpu).map_err(|e| e.to_string())?;
        Ok(Self { cpu, qe, pcs })
    }
}

impl Quoting for Simulated {
    fn target_info(&self) -> Result<Vec<u8>, String> {
        Ok(self.qe.target_info().to_bytes().to_vec())
    }

    fn quote(&self, report: &[u8]) -> Result<(Vec<u8>, Option<serde_json::Value>), String> {
        let report =
            minikms_sgx_sim::Report::from_bytes(report).map_err(|e| format!("bad report: {e}"))?;
        let quote = self
            .qe
            .quote(&self.cpu, &report, &self.pcs)
            .map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let collateral = self.pcs.collateral_json(now).map_err(|e| e.to_string())?;
        Ok((quote, Some(collateral)))
    }
}
