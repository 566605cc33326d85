//! The simulated platform: a software CPU (minikms-sgx-sim) in this
//! process, and quotes from the host's simulated quoting enclave, asked for
//! over the boundary channel as a real enclave asks aesmd. It runs anywhere
//! and proves nothing: the simulated root of trust is published.

use std::path::Path;

use minikms_edl::{Ecall, Ocall};
use minikms_sgx_sim::{
    report::attributes, EnclaveIdentity, KeyPolicy, SealKeyRequest, SimCpu, TargetInfo,
};
use minikms_sigstruct::{EnclaveConfig, Identity};
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use super::{BoxFuture, Evidence, Platform, PlatformError, SealPolicy};
use crate::channel::Caller;

/// Offset of the ISV report body in an SGX quote v3.
const QUOTE_BODY: usize = 48;

pub struct Simulation {
    identity: Identity,
    config: EnclaveConfig,
    /// What the simulated CPU knows about us (from our verified SIGSTRUCT).
    me: EnclaveIdentity,
    cpu: SimCpu,
    /// Asks the host's quoting service for quotes.
    host: Caller,
    /// The quoting enclave's TARGETINFO, asked for once.
    qe_target: OnceCell<TargetInfo>,
}

impl Simulation {
    /// Opens the simulated CPU whose fuses live in `fuse_file` (made, mode
    /// 0600, on first use).
    pub fn open(
        identity: Identity,
        config: EnclaveConfig,
        fuse_file: &Path,
        host: Caller,
    ) -> Result<Self, PlatformError> {
        let cpu =
            SimCpu::open_or_create(fuse_file).map_err(|e| PlatformError::Cpu(e.to_string()))?;
        let flags = u64::from_le_bytes(identity.attributes[..8].try_into().unwrap_or_default());
        let xfrm = u64::from_le_bytes(identity.attributes[8..].try_into().unwrap_or_default());
        let me = EnclaveIdentity {
            mrenclave: identity.mrenclave.0,
            mrsigner: identity.mrsigner.0,
            isv_prod_id: identity.product_id,
            isv_svn: identity.security_version,
            // The CPU sets INIT once the enclave is initialised.
            attributes: attributes(flags | 1, xfrm),
            misc_select: 0,
        };
        Ok(Self {
            identity,
            config,
            me,
            cpu,
            host,
            qe_target: OnceCell::new(),
        })
    }

    async fn qe_target_info(&self) -> Result<&TargetInfo, PlatformError> {
        self.qe_target
            .get_or_try_init(|| async {
                match self.host.call(|id| Ocall::InitQuote { id }).await {
                    Ok(Ecall::QeTargetInfo { target_info, .. }) => {
                        let bytes = hex::decode(target_info)
                            .map_err(|_| quote_error("target info is not hex"))?;
                        TargetInfo::from_bytes(&bytes).map_err(|e| quote_error(&e.to_string()))
                    }
                    Ok(Ecall::QuoteFailed { reason, .. }) => Err(quote_error(&reason)),
                    Ok(_) => Err(quote_error("unexpected answer to init_quote")),
                    Err(e) => Err(quote_error(&e.to_string())),
                }
            })
            .await
    }
}

fn quote_error(why: &str) -> PlatformError {
    PlatformError::Quote(minikms_edl::bounded_log_line(why))
}

impl Platform for Simulation {
    fn name(&self) -> &'static str {
        "simulation"
    }

    fn is_simulation(&self) -> bool {
        true
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn config(&self) -> &EnclaveConfig {
        &self.config
    }

    /// EGETKEY(SEAL_KEY) at our own ISVSVN and the CPU's SVN.
    fn sealing_key(
        &self,
        policy: SealPolicy,
        key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError> {
        self.sealing_key_at_svn(policy, self.me.isv_svn, key_id)
    }

    /// EGETKEY(SEAL_KEY) at `isv_svn` (the CPU refuses one above ours).
    fn sealing_key_at_svn(
        &self,
        policy: SealPolicy,
        isv_svn: u16,
        key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError> {
        let request = SealKeyRequest {
            policy: match policy {
                SealPolicy::MrEnclave => KeyPolicy::MrEnclave,
                SealPolicy::MrSigner => KeyPolicy::MrSigner,
            },
            isv_svn,
            cpu_svn: minikms_sgx_sim::SIM_CPU_SVN,
            key_id: *key_id,
        };
        self.cpu
            .egetkey_seal(&self.me, &request)
            .map_err(|e| PlatformError::Cpu(e.to_string()))
    }

    fn evidence(&self, report_data: [u8; 64]) -> BoxFuture<'_, Result<Evidence, PlatformError>> {
        Box::pin(async move {
            let target = self.qe_target_info().await?;
            let report = self
                .cpu
                .ereport(&self.me, target, &report_data)
                .map_err(|e| PlatformError::Cpu(e.to_string()))?;
            let report_hex = hex::encode(report.to_bytes());
            let (quote, collateral) = match self
                .host
                .call(|id| Ocall::GetQuote {
                    id,
                    report: report_hex,
                })
                .await
            {
                Ok(Ecall::Quote {
                    quote, collateral, ..
                }) => (
                    hex::decode(quote).map_err(|_| quote_error("the quote is not hex"))?,
                    collateral,
                ),
                Ok(Ecall::QuoteFailed { reason, .. }) => return Err(quote_error(&reason)),
                Ok(_) => return Err(quote_error("unexpected answer to get_quote")),
                Err(e) => return Err(quote_error(&e.to_string())),
            };
            // Not a security check (the verifier makes those), just a
            // guard against a confused host answering for another report.
            if quote.get(QUOTE_BODY..QUOTE_BODY + 384) != Some(&report.body.to_bytes()[..]) {
                return Err(quote_error("the host returned a quote for another report"));
            }
            Ok(Evidence { quote, collateral })
        })
    }
}
