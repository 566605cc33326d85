#![doc = include_str!("../README.md")]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bumped on any change to the messages below.
pub const PROTOCOL_VERSION: u16 = 1;
/// Largest frame either side sends or accepts.
pub const MAX_FRAME_LEN: usize = 64 * 1024;
/// Bounds of the TLS certificate lifetime.
pub const MIN_CERT_LIFETIME_SECS: u64 = 2;

/// Most TLS names `set_up_server` may carry.
pub const MAX_TLS_NAMES: usize = 32;

/// A TLS certificate name that is neither an IP address nor a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither an IP address nor a DNS name (letters, digits, inner hyphens, dots)")]
pub struct BadTlsName(pub String);

/// Checks a TLS certificate name: an IP address, or a DNS name of labels
/// of letters, digits and inner hyphens (at most 253 characters).
pub fn check_tls_name(name: &str) -> Result<(), BadTlsName> {
    if name.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(BadTlsName(name.to_string()))
    }
}
pub const MAX_CERT_LIFETIME_SECS: u64 = 397 * 24 * 3600;
/// Longest log line the enclave sends; longer ones are cut.
pub const MAX_LOG_LINE: usize = 4096;

/// Host -> enclave calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Ecall {
    /// The tutorial's `set_up_server(port, keep_server_up)`, plus the
    /// address to bind. `keep_server_up = false` serves one connection, then
    /// stops.
    SetUpServer {
        bind: IpAddr,
        port: u16,
        keep_server_up: bool,
        /// Where the enclave keeps its (sealed) files. The host made it.
        data_dir: PathBuf,
        /// Simulation only: the file that stands in for the CPU's fuses
        /// (root secrets of the simulated platform), outside `data_dir`.
        sim_platform_file: PathBuf,
        /// Development only (`kms-host run --dev-root-token`): the root
        /// token to initialise a new store with, as `vault server -dev
        /// -dev-root-token-id` does. It crosses the boundary in the clear,
        /// so the host knows it: never use it for keys that matter.
        dev_root_token: Option<String>,
        /// How long each TLS certificate lives; the enclave renews it (new
        /// key, new quote) at half that. Clamped to
        /// [`MIN_CERT_LIFETIME_SECS`]..=[`MAX_CERT_LIFETIME_SECS`].
        cert_lifetime_secs: u64,
        /// Names (DNS names or IP addresses) the TLS certificates are issued
        /// for, so ordinary clients' hostname checks pass. At most
        /// [`MAX_TLS_NAMES`]; each a valid DNS name or IP address.
        tls_names: Vec<String>,
        /// `kms-host run --join https://PEER`: if this machine cannot
        /// unseal the store, ask that running instance for its root key
        /// (attested join) instead of starting sealed.
        #[serde(default)]
        join: Option<String>,
        /// `kms-host run --storage postgres://USER@HOST:PORT/DB`: keep the
        /// key store in that PostgreSQL database, shared with other
        /// replicas, instead of `keys.redb` in the data dir.
        #[serde(default)]
        storage: Option<String>,
        /// `kms-host run --platform tsm`: run as a confidential VM (TDX or
        /// SEV-SNP guest), with evidence from this configfs-tsm report
        /// directory (`/sys/kernel/config/tsm/report`). `None`: the
        /// simulated platform. Choosing it proves nothing: the evidence
        /// says which TEE made it.
        #[serde(default)]
        tsm_report_dir: Option<PathBuf>,
        /// `kms-host run --max-connections`: open connections at most
        /// (`None`: the enclave's default, 1024). The enclave checks it.
        #[serde(default)]
        max_connections: Option<u32>,
        /// `kms-host run --max-connections-per-address`: open connections
        /// from one address at most (`None`: a quarter of the above).
        #[serde(default)]
        max_connections_per_address: Option<u32>,
        /// `kms-host run --unauthenticated-metrics-access` (Vault's
        /// `unauthenticated_metrics_access`): `GET /v1/sys/metrics` needs
        /// no token. Off: a token whose policies grant `read` on
        /// `sys/metrics`.
        #[serde(default)]
        unauthenticated_metrics_access: bool,
        /// `kms-host run --max-request-size`: the largest request body in
        /// bytes (`None`: the enclave's default). The enclave checks it.
        #[serde(default)]
        max_request_size: Option<u64>,
        /// `kms-host run --audit-max-bytes`: move the audit log to a new
        /// file once it holds this many bytes (`None`: never). The enclave
        /// clamps it.
        #[serde(default)]
        audit_max_bytes: Option<u64>,
        /// `kms-host run --audit-max-age`: move the audit log to a new file
        /// once its first entry is this many seconds old (`None`: never).
        #[serde(default)]
        audit_max_age_secs: Option<u64>,
    },
    /// Answer to `init_quote`: the quoting enclave's TARGETINFO (512 bytes,
    /// hex), which the enclave's report must target.
    QeTargetInfo { id: u64, target_info: String },
    /// Answer to `get_quote`: the quote (hex) and, on the simulated platform,
    /// the collateral its provisioning service issued (Intel's
    /// QuoteCollateralV3 JSON form).
    Quote {
        id: u64,
        quote: String,
        collateral: Option<serde_json::Value>,
    },
    /// Answer to `init_quote` or `get_quote` when the quoting service failed.
    QuoteFailed { id: u64, reason: String },
    /// Stop accepting, drain open connections, answer `stopped`, exit.
    /// (Empty braces, not a unit variant: serde only rejects unknown
    /// fields on struct variants.)
    Shutdown {},
}

