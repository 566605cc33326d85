//! `kms-host run`: check the platform, verify the signed enclave, launch it
//! as its own process and talk to it over the boundary channel until a
//! signal says stop.

use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use minikms_edl::Ecall;
use minikms_sigstruct::{verify_image, EnclaveConfig, Identity};
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

use crate::boundary::converse;
use crate::log::LogFormat;
use crate::quoting::{self, Quoting};
use crate::{io_error, keys, ship, sign, HostError};

/// The shipped enclave config, used to sign the development build.
const DEFAULT_CONFIG: &str = include_str!("../../../enclave.toml");
const ENCLAVE_BINARY: &str = "minikms-enclave";
const DEV_KEY: &str = "dev-signing-key.pem";
const DEV_SIGNED: &str = "minikms-enclave.signed";
/// The enclave's own files (sealed), inside the data dir.
const ENCLAVE_DATA: &str = "enclave";
/// The simulated CPU's fuses: the simulated platform's root secrets.
const SIM_PLATFORM_FILE: &str = "sim-platform-fuses";
/// The enclave's audit log, in its data dir (`--audit-stdout` reads it).
const AUDIT_LOG: &str = "audit.log";
const SGX_DEVICES: [&str; 3] = ["/dev/sgx_enclave", "/dev/sgx/enclave", "/dev/isgx"];

// `kms-host run`'s flags live with the command (`cli` re-exports them), so
// that `cli` depends on `launch` and not the other way round.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Run on the simulated platform (no TEE hardware needed, NO security);
    /// the same as `--platform simulation`.
    #[arg(long, conflicts_with = "platform")]
    pub simulation: bool,
    /// The TEE to run on: `simulation` (no TEE, NO security), or `tsm`, a
    /// confidential VM (Intel TDX or AMD SEV-SNP guest) whose evidence
    /// comes from the kernel's configfs-tsm interface. A CVM has no
    /// sealing key: the key store starts sealed at every start and opens
    /// with recovery shares (`minikms unseal`) or `--join`.
    #[arg(long, value_enum, value_name = "PLATFORM")]
    pub platform: Option<PlatformArg>,
    /// `--platform tsm`: the configfs-tsm report directory.
    #[arg(long, value_name = "DIR", default_value = TSM_REPORT_DIR, requires = "platform")]
    pub tsm_report_dir: PathBuf,
    /// TCP port to serve HTTPS on; 0 picks a free one.
    #[arg(long, default_value_t = 9001)]
    pub port: u16,
    /// Address to bind. The default serves this machine only; use 0.0.0.0
    /// (or ::) to serve the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Where the host keeps its files [default: $XDG_DATA_HOME/minikms or
    /// ~/.local/share/minikms].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Serve a single connection, then stop (the tutorial's
    /// keep_server_up = false). Without it the server stays up until
    /// SIGINT or SIGTERM.
    #[arg(long)]
    pub once: bool,
    /// Lifetime of the enclave's TLS certificates, in seconds; each is
    /// renewed (new key, new attestation evidence) at half its lifetime.
    #[arg(long, default_value_t = 86400, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(2..=397 * 24 * 3600))]
    pub tls_cert_lifetime: u64,
    /// A name (DNS name or IP address) for the enclave's TLS certificates,
    /// for clients that check hostnames against the enclave's CA; repeat
    /// for more [default: localhost and the bind address, or 127.0.0.1
    /// when binding to all addresses].
    #[arg(long = "tls-name", value_name = "NAME", value_parser = parse_tls_name)]
    pub tls_names: Vec<String>,
    /// Development only: initialise a new key store with this root token
    /// (like `vault server -dev -dev-root-token-id`). The host sees it, so
    /// never use it for keys that matter.
    #[arg(long, value_name = "ID")]
    pub dev_root_token: Option<String>,
    /// If this machine cannot unseal the key store (a copy from another
    /// machine), get its root key from this running instance, after each
    /// side verified the other's enclave (attested join), instead of
    /// starting sealed.
    #[arg(long, value_name = "https://PEER", value_parser = parse_join_url)]
    pub join: Option<String>,
    /// Keep the key store in this PostgreSQL database instead of a file in
    /// the data dir, shared with other replicas started with the same
    /// --storage (and --join). The database sees only sealed records.
    #[arg(long, value_name = "postgres://USER@HOST:PORT/DB", value_parser = parse_storage_url)]
    pub storage: Option<String>,
    /// Open connections at most; when all are taken, a client from an
    /// address holding less than its fair share still gets in (an idle
    /// connection of the address holding the most is closed for it)
    /// [default: 1024].
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: Option<u32>,
    /// Open connections from one address (IPv4, or IPv6 /64) at most
    /// [default: a quarter of --max-connections].
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections_per_address: Option<u32>,
    /// Serve `GET /v1/sys/metrics` to anyone, without a token (Vault's
    /// unauthenticated_metrics_access); by default it needs a token whose
    /// policies grant `read` on `sys/metrics`. The metrics hold no key
    /// names, token ids or addresses, only counts and latencies.
    #[arg(long)]
    pub unauthenticated_metrics_access: bool,
    /// Read the settings of this command from a TOML file: its keys are
    /// the long flag names (`port = 9443`, `data-dir = "..."`); MINIKMS_…
    /// environment variables (MINIKMS_PORT, …) override it, and flags
    /// override both. `kms-host check-config FILE` shows the result.
    #[arg(long, value_name = "FILE")]
    pub server_config: Option<PathBuf>,
    /// Log lines as text for people, or as one JSON object a line
    /// (timestamp, level, component, message) for log shippers; the
    /// enclave's lines too.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// The largest request body in bytes, 65536 to 33554432 (Vault's
    /// default `max_request_size`, for an enclave given the memory)
    /// [default: 4194304, from the enclave's memory budget: docs/operations.md].
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(65_536..=33_554_432))]
    pub max_request_size: Option<u64>,
    /// Move the audit log to a new file (`audit.log.SEQ`) once it holds
    /// this many bytes (at least 65536); the new file continues the chain.
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(65_536..))]
    pub audit_max_bytes: Option<u64>,
    /// Move the audit log to a new file once its first entry is this old:
    /// seconds, or a number with s, m, h or d (e.g. 24h).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub audit_max_age: Option<u64>,
    /// Also print every audit entry, as the enclave writes it (one signed
    /// JSON object per line), on stdout after the `listening on` line, for
    /// a log shipper.
    #[arg(long)]
    pub audit_stdout: bool,
    /// Enclave config used when signing the development build
    /// [default: the enclave.toml built into kms-host].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A signed enclave file. Without it (simulation only), the
    /// minikms-enclave binary next to kms-host is signed with a development
    /// key kept in the data dir.
    pub signed_enclave: Option<PathBuf>,
}

