//! The simulated quoting enclave: turns a report into an SGX ECDSA quote
//! v3 in Intel's exact layout (Intel SGX ECDSA Quote Library API, A.4):
//!
//! ```text
//!    0  header (48): version 3, att. key type 2 (ECDSA P-256), TEE type 0 (SGX),
//!                    QE SVN, PCE SVN, QE vendor id 939A7233F79C4CA9940A0DB3957F0607,
//!                    user data (20): QE ID (16) || 4 zero bytes
//!   48  ISV enclave report body (384)
//!  432  signature data length (u32)
//!  436  signature data:
//!         ISV report signature (64, r || s) by the attestation key over bytes 0..432
//!         attestation public key (64, x || y)
//!         QE report body (384), report data = SHA-256(att. key || QE auth data) || 0^32
//!         QE report signature (64, r || s) by the PCK key over the QE report body
//!         QE auth data: u16 length (32) || bytes 0, 1, ..., 31
//!         certification data: u16 type 5 || u32 size || PEM chain (PCK, Platform CA, root)
//! ```
//!
//! The attestation key is HKDF(fuses, "QE_ATTESTATION_KEY"), stable for a
//! platform. The QE's report is targeted at the simulated PCE, which checks
//! its MAC before signing it with the PCK key, as on hardware.

use aws_lc_rs::digest;

use crate::cpu::{CpuError, EnclaveIdentity, SimCpu};
use crate::kdf::DerivedP256;
use crate::pcs::{PcsError, SimPcs, SIM_PCE_SVN};
use crate::qe_identity::{
    SIM_QE_ATTRIBUTES, SIM_QE_ISV_PROD_ID, SIM_QE_ISV_SVN, SIM_QE_MISC_SELECT, SIM_QE_MRENCLAVE,
    SIM_QE_MRSIGNER,
};
use crate::report::{
    attributes, Report, TargetInfo, FLAG_INIT, FLAG_MODE64BIT, FLAG_PROVISION_KEY,
};

/// Intel's QE vendor id, which the simulated QE uses too (the quote format
/// is Intel's; only the root of trust differs).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];

/// Length of the quote header.
pub const QUOTE_HEADER_LEN: usize = 48;
/// The QE authentication data every simulated quote carries (32 bytes, as
/// Intel's QE: 0, 1, ..., 31).
const QE_AUTH_DATA: [u8; 32] = {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = i as u8;
        i += 1;
    }
    out
};
/// Certification data type 5: PCK certificate chain (PEM).
const CERT_TYPE_PCK_CHAIN: u16 = 5;

/// Why a quote was not made.
#[derive(Debug, thiserror::Error)]
pub enum QeError {
    /// The report's MAC does not verify for the QE on this CPU: it was
    /// forged, altered, made on another platform or for another target
    /// (the caller's fault).
    #[error("report refused by the quoting enclave: {0}")]
    BadReport(CpuError),
    /// The simulated CPU failed (e.g. while the PCE checked the QE report).
    #[error("simulated CPU: {0}")]
    Cpu(CpuError),
    /// The provisioning service failed.
    #[error("simulated provisioning service: {0}")]
    Pcs(#[from] PcsError),
    /// A signature or key derivation failed (a bug or a broken library).
    #[error("cryptographic failure in the simulated quoting enclave")]
    Crypto,
}

impl From<aws_lc_rs::error::Unspecified> for QeError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        QeError::Crypto
    }
}

/// The identity of the simulated QE.
pub fn qe_identity() -> EnclaveIdentity {
    EnclaveIdentity {
        mrenclave: SIM_QE_MRENCLAVE,
        mrsigner: SIM_QE_MRSIGNER,
        isv_prod_id: SIM_QE_ISV_PROD_ID,
        isv_svn: SIM_QE_ISV_SVN,
        attributes: SIM_QE_ATTRIBUTES,
        misc_select: SIM_QE_MISC_SELECT,
    }
}

/// The TARGETINFO of the simulated PCE, which the QE's report targets.
pub(crate) fn pce_target_info() -> TargetInfo {
    let mut mr_enclave = [0u8; 32];
    mr_enclave.copy_from_slice(
        digest::digest(&digest::SHA256, b"minikms simulation PCE: MRENCLAVE").as_ref(),
    );
    TargetInfo {
        mr_enclave,
        attributes: attributes(FLAG_INIT | FLAG_MODE64BIT | FLAG_PROVISION_KEY, 3),
        config_svn: 0,
        misc_select: 0,
        config_id: [0; 64],
    }
}

