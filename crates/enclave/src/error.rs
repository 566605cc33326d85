//! The enclave's one error type, grouped by who is at fault: the client's
//! request, not allowed, not found, our storage, the platform, a bug of
//! ours. Messages of the first three go to the client as they are; for the
//! last three the client learns only what failed, and the detail goes to
//! the log (`crate::http::error` is the one place that maps an error to
//! an HTTP status and logs it).

use crate::platform::PlatformError;
use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is malformed or asks for something impossible (400).
    #[error("{0}")]
    Invalid(String),
    /// The request body is larger than accepted (413).
    #[error("{0}")]
    TooLarge(String),
    /// The client did not send its request in time (408).
    #[error("{0}")]
    Timeout(String),
    /// Cannot serve now: too many expensive requests at once, or the
    /// key store's database unreachable or not to be trusted (503).
    #[error("{0}")]
    Busy(String),
    /// Another replica changed a record this request's write was decided
    /// on; the state decides again, and only answers this (503) if that
    /// keeps happening.
    #[error("{0} was changed by another replica meanwhile: try again")]
    Conflict(String),
    /// The store is sealed: unseal it first (503).
    #[error("{0}")]
    Sealed(String),
    /// The route exists, but not for this method (405).
    #[error("{0}")]
    WrongMethod(String),
    /// The token's policies do not allow the request (403, `permission
    /// denied`, as Vault says it).
    #[error("permission denied")]
    Denied,
    /// No token, or none that is (still) valid (403, `permission denied`,
    /// as Vault says it): such refusals are counted per address, not
    /// recorded one by one.
    #[error("permission denied")]
    Unauthenticated,
    /// Too many requests without a valid token from this address: try
    /// again after this many seconds (429, `Retry-After`).
    #[error("too many requests without a valid token from this address: try again in {0} s")]
    RateLimited(u64),
    /// Allowed to ask, but not for this, and the client may know why (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// Our key store failed: `what` failed, `detail` is for the log (500).
    #[error("{what} failed: {detail}")]
    Storage { what: &'static str, detail: String },
    /// The platform failed us (randomness, quotes): `what` failed (503).
    #[error("{what} failed: {detail}")]
    Platform { what: &'static str, detail: String },
    /// A fault of ours that should not happen (500).
    #[error("{what} failed: {detail}")]
    Internal { what: &'static str, detail: String },
}

impl Error {
    /// A client error with this message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// A fault of ours: `what` failed, for a reason only the log sees.
    pub fn internal(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Internal {
            what,
            detail: detail.to_string(),
        }
    }

    /// A fault of ours with nothing more to log (the cause is opaque, as
    /// aws-lc's errors are).
    pub fn failed(what: &'static str) -> Self {
        Self::internal(what, "unspecified")
    }

    pub fn storage(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Storage {
            what,
            detail: detail.to_string(),
        }
    }

    pub fn platform(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Platform {
            what,
            detail: detail.to_string(),
        }
    }

    /// What the client is told: the message of a client-side error, or
    /// only what failed for ours.
    pub fn public_message(&self) -> String {
        match self {
            Self::Invalid(m)
            | Self::TooLarge(m)
            | Self::Timeout(m)
            | Self::Busy(m)
            | Self::Sealed(m)
            | Self::WrongMethod(m)
            | Self::Forbidden(m)
            | Self::NotFound(m) => m.clone(),
            Self::Conflict(_) | Self::RateLimited(_) => self.to_string(),
            Self::Denied | Self::Unauthenticated => "permission denied".into(),
            Self::Storage { what, .. }
            | Self::Platform { what, .. }
            | Self::Internal { what, .. } => {
                format!("{what} failed")
            }
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Unavailable(detail) => {
                tracing::warn!("the key store's database is unreachable: {detail}");
                Self::Busy("the key store's database is unreachable: try again shortly".into())
            }
            // Serving on would answer from state the others have moved
            // past: refuse (503, so load balancers take this replica out).
            e @ (StoreError::Hidden(_) | StoreError::RolledBack(_)) => {
                tracing::error!("{e}");
                Self::Busy(
                    "this replica refuses to serve: the key store's database does not match \
                     what it has seen (its log says why)"
                        .into(),
                )
            }
            e => Self::storage("key store write", e),
        }
    }
}

impl From<PlatformError> for Error {
    fn from(e: PlatformError) -> Self {
        Self::platform("the platform", e)
    }
}