/// The platforms `kms-host run --platform` selects; SGX under Gramine is
/// launched by gramine-sgx, not by kms-host (deploy/gramine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlatformArg {
    /// The simulated SGX platform (no TEE, NO security).
    Simulation,
    /// A confidential VM through Linux configfs-tsm (TDX or SEV-SNP).
    Tsm,
}

/// Where Linux (6.7 and later) mounts the configfs-tsm report interface.
const TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";

/// A flag's value that its parser refused (clap shows the message).
#[derive(Debug, thiserror::Error)]
enum FlagError {
    #[error("{0:?}: give the peer as https://HOST:PORT")]
    JoinUrl(String),
    #[error("{0:?}: give the database as postgres://USER@HOST:PORT/DB")]
    StorageUrl(String),
    #[error(transparent)]
    TlsName(#[from] minikms_edl::BadTlsName),
    #[error(
        "{0:?}: give an age of at least 1 s as SECONDS, or a number with s, m, h or d (e.g. 24h)"
    )]
    Age(String),
}

/// `--audit-max-age`: `N`, `Ns`, `Nm`, `Nh` or `Nd`, in seconds.
fn parse_age(text: &str) -> Result<u64, FlagError> {
    let bad = || FlagError::Age(text.to_string());
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(scale).filter(|&s| s >= 1).ok_or_else(bad)
}

/// `https://HOST:PORT`.
fn parse_join_url(url: &str) -> Result<String, FlagError> {
    let authority = url.strip_prefix("https://").unwrap_or_default();
    let authority = authority.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
        return Err(FlagError::JoinUrl(url.to_string()));
    }
    Ok(format!("https://{authority}"))
}

/// `postgres://…` or `postgresql://…`.
fn parse_storage_url(url: &str) -> Result<String, FlagError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_string())
    } else {
        Err(FlagError::StorageUrl(url.to_string()))
    }
}

fn parse_tls_name(s: &str) -> Result<String, FlagError> {
    minikms_edl::check_tls_name(s)?;
    Ok(s.to_string())
}

