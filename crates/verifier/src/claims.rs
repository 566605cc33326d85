//! What a verified quote says, ready to print as JSON.

use serde::Serialize;

use crate::held_data::HeldData;
use crate::policy::TcbStatus;
use crate::snp::report::{Product, TcbVersion};

/// The claims of verified evidence. Identity comes only from the verified
/// quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// "sgx", "tdx", "sev-snp", or "simulation" (evidence under the
    /// simulation root).
    pub platform: &'static str,
    /// The TEE the evidence describes: "sgx", "tdx" or "sev-snp".
    pub tee: &'static str,
    /// Quote format version (3 for SGX, 4 or 5 for TDX), or the SEV-SNP
    /// report version (2, 3 or 5).
    pub quote_version: u16,
    /// MRENCLAVE (hex); `null` for TDX.
    pub mrenclave: Option<String>,
    /// MRSIGNER (hex); `null` for TDX.
    pub mrsigner: Option<String>,
    /// ISVPRODID; `null` for TDX.
    pub isv_prod_id: Option<u16>,
    /// ISVSVN; `null` for TDX.
    pub isv_svn: Option<u16>,
    /// The enclave (or TD) is debuggable.
    pub debug: bool,
    /// The 64 bytes of report data (hex).
    pub report_data: String,
    /// The platform's TCB status; "unknown" without collateral, and always
    /// for SEV-SNP (see `snp.reported_tcb` and the minimum-TCB policy).
    pub tcb_status: TcbStatus,
    /// Intel security advisories that apply to the platform.
    pub advisory_ids: Vec<String>,
    /// Evidence under the simulation root: proves nothing.
    pub simulation: bool,
    /// TD measurements, for TDX quotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub td: Option<TdMeasurements>,
    /// SEV-SNP report fields, for SEV-SNP reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snp: Option<SnpMeasurements>,
    /// "valid" / "invalid" when the evidence carried held data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<crate::held_data::Binding>,
    /// The held data's hash and decoded claims, when the evidence carried it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_data: Option<HeldData>,
}

/// A TD's measurements (all hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdMeasurements {
    /// MRTD: the initial TD contents.
    pub mr_td: String,
    /// RTMR0..RTMR3: runtime measurement registers.
    pub rtmrs: [String; 4],
    /// MRCONFIGID.
    pub mr_config_id: String,
    /// MROWNER.
    pub mr_owner: String,
    /// MROWNERCONFIG.
    pub mr_owner_config: String,
    /// MRSEAM: the TDX module.
    pub mr_seam: String,
    /// MRSIGNERSEAM.
    pub mr_signer_seam: String,
    /// TD attributes.
    pub td_attributes: String,
    /// XFAM.
    pub xfam: String,
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: String,
}

/// An SEV-SNP report's fields (binary ones in hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpMeasurements {
    /// The product whose built-in ARK the chain leads to.
    pub product: Product,
    /// MEASUREMENT: the launch digest of the guest.
    pub measurement: String,
    /// HOST_DATA: data the host supplied at launch.
    pub host_data: String,
    /// CHIP_ID (zeros if the platform masks it).
    pub chip_id: String,
    /// The VMPL that requested the report (0 is the most privileged).
    pub vmpl: u32,
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// The guest policy (hex).
    pub policy: String,
    /// Guest policy: simultaneous multithreading allowed.
    pub smt_allowed: bool,
    /// Guest policy: a migration agent may be associated.
    pub migration_agent_allowed: bool,
    /// FAMILY_ID from the ID block.
    pub family_id: String,
    /// IMAGE_ID from the ID block.
    pub image_id: String,
    /// SHA-384 of the ID key that signed the ID block (zeros if none).
    pub id_key_digest: String,
    /// SHA-384 of the author key (zeros if none).
    pub author_key_digest: String,
    /// REPORT_ID: the guest context's id.
    pub report_id: String,
    /// The TCB the VCEK is for (checked against the VCEK).
    pub reported_tcb: TcbVersion,
    /// The TCB the firmware committed to (no rollback below it).
    pub committed_tcb: TcbVersion,
    /// The TCB running now.
    pub current_tcb: TcbVersion,
    /// The TCB when the guest was launched.
    pub launch_tcb: TcbVersion,
}
