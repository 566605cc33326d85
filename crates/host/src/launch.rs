//! `kms-host run`: check the platform, verify the signed enclave, launch it
//! as its own process and talk to it over the boundary channel until a
//! signal says stop.

use std::future::Future;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use minikms_edl::{
    read_message, write_message, ChannelError, Ecall, Ocall, ServerFailure, PROTOCOL_VERSION,
};
use minikms_sigstruct::{verify_image, EnclaveConfig, Identity};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

use crate::quoting::{self, Quoting};
use crate::{io_error, keys, log, sign, HostError};

/// The shipped enclave config, used to sign the development build.
const DEFAULT_CONFIG: &str = include_str!("../../../enclave.toml");
const ENCLAVE_BINARY: &str = "minikms-enclave";
const DEV_KEY: &str = "dev-signing-key.pem";
const DEV_SIGNED: &str = "minikms-enclave.signed";
/// The enclave's own files (sealed), inside the data dir.
const ENCLAVE_DATA: &str = "enclave";
/// The simulated CPU's fuses: the simulated platform's root secrets.
const SIM_PLATFORM_FILE: &str = "sim-platform-fuses";
/// The enclave re-measures itself before it says hello.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping enclave may take to drain before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const SGX_DEVICES: [&str; 3] = ["/dev/sgx_enclave", "/dev/sgx/enclave", "/dev/isgx"];

// `kms-host run`'s flags live with the command (`cli` re-exports them), so
// that `cli` depends on `launch` and not the other way round.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Run on the simulated platform (no TEE hardware needed, NO security).
    #[arg(long)]
    pub simulation: bool,
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
    /// Enclave config used when signing the development build
    /// [default: the enclave.toml built into kms-host].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A signed enclave file. Without it (simulation only), the
    /// minikms-enclave binary next to kms-host is signed with a development
    /// key kept in the data dir.
    pub signed_enclave: Option<PathBuf>,
}

fn parse_tls_name(s: &str) -> Result<String, String> {
    minikms_edl::check_tls_name(s).map(|()| s.to_string())
}