/// Enclave -> host calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Ocall {
    Hello {
        version: u16,
        identity: Identity,
    },
    /// The enclave will not run (for example its own file does not match its
    /// signature); it exits after sending this.
    Refused {
        reason: String,
    },
    Log {
        level: Level,
        line: String,
    },
    /// Asks for the quoting enclave's TARGETINFO (as `sgx_init_quote`).
    InitQuote {
        id: u64,
    },
    /// Asks the quoting enclave to turn a REPORT (432 bytes, hex) into a
    /// quote. Reports and quotes are public: they carry no secret.
    GetQuote {
        id: u64,
        report: String,
    },
    ServerUp {
        addr: SocketAddr,
    },
    ServerFailed {
        kind: ServerFailure,
        message: String,
    },
    Stopped {},
}

/// The identity the enclave verified from its own signed file. Public values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub mrenclave: String,
    pub mrsigner: String,
    pub product_id: u16,
    pub security_version: u16,
    pub debug: bool,
    pub platform: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerFailure {
    AddressInUse,
    PermissionDenied,
    AddressNotAvailable,
    Other,
}

/// Why the channel could not carry a message.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("channel I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("channel closed in the middle of a frame")]
    Truncated,
    #[error("channel frame of {0} bytes is outside 1..={MAX_FRAME_LEN}")]
    BadLength(usize),
    #[error("malformed channel message: {0}")]
    Malformed(String),
}

/// Reads one message. `Ok(None)` means the peer closed the channel cleanly
/// between frames.
pub async fn read_message<T, R>(reader: &mut R) -> Result<Option<T>, ChannelError>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let mut len = [0u8; 4];
    let first = reader.read(&mut len[..1]).await?;
    if first == 0 {
        return Ok(None);
    }
    read_exact(reader, &mut len[1..]).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME_LEN {
        return Err(ChannelError::BadLength(len));
    }
    let mut payload = vec![0u8; len];
    read_exact(reader, &mut payload).await?;
    serde_json::from_slice(&payload)
        .map(Some)
        .map_err(|e| ChannelError::Malformed(e.to_string()))
}

async fn read_exact<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<(), ChannelError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ChannelError::Truncated),
        Err(e) => Err(e.into()),
    }
}

/// Writes one message as a single frame and flushes it.
pub async fn write_message<T, W>(writer: &mut W, message: &T) -> Result<(), ChannelError>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
{
    let payload =
        serde_json::to_vec(message).map_err(|e| ChannelError::Malformed(e.to_string()))?;
    if payload.len() > MAX_FRAME_LEN {
        return Err(ChannelError::BadLength(payload.len()));
    }
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Cuts a log line to [`MAX_LOG_LINE`] bytes on a character boundary.
pub fn bounded_log_line(line: &str) -> String {
    if line.len() <= MAX_LOG_LINE {
        return line.to_string();
    }
    let mut end = MAX_LOG_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    async fn decode(bytes: &[u8]) -> Result<Option<Ocall>, ChannelError> {
        read_message::<Ocall, _>(&mut &bytes[..]).await
    }

    #[tokio::test]
    async fn round_trip() {
        let messages = [
            Ocall::ServerUp {
                addr: "127.0.0.1:9001".parse().unwrap(),
            },
            Ocall::Log {
                level: Level::Info,
                line: "hello".into(),
            },
            Ocall::Stopped {},
        ];
        let mut buf = Vec::new();
        for m in &messages {
            write_message(&mut buf, m).await.unwrap();
        }
        let mut r = &buf[..];
        for m in &messages {
            assert_eq!(
                read_message::<Ocall, _>(&mut r).await.unwrap().as_ref(),
                Some(m)
            );
        }
        assert!(read_message::<Ocall, _>(&mut r).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn bad_frames_are_errors() {
        let oversized = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        assert!(matches!(
            decode(&oversized).await,
            Err(ChannelError::BadLength(_))
        ));
        assert!(matches!(
            decode(&[0, 0, 0, 0]).await,
            Err(ChannelError::BadLength(0))
        ));
        assert!(matches!(
            decode(&[0, 0]).await,
            Err(ChannelError::Truncated)
        ));
        assert!(matches!(
            decode(&[0, 0, 0, 9, b'{']).await,
            Err(ChannelError::Truncated)
        ));
        for junk in [
            &b"not json"[..],
            br#"{"type":"format_disk"}"#,
            br#"{"type":"stopped","extra":1}"#,
            br#"{"type":"server_up","addr":"nowhere"}"#,
            br#"{"type":"set_up_server","bind":"127.0.0.1","port":1,"keep_server_up":true,"data_dir":"/d","sim_platform_file":"/f","dev_root_token":null,"cert_lifetime_secs":60}"#,
        ] {
            assert!(
                matches!(decode(&frame(junk)).await, Err(ChannelError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(junk)
            );
        }
    }

    #[test]
    fn long_log_lines_are_cut_on_char_boundaries() {
        let line = "é".repeat(MAX_LOG_LINE);
        let cut = bounded_log_line(&line);
        assert!(cut.len() <= MAX_LOG_LINE + 3);
        assert!(cut.ends_with("..."));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = rt.block_on(decode(&bytes));
            let _ = rt.block_on(decode(&frame(&bytes)));
        }

        #[test]
        fn log_lines_round_trip(line in ".{0,200}") {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let m = Ocall::Log { level: Level::Warn, line };
            let mut buf = Vec::new();
            rt.block_on(write_message(&mut buf, &m)).unwrap();
            prop_assert_eq!(rt.block_on(decode(&buf)).unwrap(), Some(m));
        }
    }
}