pub fn run(args: RunArgs) -> Result<(), HostError> {
    let platform = if args.simulation {
        Some(PlatformArg::Simulation)
    } else {
        args.platform
    };
    check_platform(platform, &args.tsm_report_dir)?;
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => default_data_dir()?,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data_dir)
        .map_err(|e| io_error("create the data dir", &data_dir, e))?;

    let signed = match &args.signed_enclave {
        Some(path) => path.clone(),
        None => sign_dev_build(&data_dir, args.config.as_deref())?,
    };
    let bytes = std::fs::read(&signed).map_err(|e| io_error("read", &signed, e))?;
    let (identity, _) = verify_image(&bytes)?;
    drop(bytes);
    info!(
        "verified {}: MRENCLAVE {} MRSIGNER {} ProductID {} SecurityVersion {} Debug {}",
        signed.display(),
        identity.mrenclave,
        identity.mrsigner,
        identity.product_id,
        identity.security_version,
        identity.debug
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| HostError::Launch(format!("cannot start the async runtime: {e}")))?;
    let enclave_dir = data_dir.join(ENCLAVE_DATA);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&enclave_dir)
        .map_err(|e| io_error("create the enclave's data dir", &enclave_dir, e))?;
    let enclave_dir_for_log = enclave_dir.clone();
    let setup = Ecall::SetUpServer {
        bind: args.bind,
        port: args.port,
        keep_server_up: !args.once,
        data_dir: enclave_dir,
        sim_platform_file: data_dir.join(SIM_PLATFORM_FILE),
        dev_root_token: args.dev_root_token.clone(),
        cert_lifetime_secs: args.tls_cert_lifetime,
        tls_names: tls_names(&args),
        join: args.join.clone(),
        storage: args.storage.clone(),
        tsm_report_dir: (platform == Some(PlatformArg::Tsm)).then(|| args.tsm_report_dir.clone()),
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_address,
        unauthenticated_metrics_access: args.unauthenticated_metrics_access,
        max_request_size: args.max_request_size,
        audit_max_bytes: args.audit_max_bytes,
        audit_max_age_secs: args.audit_max_age,
    };
    let quoting: Box<dyn Quoting> = match platform {
        // In a CVM the enclave asks the kernel itself; the host quotes nothing.
        Some(PlatformArg::Tsm) => Box::new(quoting::Unavailable),
        // The host plays the simulated quoting enclave; it opens (or makes)
        // the simulated CPU's fuse file before the enclave does.
        _ => Box::new(
            quoting::Simulated::open(&data_dir.join(SIM_PLATFORM_FILE))
                .map_err(|e| HostError::Platform(e.to_string()))?,
        ),
    };
    let shipper = args
        .audit_stdout
        .then(|| ship::Shipper::from_now(enclave_dir_for_log.join(AUDIT_LOG)));
    runtime.block_on(async {
        let Some(shipper) = shipper else {
            return supervise(&signed, &identity, setup, quoting.as_ref()).await;
        };
        let shipper = std::sync::Arc::new(std::sync::Mutex::new(shipper));
        let following = tokio::spawn(ship::follow(shipper.clone()));
        let result = supervise(&signed, &identity, setup, quoting.as_ref()).await;
        following.abort();
        ship::finish(&shipper);
        result
    })
}

/// The certificate names: as given, else localhost and the bind address
/// (127.0.0.1 when binding to every address).
fn tls_names(args: &RunArgs) -> Vec<String> {
    if !args.tls_names.is_empty() {
        return args.tls_names.clone();
    }
    let ip = if args.bind.is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        args.bind
    };
    vec!["localhost".into(), ip.to_string()]
}