pub fn run(args: RunArgs) -> Result<(), HostError> {
    check_platform(args.simulation)?;
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
    let setup = Ecall::SetUpServer {
        bind: args.bind,
        port: args.port,
        keep_server_up: !args.once,
        data_dir: enclave_dir,
        sim_platform_file: data_dir.join(SIM_PLATFORM_FILE),
        dev_root_token: args.dev_root_token.clone(),
        cert_lifetime_secs: args.tls_cert_lifetime,
        tls_names: tls_names(&args),
    };
    // The host plays the simulated quoting enclave; it opens (or makes) the
    // simulated CPU's fuse file before the enclave does.
    let quoting =
        quoting::Simulated::open(&data_dir.join(SIM_PLATFORM_FILE)).map_err(HostError::Platform)?;
    runtime.block_on(supervise(&signed, &identity, setup, &quoting))
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

fn check_platform(simulation: bool) -> Result<(), HostError> {
    if simulation {
        warn!("simulation mode: the enclave runs as an ordinary process; this proves nothing and protects nothing");
        return Ok(());
    }
    match SGX_DEVICES.iter().find(|d| Path::new(d).exists()) {
        None => Err(HostError::Platform(format!(
            "no SGX hardware on this machine (none of {} exists); \
             run `kms-host run --simulation` to use the simulated platform (no TEE needed, no security)",
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
        // glibc raises its mmap threshold each time a large block is
        // freed, so the store's growing sealed index came from the heap and
        // fragmented it: RSS grew ~3 KB per key created. A fixed threshold
        // gives such blocks back on free (an enclave's memory is small;
        // issue 7 asks peak RSS <= 64 MiB).
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

/// The host end of the boundary channel. Every message from the enclave is
/// untrusted: anything unexpected ends the exchange with an error.
pub async fn converse<R, W>(
    mut from_enclave: R,
    to_enclave: W,
    expected: &Identity,
    setup: Ecall,
    shutdown: impl Future<Output = &'static str>,
    quoting: &dyn Quoting,
) -> Result<(), HostError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let rx = &mut from_enclave;
    let relay = Relay {
        tx: tokio::sync::Mutex::new(to_enclave),
        quoting,
    };
    let relay = &relay;
    // 1. Hello: the enclave checked itself; it must agree with our check.
    let hello = tokio::time::timeout(START_TIMEOUT, next(rx, relay))
        .await
        .map_err(|_| HostError::Launch("the enclave did not start in time".into()))?;
    match hello? {
        Ocall::Hello { version, identity } => {
            if version != PROTOCOL_VERSION {
                return Err(HostError::Launch(format!(
                    "the enclave speaks channel version {version}; this host speaks {PROTOCOL_VERSION}"
                )));
            }
            if identity.mrenclave != expected.mrenclave.to_hex()
                || identity.mrsigner != expected.mrsigner.to_hex()
            {
                return Err(HostError::Launch(format!(
                    "the enclave reports MRENCLAVE {} MRSIGNER {}, not what was verified",
                    log::one_line(&identity.mrenclave),
                    log::one_line(&identity.mrsigner)
                )));
            }
        }
        Ocall::Refused { reason } => {
            return Err(HostError::Launch(format!(
                "the enclave refused to start: {}",
                log::one_line(&reason)
            )))
        }
        other => return Err(unexpected("hello", &other)),
    }

    // 2. set_up_server, answered by server_up or server_failed.
    let Ecall::SetUpServer { bind, port, .. } = &setup else {
        return Err(HostError::Launch(
            "internal: the first call must be set_up_server".into(),
        ));
    };
    let asked = format!("{}", std::net::SocketAddr::new(*bind, *port));
    relay.send(&setup).await?;
    match next(rx, relay).await? {
        Ocall::ServerUp { addr } => {
            let mut out = std::io::stdout();
            use std::io::Write;
            let _ = writeln!(out, "listening on https://{addr}").and_then(|_| out.flush());
        }
        Ocall::ServerFailed { kind, message } => {
            let why = match kind {
                ServerFailure::AddressInUse => {
                    "address already in use (pick another --port, or --port 0 for any free port)"
                }
                ServerFailure::PermissionDenied => {
                    "permission denied (ports below 1024 need privileges)"
                }
                ServerFailure::AddressNotAvailable => "address not available on this machine",
                // The enclave says what failed (opening its store, say).
                ServerFailure::Other => {
                    return Err(HostError::Launch(format!(
                        "the enclave could not start: {}",
                        log::one_line(&message)
                    )))
                }
            };
            return Err(HostError::Launch(format!(
                "cannot listen on {asked}: {why}"
            )));
        }
        other => return Err(unexpected("server_up", &other)),
    }

    // 3. Serve until a signal, or until the enclave stops by itself. One
    // read future lives across the signal: dropping it mid-frame would
    // lose bytes of the channel.
    let stopped = next(rx, relay);
    tokio::pin!(stopped, shutdown);
    tokio::select! {
        message = &mut stopped => return expect_stopped(message?),
        signal = &mut shutdown => {
            info!("received {signal}; stopping the enclave");
            relay.send(&Ecall::Shutdown {}).await?;
        }
    }
    match tokio::time::timeout(STOP_TIMEOUT, stopped).await {
        Ok(message) => expect_stopped(message?),
        Err(_) => Err(HostError::Launch(format!(
            "the enclave did not stop within {STOP_TIMEOUT:?}"
        ))),
    }
}

fn expect_stopped(message: Ocall) -> Result<(), HostError> {
    match message {
        Ocall::Stopped {} => {
            info!("the enclave stopped");
            Ok(())
        }
        other => Err(unexpected("stopped", &other)),
    }
}

/// What the host writes to the enclave, and the quoting service it runs
/// for it (as aesmd and the quoting enclave do on a real machine).
struct Relay<'q, W> {
    tx: tokio::sync::Mutex<W>,
    quoting: &'q dyn Quoting,
}

impl<W: AsyncWrite + Unpin> Relay<'_, W> {
    async fn send(&self, call: &Ecall) -> Result<(), HostError> {
        let mut tx = self.tx.lock().await;
        write_message(&mut *tx, call).await.map_err(channel_error)?;
        tx.flush().await.map_err(|e| channel_error(e.into()))
    }

    /// Answers a quote request. Failures go back to the enclave (its
    /// attestation fails), not to our exit status.
    async fn serve(&self, request: Ocall) -> Result<(), HostError> {
        let answer = match request {
            Ocall::InitQuote { id } => match self.quoting.target_info() {
                Ok(ti) => Ecall::QeTargetInfo {
                    id,
                    target_info: hex::encode(ti),
                },
                Err(reason) => Ecall::QuoteFailed { id, reason },
            },
            Ocall::GetQuote { id, report } => {
                let quoted = hex::decode(&report)
                    .map_err(|_| "the report is not hex".to_string())
                    .and_then(|report| self.quoting.quote(&report));
                match quoted {
                    Ok((quote, collateral)) => Ecall::Quote {
                        id,
                        quote: hex::encode(quote),
                        collateral,
                    },
                    Err(reason) => {
                        warn!("quote request {id} failed: {reason}");
                        Ecall::QuoteFailed { id, reason }
                    }
                }
            }
            other => return Err(unexpected("a quote request", &other)),
        };
        self.send(&answer).await
    }
}

/// The next message that is not a log line or a quote request (those are
/// handled on the way).
async fn next<R, W>(rx: &mut R, relay: &Relay<'_, W>) -> Result<Ocall, HostError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        match read_message::<Ocall, _>(rx).await.map_err(channel_error)? {
            Some(Ocall::Log { level, line }) => log::enclave_line(level, &line),
            Some(request @ (Ocall::InitQuote { .. } | Ocall::GetQuote { .. })) => {
                relay.serve(request).await?
            }
            Some(message) => return Ok(message),
            None => {
                return Err(HostError::Launch(
                    "the enclave exited unexpectedly (channel closed)".into(),
                ))
            }
        }
    }
}

fn channel_error(e: ChannelError) -> HostError {
    HostError::Launch(format!("enclave channel: {e}"))
}

fn unexpected(wanted: &str, got: &Ocall) -> HostError {
    let name = match got {
        Ocall::Hello { .. } => "hello",
        Ocall::Refused { .. } => "refused",
        Ocall::Log { .. } => "log",
        Ocall::ServerUp { .. } => "server_up",
        Ocall::ServerFailed { .. } => "server_failed",
        Ocall::Stopped {} => "stopped",
        Ocall::InitQuote { .. } => "init_quote",
        Ocall::GetQuote { .. } => "get_quote",
    };
    HostError::Launch(format!("enclave channel: expected {wanted}, got {name}"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use minikms_sigstruct::Measurement;
    use tokio::io::{duplex, AsyncReadExt};

    fn identity() -> Identity {
        Identity {
            mrenclave: Measurement([1; 32]),
            mrsigner: Measurement([2; 32]),
            product_id: 1,
            security_version: 1,
            attributes: [0; 16],
            debug: true,
        }
    }

    fn hello(version: u16, mrenclave: Measurement) -> Ocall {
        Ocall::Hello {
            version,
            identity: minikms_edl::Identity {
                mrenclave: mrenclave.to_hex(),
                mrsigner: identity().mrsigner.to_hex(),
                product_id: 1,
                security_version: 1,
                debug: true,
                platform: "simulation".into(),
            },
        }
    }

    fn test_setup() -> Ecall {
        Ecall::SetUpServer {
            bind: [127, 0, 0, 1].into(),
            port: 0,
            keep_server_up: true,
            data_dir: "/nonexistent".into(),
            sim_platform_file: "/nonexistent".into(),
            dev_root_token: None,
            cert_lifetime_secs: 60,
            tls_names: vec!["localhost".into()],
        }
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    async fn encode(messages: &[Ocall]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            write_message(&mut out, m).await.unwrap();
        }
        out
    }

    /// Runs the host side against a fake enclave that sends `script`.
    async fn against(script: Vec<u8>) -> Result<(), HostError> {
        let (mut enclave_out, host_in) = duplex(1 << 20);
        let (host_out, mut enclave_in) = duplex(1 << 20);
        enclave_out.write_all(&script).await.unwrap();
        drop(enclave_out); // then end of file
        let setup = test_setup();
        let never = std::future::pending::<&'static str>();
        let result = converse(
            host_in,
            host_out,
            &identity(),
            setup,
            never,
            &quoting::Unavailable,
        )
        .await;
        // Drain what the host sent so its writes never block.
        let mut sent = Vec::new();
        enclave_in.read_to_end(&mut sent).await.unwrap();
        result
    }

    fn error_of(result: Result<(), HostError>) -> String {
        result.expect_err("should fail").to_string()
    }

    #[tokio::test]
    async fn a_well_behaved_enclave_is_served_and_stopped() {
        let (mut enclave_out, host_in) = duplex(1 << 16);
        let (host_out, mut enclave_in) = duplex(1 << 16);
        let log = Ocall::Log {
            level: minikms_edl::Level::Info,
            line: "hi".into(),
        };
        let fake_enclave = tokio::spawn(async move {
            let w = &mut enclave_out;
            write_message(w, &hello(PROTOCOL_VERSION, identity().mrenclave))
                .await
                .unwrap();
            write_message(w, &log).await.unwrap();
            let setup = read_message::<Ecall, _>(&mut enclave_in).await.unwrap();
            assert!(matches!(
                setup,
                Some(Ecall::SetUpServer {
                    port: 0,
                    keep_server_up: true,
                    ..
                })
            ));
            let up = Ocall::ServerUp {
                addr: "127.0.0.1:4433".parse().unwrap(),
            };
            write_message(w, &up).await.unwrap();
            write_message(w, &log).await.unwrap();
            let stop = read_message::<Ecall, _>(&mut enclave_in).await.unwrap();
            assert_eq!(stop, Some(Ecall::Shutdown {}));
            write_message(w, &Ocall::Stopped {}).await.unwrap();
        });
        let setup = test_setup();
        let signal = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "SIGTERM"
        };
        converse(host_in, host_out, &identity(), setup, signal, &FakeQe)
            .await
            .unwrap();
        fake_enclave.await.unwrap();
    }

    /// A quoting service that quotes by reversing the report.
    struct FakeQe;

    impl Quoting for FakeQe {
        fn target_info(&self) -> Result<Vec<u8>, String> {
            Ok(vec![7; 512])
        }

        fn quote(&self, report: &[u8]) -> Result<(Vec<u8>, Option<serde_json::Value>), String> {
            if report.len() != 432 {
                return Err("bad report length".into());
            }
            Ok((
                report.iter().rev().copied().collect(),
                Some(serde_json::json!({"c": 1})),
            ))
        }
    }

    #[tokio::test]
    async fn quote_requests_are_answered_while_serving() {
        let (mut enclave_out, host_in) = duplex(1 << 16);
        let (host_out, mut enclave_in) = duplex(1 << 16);
        let fake_enclave = tokio::spawn(async move {
            let w = &mut enclave_out;
            write_message(w, &hello(PROTOCOL_VERSION, identity().mrenclave))
                .await
                .unwrap();
            let _setup = read_message::<Ecall, _>(&mut enclave_in).await.unwrap();
            let up = Ocall::ServerUp {
                addr: "127.0.0.1:4433".parse().unwrap(),
            };
            write_message(w, &up).await.unwrap();
            let mut answers = Vec::new();
            for request in [
                Ocall::InitQuote { id: 1 },
                Ocall::GetQuote {
                    id: 2,
                    report: hex::encode([1u8; 432]),
                },
                Ocall::GetQuote {
                    id: 3,
                    report: "zz".into(),
                },
                Ocall::GetQuote {
                    id: 4,
                    report: hex::encode([1u8; 10]),
                },
            ] {
                write_message(w, &request).await.unwrap();
                answers.push(
                    read_message::<Ecall, _>(&mut enclave_in)
                        .await
                        .unwrap()
                        .unwrap(),
                );
            }
            write_message(w, &Ocall::Stopped {}).await.unwrap();
            answers
        });
        let never = std::future::pending::<&'static str>();
        converse(host_in, host_out, &identity(), test_setup(), never, &FakeQe)
            .await
            .unwrap();
        let answers = fake_enclave.await.unwrap();
        assert_eq!(
            answers[0],
            Ecall::QeTargetInfo {
                id: 1,
                target_info: hex::encode([7u8; 512])
            }
        );
        assert_eq!(
            answers[1],
            Ecall::Quote {
                id: 2,
                quote: hex::encode([1u8; 432]),
                collateral: Some(serde_json::json!({"c": 1}))
            }
        );
        assert!(
            matches!(&answers[2], Ecall::QuoteFailed { id: 3, reason } if reason.contains("not hex"))
        );
        assert!(
            matches!(&answers[3], Ecall::QuoteFailed { id: 4, reason } if reason.contains("bad report length"))
        );
    }

    #[tokio::test]
    async fn a_misbehaving_enclave_ends_the_exchange_with_an_error() {
        let good_hello = encode(&[hello(PROTOCOL_VERSION, identity().mrenclave)]).await;
        let up = encode(&[Ocall::ServerUp {
            addr: "127.0.0.1:1".parse().unwrap(),
        }])
        .await;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "the enclave exited unexpectedly"),
            (
                vec![0xff, 0xff, 0xff, 0xff],
                "channel frame of 4294967295 bytes is outside",
            ),
            (vec![0, 0, 0, 9, b'{'], "closed in the middle of a frame"),
            (
                frame(b"{\"type\":\"launch_missiles\"}"),
                "malformed channel message",
            ),
            (
                encode(&[hello(PROTOCOL_VERSION + 1, identity().mrenclave)]).await,
                "speaks channel version",
            ),
            (
                encode(&[hello(PROTOCOL_VERSION, Measurement([9; 32]))]).await,
                "not what was verified",
            ),
            (
                encode(&[Ocall::Refused {
                    reason: "bad\u{1b}[2Jmeasurement".into(),
                }])
                .await,
                "the enclave refused to start: bad [2Jmeasurement",
            ),
            (up.clone(), "expected hello, got server_up"),
            (
                [good_hello.clone(), good_hello.clone()].concat(),
                "expected server_up, got hello",
            ),
            (
                [good_hello.clone(), up.clone(), up.clone()].concat(),
                "expected stopped, got server_up",
            ),
            (
                [good_hello.clone(), up].concat(),
                "the enclave exited unexpectedly",
            ),
        ];
        for (script, want) in cases {
            let err = error_of(against(script).await);
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }
}
