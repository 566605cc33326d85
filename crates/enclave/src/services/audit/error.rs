//! What can go wrong with the audit log.

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// The file's tail is not ours: refuse to continue it.
    #[error("audit log {path}: {why}; move the file away to begin a new log")]
    Foreign { path: String, why: String },
    #[error("audit key: {0}")]
    Key(String),
    /// The log and the key store disagree: one of them was rolled back,
    /// cut or replaced ([`super::vouch`]).
    #[error("{0}")]
    Disagree(String),
    #[error("attestation for the audit key failed: {0}")]
    Evidence(#[from] crate::platform::PlatformError),
    /// There is no room for entries now (the disk is full) or a write
    /// failed: requests are refused until there is (logged when it began).
    #[error("audit log {path} cannot be written now; requests are refused until it can")]
    Unwritable { path: String },
    /// An earlier sync failed (logged then); nothing is answered
    /// unrecorded, so nothing is answered until a restart.
    #[error("audit log {path} failed earlier; restart the enclave once the cause is fixed")]
    Failed { path: String },
}