fn check_platform(platform: Option<PlatformArg>, tsm_report_dir: &Path) -> Result<(), HostError> {
    match platform {
        Some(PlatformArg::Simulation) => {
            warn!("simulation mode: the enclave runs as an ordinary process; this proves nothing and protects nothing");
            return Ok(());
        }
        Some(PlatformArg::Tsm) if tsm_report_dir.is_dir() => {
            info!(
                "confidential VM: evidence from configfs-tsm at {}; no sealing key, so the key store \
                 starts sealed until recovery shares or --join give its root key",
                tsm_report_dir.display()
            );
            return Ok(());
        }
        Some(PlatformArg::Tsm) => {
            return Err(HostError::Platform(format!(
                "no configfs-tsm report interface at {} (a TDX or SEV-SNP guest with Linux 6.7 or \
                 later and configfs mounted has one; see deploy/tdx.md and deploy/sev-snp.md)",
                tsm_report_dir.display()
            )))
        }
        None => {}
    }
    match SGX_DEVICES.iter().find(|d| Path::new(d).exists()) {
        None => Err(HostError::Platform(format!(
            "no SGX hardware on this machine (none of {} exists); \
             run `kms-host run --simulation` to use the simulated platform (no TEE needed, no security), \
             or `kms-host run --platform tsm` inside a TDX or SEV-SNP confidential VM",
            SGX_DEVICES.join(", ")
        ))),
        Some(device) => Err(HostError::Platform(format!(
            "SGX hardware found ({device}), but launching on it through gramine-sgx is not supported yet; \
             run `kms-host run --simulation` meanwhile"
        ))),
    }
}

/// `$XDG_DATA_HOME/minikms`, else `~/.local/share/minikms`.
fn default_data_dir() -> Result<PathBuf, HostError> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(xdg) = from("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("minikms"));
    }
    match from("HOME") {
        Some(home) => Ok(home.join(".local/share/minikms")),
        None => Err(HostError::Usage(
            "cannot find a data dir (HOME is not set); pass --data-dir".into(),
        )),
    }
}

/// Signs the `minikms-enclave` next to this executable with the
/// development key from the data dir (made on first use).
fn sign_dev_build(data_dir: &Path, config: Option<&Path>) -> Result<PathBuf, HostError> {
    let exe = std::env::current_exe()
        .map_err(|e| HostError::Usage(format!("cannot locate kms-host itself: {e}")))?;
    let enclave = exe.with_file_name(ENCLAVE_BINARY);
    if !enclave.is_file() {
        return Err(HostError::Usage(format!(
            "no enclave binary at {}; build it (cargo build --workspace) or pass a signed enclave file",
            enclave.display()
        )));
    }
    let config = match config {
        Some(path) => sign::read_config(path)?,
        None => EnclaveConfig::from_toml(DEFAULT_CONFIG)?,
    };
    let key_path = data_dir.join(DEV_KEY);
    let key = if key_path.exists() {
        keys::load(&key_path)?
    } else {
        info!(
            "creating a development signing key at {}",
            key_path.display()
        );
        keys::generate(&key_path)?
    };
    let out = data_dir.join(DEV_SIGNED);
    let identity = sign::sign_file(&key, &config, &enclave, &out)?;
    info!(
        "signed {} with the development key {} (MRSIGNER {}) into {}",
        enclave.display(),
        key_path.display(),
        identity.mrsigner,
        out.display()
    );
    Ok(out)
}

/// Starts the enclave process and runs the conversation; makes sure the
/// process is gone when this returns.
async fn supervise(
    signed: &Path,
    identity: &Identity,
    setup: Ecall,
    quoting: &dyn Quoting,
) -> Result<(), HostError> {
    let signals = Signals::install()?;
    let mut child = Command::new(signed)
        .env_clear()
        // The enclave's own heap is mimalloc's; glibc's malloc still serves
        // aws-lc's C code, and glibc raises its mmap threshold each time a
        // large block is freed, which fragments the heap. A fixed threshold
        // gives such blocks back on free (an enclave's memory is small).
        .env("MALLOC_MMAP_THRESHOLD_", "131072")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group: a terminal's Ctrl-C reaches the host,
        // which then stops the enclave in order.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                " (is the signed file executable? chmod +x it)"
            } else {
                ""
            };
            HostError::Launch(format!("cannot launch {}: {e}{hint}", signed.display()))
        })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(HostError::Launch(
            "the enclave's channel pipes are missing".into(),
        ));
    };
    let result = converse(stdout, stdin, identity, setup, signals.next(), quoting).await;
    let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = child.kill().await;
            None
        }
    };
    match (&result, status) {
        (Ok(()), Some(s)) if !s.success() => {
            Err(HostError::Launch(format!("the enclave exited with {s}")))
        }
        _ => result,
    }
}

/// SIGINT and SIGTERM, installed before the enclave starts.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, HostError> {
        let install = |kind| {
            signal(kind).map_err(|e| HostError::Launch(format!("cannot handle signals: {e}")))
        };
        Ok(Self {
            term: install(SignalKind::terminate())?,
            int: install(SignalKind::interrupt())?,
        })
    }

    async fn next(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
