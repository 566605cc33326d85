//! `kms-host run`: check the platform, verify the signed enclave, launch it
//! as its own process and talk to it over the boundary channel until a
//! signal says stop.

use std::future::Future;
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

use crate::cli::RunArgs;
use crate::{io_error, keys, log, sign, HostError};

/// The shipped enclave config, used to sign the development build.
const DEFAULT_CONFIG: &str = include_str!("../../../enclave.toml");
const ENCLAVE_BINARY: &str = "minikms-enclave";
const DEV_KEY: &str = "dev-signing-key.pem";
const DEV_SIGNED: &str = "minikms-enclave.signed";
/// The enclave re-measures itself before it says hello.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping enclave may take to drain before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const SGX_DEVICES: [&str; 3] = ["/dev/sgx_enclave", "/dev/sgx/enclave", "/dev/isgx"];

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
    let setup = Ecall::SetUpServer {
        bind: args.bind,
        port: args.port,
        keep_server_up: !args.once,
    };
    runtime.block_on(supervise(&signed, &identity, setup))
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
async fn supervise(signed: &Path, identity: &Identity, setup: Ecall) -> Result<(), HostError> {
    let signals = Signals::install()?;
    let mut child = Command::new(signed)
        .env_clear()
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
    let result = converse(stdout, stdin, identity, setup, signals.next()).await;
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
    mut to_enclave: W,
    expected: &Identity,
    setup: Ecall,
    shutdown: impl Future<Output = &'static str>,
) -> Result<(), HostError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let rx = &mut from_enclave;
    // 1. Hello: the enclave checked itself; it must agree with our check.
    let hello = tokio::time::timeout(START_TIMEOUT, next(rx))
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
    send(&mut to_enclave, &setup).await?;
    match next(rx).await? {
        Ocall::ServerUp { addr } => {
            let mut out = std::io::stdout();
            use std::io::Write;
            let _ = writeln!(out, "listening on https://{addr}").and_then(|_| out.flush());
        }
        Ocall::ServerFailed { kind, message } => {
            let why = match kind {
                ServerFailure::AddressInUse => {
                    "address already in use (pick another --port, or --port 0 for any free port)"
                        .to_string()
                }
                ServerFailure::PermissionDenied => {
                    "permission denied (ports below 1024 need privileges)".to_string()
                }
                ServerFailure::AddressNotAvailable => {
                    "address not available on this machine".to_string()
                }
                ServerFailure::Other => log::one_line(&message),
            };
            return Err(HostError::Launch(format!(
                "cannot listen on {asked}: {why}"
            )));
        }
        other => return Err(unexpected("server_up", &other)),
    }

    // 3. Serve until a signal, or until the enclave stops by itself.
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            message = next(rx) => match message? {
                Ocall::Stopped => {
                    info!("the enclave stopped");
                    return Ok(());
                }
                other => return Err(unexpected("log or stopped", &other)),
            },
            signal = &mut shutdown => {
                info!("received {signal}; stopping the enclave");
                send(&mut to_enclave, &Ecall::Shutdown).await?;
                break;
            }
        }
    }
    let drained = tokio::time::timeout(STOP_TIMEOUT, async {
        loop {
            match next(rx).await? {
                Ocall::Stopped => return Ok(()),
                other => return Err(unexpected("stopped", &other)),
            }
        }
    })
    .await;
    match drained {
        Ok(result) => result.map(|()| info!("the enclave stopped")),
        Err(_) => Err(HostError::Launch(format!(
            "the enclave did not stop within {STOP_TIMEOUT:?}"
        ))),
    }
}

/// The next message that is not a log line (those are printed on the way).
async fn next<R: AsyncRead + Unpin>(rx: &mut R) -> Result<Ocall, HostError> {
    loop {
        match read_message::<Ocall, _>(rx).await.map_err(channel_error)? {
            Some(Ocall::Log { level, line }) => log::enclave_line(level, &line),
            Some(message) => return Ok(message),
            None => {
                return Err(HostError::Launch(
                    "the enclave exited unexpectedly (channel closed)".into(),
                ))
            }
        }
    }
}

async fn send<W: AsyncWrite + Unpin>(tx: &mut W, call: &Ecall) -> Result<(), HostError> {
    write_message(tx, call).await.map_err(channel_error)?;
    tx.flush().await.map_err(|e| channel_error(e.into()))
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
        Ocall::Stopped => "stopped",
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
