//! What a verified quote says, ready to print as JSON.

use serde::Serialize;

use crate::held_data::HeldData;
use crate::policy::TcbStatus;

/// The claims of verified evidence. Identity comes only from the verified
/// quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// "sgx", "tdx", or "simulation" (evidence under the simulation root).
    pub platform: &'static str,
    /// The TEE the quote describes: "sgx" or "tdx".
    pub tee: &'static str,
    /// Quote format version (3 for SGX, 4 or 5 for TDX).
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
    /// The platform's TCB status; "unknown" without collateral.
    pub tcb_status: TcbStatus,
    /// Intel security advisories that apply to the platform.
    pub advisory_ids: Vec<String>,
    /// Evidence under the simulation root: proves nothing.
    pub simulation: bool,
    /// TD measurements, for TDX quotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub td: Option<TdMeasurements>,
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
