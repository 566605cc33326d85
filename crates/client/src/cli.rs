//! Command-line types. Global options come before the command so that
//! `--server URL` and more commands can join later.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use minikms_verifier::{Policy, TcbStatus};

/// The minikms client.
#[derive(Debug, Parser)]
#[command(name = "minikms", version, about = "The minikms client")]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify attestation evidence offline and print its claims as JSON.
    Verify(VerifyArgs),
    /// Audit log commands.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `minikms audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify an audit log offline (signatures, hash chain, evidence for
    /// its key) and print a summary as JSON.
    Verify(AuditVerifyArgs),
}

/// `minikms audit verify FILE [options] [policy flags]`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The audit log (`audit.log` in the enclave's data dir).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// DCAP collateral (QuoteCollateralV3 JSON) for evidence that does not
    /// carry its own (real SGX).
    #[arg(long, value_name = "FILE")]
    pub collateral: Option<PathBuf>,
    /// Without collateral, check the evidence's signatures and PCK chain
    /// only (TCB status unknown).
    #[arg(long)]
    pub offline: bool,
    /// What evidence to accept.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `minikms verify FILE [options] [policy flags]`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Evidence: a raw or hex quote, an Open Enclave remote report, or the
    /// enclave's /attestation JSON.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// DCAP collateral (QuoteCollateralV3 JSON) for full verification.
    #[arg(long, value_name = "FILE")]
    pub collateral: Option<PathBuf>,
    /// Verification time in Unix seconds (default: now).
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub at: Option<u64>,
    /// Without collateral, check signatures and the PCK chain only (TCB
    /// status unknown).
    #[arg(long)]
    pub offline: bool,
    /// What to accept.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// The attestation policy flags, shared by every command that checks an
/// enclave.
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyArgs {
    /// Expected MRENCLAVE (64 hex digits).
    #[arg(long, value_name = "HEX", value_parser = parse_hash32)]
    pub mrenclave: Option<[u8; 32]>,
    /// Expected MRSIGNER (64 hex digits).
    #[arg(long, value_name = "HEX", value_parser = parse_hash32)]
    pub mrsigner: Option<[u8; 32]>,
    /// Expected ISV product id.
    #[arg(long, value_name = "N")]
    pub product_id: Option<u16>,
    /// Minimum ISV security version.
    #[arg(long, value_name = "N")]
    pub min_svn: Option<u16>,
    /// Accept debug enclaves.
    #[arg(long)]
    pub allow_debug: bool,
    /// Accept simulated evidence (which proves nothing).
    #[arg(long)]
    pub allow_simulation: bool,
    /// TCB statuses to accept besides UpToDate, comma-separated.
    #[arg(long, value_name = "STATUS,...", value_delimiter = ',', value_parser = parse_tcb_status)]
    pub accept_tcb: Vec<TcbStatus>,
}

impl PolicyArgs {
    /// The policy these flags describe.
    pub fn to_policy(&self) -> Policy {
        Policy {
            mrenclave: self.mrenclave,
            mrsigner: self.mrsigner,
            product_id: self.product_id,
            min_svn: self.min_svn,
            allow_debug: self.allow_debug,
            allow_simulation: self.allow_simulation,
            accept_tcb: self.accept_tcb.clone(),
        }
    }
}

fn parse_hash32(s: &str) -> Result<[u8; 32], String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(s).map_err(|e| format!("not hex: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("expected 32 bytes (64 hex digits), got {}", bytes.len()))
}

fn parse_tcb_status(s: &str) -> Result<TcbStatus, String> {
    match s.parse::<TcbStatus>()? {
        TcbStatus::Unknown | TcbStatus::Revoked => Err(format!("{s} cannot be accepted")),
        status => Ok(status),
    }
}
