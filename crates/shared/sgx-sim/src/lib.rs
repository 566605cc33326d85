//! The simulated SGX platform: a software CPU, quoting enclave and
//! provisioning service that emit exactly what Intel's emit, in Intel's
//! binary and JSON formats, so that a standard DCAP verifier (e.g.
//! dcap-qvl's `QuoteVerifier::new(root_ca_der)`) verifies simulated quotes
//! exactly as it verifies real ones. Simulation differs from hardware only
//! in the root of trust.
//!
//! # NO SECURITY: the root key is published
//!
//! The "minikms simulation root CA" private key is in this crate
//! (`sim-root-ca.key.pem`), on purpose. Anyone can issue a PCK certificate,
//! sign collateral and forge a quote that verifies under the simulation
//! root; the "fuses" are a plain file on the host. A simulated quote proves
//! nothing about the code that made it. Verifiers must accept the
//! simulation root only when explicitly told to, and must say so.
//!
//! # Layout
//!
//! - [`report`]: REPORT_BODY (384 bytes), REPORT (432), TARGETINFO (512):
//!   exact-length, panic-free parsers and serialisers.
//! - [`cpu`]: [`SimCpu`], the software CPU. Its root secret ("fuses", 32
//!   bytes) lives in a platform file. EREPORT (AES-128-CMAC under the
//!   target's report key), report verification, EGETKEY(SEAL_KEY).
//! - [`pcs`]: [`SimPcs`], the provisioning service: PCK certificate chain
//!   under the published root (with Intel's SGX extension), TCB info, QE
//!   identity and CRLs in dcap-qvl's `QuoteCollateralV3` JSON shape.
//! - [`qe`]: [`SimQuotingEnclave`]: checks a report's MAC and makes an SGX
//!   ECDSA quote v3.
//! - [`qe_identity`]: the simulated QE's MRENCLAVE, MRSIGNER, SVN...,
//!   which `qe` signs with and `pcs` publishes.
//! - `kdf` (private): HKDF-SHA256 derivations from the root secrets.
//!
//! # Use
//!
//! ```
//! use minikms_sgx_sim::{SimCpu, SimPcs, SimQuotingEnclave, EnclaveIdentity};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cpu = SimCpu::from_fuses([7; 32]); // or SimCpu::open_or_create(path)
//! let pcs = SimPcs::new(&cpu)?;
//! let qe = SimQuotingEnclave::new(&cpu)?;
//! let me = EnclaveIdentity {
//!     mrenclave: [1; 32], mrsigner: [2; 32], isv_prod_id: 1, isv_svn: 1,
//!     attributes: minikms_sgx_sim::report::attributes(0b101, 3), misc_select: 0,
//! };
//! let report = cpu.ereport(&me, &qe.target_info(), &[0; 64])?;
//! let quote = qe.quote(&cpu, &report, &pcs)?;
//! let collateral = pcs.collateral_json(1_800_000_000)?;
//! # let _ = (quote, collateral);
//! # Ok(())
//! # }
//! ```

pub mod cpu;
mod kdf;
pub mod pcs;
pub mod qe;
pub mod qe_identity;
pub mod report;

pub use cpu::{CpuError, EnclaveIdentity, KeyPolicy, SealKeyRequest, SimCpu, SIM_CPU_SVN};
pub use pcs::{Collateral, PcsError, SimPcs, SIM_ROOT_CA_KEY_PEM, SIM_ROOT_CA_PEM};
pub use qe::{QeError, SimQuotingEnclave};
pub use report::{ParseError, Report, ReportBody, TargetInfo};
