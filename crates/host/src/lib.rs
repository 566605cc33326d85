//! The untrusted side of minikms. Nothing in this crate is trusted by the
//! enclave or by clients: it signs enclaves (a build-time job), checks them
//! before launch, starts the enclave process and relays its OCALLs. It never
//! sees key material: TLS ends inside the enclave.
//!
//! Layout:
//! - [`cli`]: the `kms-host` command line (`run`, `sign`, `keygen`,
//!   `check-config`).
//! - [`config`]: `run`'s settings from a server config file and MINIKMS_…
//!   environment variables.
//! - [`keys`]: enclave signing keys: making one, loading one.
//! - [`sign`]: measuring and signing an enclave binary into a signed file.
//! - [`launch`]: the `run` command: platform check, verification, the
//!   enclave process.
//! - [`boundary`]: the host end of the boundary channel: the conversation
//!   with the enclave process.
//! - [`quoting`]: the quoting service the host runs for the enclave.
//! - [`log`]: the `[Host]: ...` / `[Enclave]: ...` log lines.
//! - [`ship`]: `--audit-stdout`: the enclave's audit entries on stdout.

pub mod boundary;
pub mod cli;
pub mod config;
pub mod keys;
pub mod launch;
pub mod log;
pub mod quoting;
pub mod ship;
pub mod sign;

/// Everything that makes `kms-host` give up, as one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A bad flag, file or setting: the operator's to fix.
    #[error("{0}")]
    Usage(String),
    /// The enclave image, its key or its config was refused.
    #[error(transparent)]
    Enclave(#[from] minikms_sigstruct::Error),
    /// The platform cannot run the enclave as asked.
    #[error("{0}")]
    Platform(String),
    /// The enclave process misbehaved or failed.
    #[error("{0}")]
    Launch(String),
}

/// `action: error` with the path in it, for file operations.
pub(crate) fn io_error(action: &str, path: &std::path::Path, e: std::io::Error) -> HostError {
    HostError::Usage(format!("cannot {action} {}: {e}", path.display()))
}