/// What the PCE does for the QE: checks that `qe_report` was made on this
/// platform's CPU for the PCE, then signs its body with the PCK key (raw
/// `r || s`).
fn pce_sign(pcs: &SimPcs, cpu: &SimCpu, qe_report: &Report) -> Result<[u8; 64], QeError> {
    let body = cpu
        .verify_report(&pce_target_info(), qe_report)
        .map_err(QeError::Cpu)?;
    Ok(pcs.pck_sign(&body.to_bytes())?)
}

/// The simulated quoting enclave of one platform. No `Debug`: it holds the
/// attestation private key.
pub struct SimQuotingEnclave {
    attestation_key: DerivedP256,
}

impl SimQuotingEnclave {
    /// The QE of the platform of `cpu`.
    pub fn new(cpu: &SimCpu) -> Result<Self, QeError> {
        Ok(Self {
            attestation_key: DerivedP256::derive(cpu.fuses(), b"QE_ATTESTATION_KEY")?,
        })
    }

    /// The QE's identity.
    pub fn identity(&self) -> EnclaveIdentity {
        qe_identity()
    }

    /// What an enclave targets its report at to have it quoted.
    pub fn target_info(&self) -> TargetInfo {
        qe_identity().target_info()
    }

    /// The attestation public key, x || y.
    pub fn attestation_public_key(&self) -> Result<[u8; 64], QeError> {
        Ok(self.attestation_key.public_xy()?)
    }

    /// Checks `report`'s MAC (it must target this QE, on `cpu`), then
    /// returns the SGX ECDSA quote v3 for it.
    pub fn quote(&self, cpu: &SimCpu, report: &Report, pcs: &SimPcs) -> Result<Vec<u8>, QeError> {
        let body = cpu
            .verify_report(&self.target_info(), report)
            .map_err(QeError::BadReport)?;

        let mut quote = Vec::with_capacity(6000);
        quote.extend_from_slice(&3u16.to_le_bytes());
        quote.extend_from_slice(&2u16.to_le_bytes());
        quote.extend_from_slice(&0u32.to_le_bytes());
        quote.extend_from_slice(&SIM_QE_ISV_SVN.to_le_bytes());
        quote.extend_from_slice(&SIM_PCE_SVN.to_le_bytes());
        quote.extend_from_slice(&INTEL_QE_VENDOR_ID);
        quote.extend_from_slice(&pcs.qe_id());
        quote.extend_from_slice(&[0u8; 4]);
        quote.extend_from_slice(&body.to_bytes());

        let isv_signature = self.attestation_key.sign_raw(&quote)?;
        let att_pub = self.attestation_key.public_xy()?;

        let mut hashed = Vec::with_capacity(96);
        hashed.extend_from_slice(&att_pub);
        hashed.extend_from_slice(&QE_AUTH_DATA);
        let mut qe_report_data = [0u8; 64];
        qe_report_data[..32].copy_from_slice(digest::digest(&digest::SHA256, &hashed).as_ref());
        let qe_report = cpu
            .ereport(&qe_identity(), &pce_target_info(), &qe_report_data)
            .map_err(QeError::Cpu)?;
        let qe_report_signature = pce_sign(pcs, cpu, &qe_report)?;

        let chain = pcs.pck_chain_pem();
        let chain_len = u32::try_from(chain.len()).map_err(|_| QeError::Crypto)?;
        let mut sig = Vec::with_capacity(700 + chain.len());
        sig.extend_from_slice(&isv_signature);
        sig.extend_from_slice(&att_pub);
        sig.extend_from_slice(&qe_report.body.to_bytes());
        sig.extend_from_slice(&qe_report_signature);
        sig.extend_from_slice(&(QE_AUTH_DATA.len() as u16).to_le_bytes());
        sig.extend_from_slice(&QE_AUTH_DATA);
        sig.extend_from_slice(&CERT_TYPE_PCK_CHAIN.to_le_bytes());
        sig.extend_from_slice(&chain_len.to_le_bytes());
        sig.extend_from_slice(chain.as_bytes());

        let sig_len = u32::try_from(sig.len()).map_err(|_| QeError::Crypto)?;
        quote.extend_from_slice(&sig_len.to_le_bytes());
        quote.extend_from_slice(&sig);
        Ok(quote)
    }
}
