//! What the verifier accepts.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A TCB status from Intel's TCB info, or `Unknown` when no collateral was
/// used (offline verification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TcbStatus {
    /// The platform is patched.
    UpToDate,
    /// Software hardening is needed (e.g. against LVI).
    SWHardeningNeeded,
    /// Platform configuration is needed.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// The platform is missing updates.
    OutOfDate,
    /// Out of date and configuration needed.
    OutOfDateConfigurationNeeded,
    /// TD 1.5: relaunch the TD to pick up the updated TCB.
    TDRelaunchAdvised,
    /// TD 1.5: relaunch advised and configuration needed.
    TDRelaunchAdvisedConfigurationNeeded,
    /// The platform's keys are revoked (never accepted).
    Revoked,
    /// Not evaluated: offline verification, no collateral.
    #[serde(rename = "unknown")]
    Unknown,
}

impl TcbStatus {
    /// Every status, with its name.
    pub const ALL: [(TcbStatus, &'static str); 10] = [
        (TcbStatus::UpToDate, "UpToDate"),
        (TcbStatus::SWHardeningNeeded, "SWHardeningNeeded"),
        (TcbStatus::ConfigurationNeeded, "ConfigurationNeeded"),
        (
            TcbStatus::ConfigurationAndSWHardeningNeeded,
            "ConfigurationAndSWHardeningNeeded",
        ),
        (TcbStatus::OutOfDate, "OutOfDate"),
        (
            TcbStatus::OutOfDateConfigurationNeeded,
            "OutOfDateConfigurationNeeded",
        ),
        (TcbStatus::TDRelaunchAdvised, "TDRelaunchAdvised"),
        (
            TcbStatus::TDRelaunchAdvisedConfigurationNeeded,
            "TDRelaunchAdvisedConfigurationNeeded",
        ),
        (TcbStatus::Revoked, "Revoked"),
        (TcbStatus::Unknown, "unknown"),
    ];

    /// The name Intel uses ("unknown" for [`TcbStatus::Unknown`]).
    pub fn as_str(self) -> &'static str {
        TcbStatus::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("unknown", |(_, n)| n)
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TcbStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TcbStatus::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s.trim()))
            .map(|(st, _)| *st)
            .ok_or_else(|| {
                let names: Vec<&str> = TcbStatus::ALL[..8].iter().map(|(_, n)| *n).collect();
                format!("unknown TCB status {s:?} (one of {})", names.join(", "))
            })
    }
}

/// What evidence must satisfy. The default accepts any genuine, non-debug,
/// non-simulated enclave on an up-to-date platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Expected MRENCLAVE (SGX only; a TDX quote has none and is refused).
    pub mrenclave: Option<[u8; 32]>,
    /// Expected MRSIGNER (SGX only; a TDX quote has none and is refused).
    pub mrsigner: Option<[u8; 32]>,
    /// Expected ISVPRODID (SGX only).
    pub product_id: Option<u16>,
    /// Minimum ISVSVN (SGX only).
    pub min_svn: Option<u16>,
    /// Expected launch measurement: SEV-SNP MEASUREMENT, TDX MRTD or Nitro
    /// PCR0 (SGX quotes have none and are refused).
    pub measurement: Option<[u8; 48]>,
    /// Minimum SEV-SNP reported TCB, component by component.
    pub min_snp_tcb: Option<crate::snp::report::TcbVersion>,
    /// Accept an SEV-SNP guest whose policy allows a migration agent.
    pub allow_migration_agent: bool,
    /// Accept debug enclaves (and debuggable TDs).
    pub allow_debug: bool,
    /// Accept evidence under the simulation root (which proves nothing).
    pub allow_simulation: bool,
    /// TCB statuses accepted besides `UpToDate`. `Revoked` is never accepted.
    pub accept_tcb: Vec<TcbStatus>,
}
