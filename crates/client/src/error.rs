//! The library's one error type, its variants grouped by who is at fault
//! ([`Error::fault`]). Every `Display` is one line a user can act on; the
//! CLI prints exactly that.

use std::io;
use std::path::PathBuf;

use minikms_verifier::audit::AuditError;
use minikms_verifier::VerifyError;

/// An error from a source that only says what went wrong in its own words
/// (hyper, the body reader).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // The user's input: arguments and files.
    /// An argument the call cannot use: a server URL, an HTTP method, a
    /// request body, a nonce, pins that contradict each other, a bench
    /// setting out of range. The message says which and why.
    #[error("{0}")]
    Input(String),
    /// A managed key name the server would refuse
    /// ([`minikms_api::key_name`]).
    #[error("invalid key name {0:?}: {rule}", rule = minikms_api::key_name::RULE)]
    InvalidKeyName(String),
    /// One of the user's files cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// One of the user's files is larger than anything it could hold.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The largest accepted, in bytes.
        limit: u64,
    },
    /// One of the user's files holds something unusable: not a signed
    /// enclave, not a key of a supported kind.
    #[error("{}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A key file holds another type of key than the one asked for.
    #[error("{} holds a key of type {found}, not {wanted}", path.display())]
    WrongKeyType {
        /// The key file.
        path: PathBuf,
        /// The type it holds.
        found: String,
        /// The type asked for.
        wanted: String,
    },

    // The connection.
    /// No TCP connection to the server.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// Why.
        source: io::Error,
    },
    /// The TLS handshake failed for another reason than the server's
    /// attestation (which is [`Error::Refused`]).
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
    /// HTTP over the attested connection failed: its handshake, a lost
    /// connection, a request that was not answered or an answer that could
    /// not be read.
    #[error("{context}: {source}")]
    Http {
        /// What was being done, e.g. `GET / failed`.
        context: String,
        /// Why.
        source: BoxError,
    },

    // Attestation.
    /// The attested TLS handshake refused the server: its certificate's
    /// evidence does not verify, does not bind the certificate's key, or
    /// does not meet the policy.
    #[error("refused the server: {0}")]
    Refused(Refused),
    /// Evidence does not verify or the policy refuses it: a file verified
    /// offline, or fresh evidence the server sent (`Client::attest`).
    #[error("{0}")]
    Evidence(#[from] VerifyError),
    /// Evidence verified but does not commit to what it must: the caller's
    /// nonce (replayed?), this connection's key (relayed?), the CA the
    /// server sent, or a chain from that CA to the server's certificate.
    #[error("{0}")]
    Unbound(String),
    /// The server's state is older than this client saw before: its key
    /// store and audit log were rolled back together (or restored).
    #[error("{0}")]
    RolledBack(String),
    /// An audit log fails verification (a signature, the hash chain, or a
    /// start entry's evidence under the policy).
    #[error("{}: {source}", path.display())]
    Audit {
        /// The log file.
        path: PathBuf,
        /// The first failure.
        source: AuditError,
    },

    // The server.
    /// The server answered with an error status; `message` is its
    /// `errors` joined with "; " (empty if it sent none).
    #[error("server answered {status}: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's error messages.
        message: String,
    },
    /// The server answered with a body that is not JSON.
    #[error("server answered {status} with a body that is not JSON: {source}")]
    NotJson {
        /// The HTTP status.
        status: u16,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The server answered, but not as a minikms server does: a field
    /// missing, no certificate or CA, an unusable wrapping key, an answer a
    /// benchmark checks and finds wrong.
    #[error("{0}")]
    Protocol(String),

    // This machine.
    /// An output file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// This machine failed: no randomness, no runtime, a cryptographic or
    /// serialisation failure, a task that panicked.
    #[error("{0}")]
    System(String),

    /// Another error, with what was being done when it happened; its fault
    /// is the inner error's.
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The error.
        source: Box<Error>,
    },
}

/// Why the attested TLS verifier refused a server's certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The certificate's notBefore is in the future.
    #[error("server certificate is not valid yet")]
    NotYetValid,
    /// The certificate's notAfter is in the past.
    #[error("server certificate has expired")]
    Expired,
    /// The evidence does not verify, does not bind the certificate's key,
    /// or the policy refuses it.
    #[error("{0}")]
    Evidence(#[from] VerifyError),
}

/// Who is at fault for an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The user: an argument or a file.
    Input,
    /// The network path to the server: TCP, TLS, HTTP.
    Connection,
    /// The enclave's attestation (or the policy that refuses it).
    Attestation,
    /// The server's answer.
    Server,
    /// This machine.
    Local,
}

impl Error {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Error::Input(_)
            | Error::InvalidKeyName(_)
            | Error::Read { .. }
            | Error::TooLarge { .. }
            | Error::BadFile { .. }
            | Error::WrongKeyType { .. } => Fault::Input,
            Error::Connect { .. } | Error::Tls(_) | Error::Http { .. } => Fault::Connection,
            Error::Refused(_)
            | Error::Evidence(_)
            | Error::Unbound(_)
            | Error::RolledBack(_)
            | Error::Audit { .. } => Fault::Attestation,
            Error::Server { .. } | Error::NotJson { .. } | Error::Protocol(_) => Fault::Server,
            Error::Write { .. } | Error::System(_) => Fault::Local,
            Error::Context { source, .. } => source.fault(),
        }
    }

    /// This error, with what was being done when it happened.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// A [`Error::BadFile`].
    pub(crate) fn bad_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_cli_contract() {
        assert_eq!(
            Error::InvalidKeyName("a/b".into()).to_string(),
            "invalid key name \"a/b\": 1 to 128 characters of A-Z a-z 0-9 _ . -, starting and ending with a letter, digit or _"
        );
        let server = Error::Server {
            status: 403,
            message: "permission denied".into(),
        };
        assert_eq!(server.to_string(), "server answered 403: permission denied");
        assert_eq!(server.fault(), Fault::Server);
        let wrapped = server.context("the first request failed, so nothing was measured");
        assert_eq!(
            wrapped.to_string(),
            "the first request failed, so nothing was measured: server answered 403: permission denied"
        );
        assert_eq!(wrapped.fault(), Fault::Server);
        let read = Error::Read {
            path: "/nonexistent/quote".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(read
            .to_string()
            .starts_with("cannot read /nonexistent/quote: "));
        assert_eq!(read.fault(), Fault::Input);
    }
}
