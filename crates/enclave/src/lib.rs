//! The trusted side of minikms: everything in this crate runs inside the
//! enclave. The binary built from it is what is measured (MRENCLAVE) and
//! signed (MRSIGNER); the host is not.
//!
//! Layout:
//! - [`channel`]: our end of the boundary channel (ECALLs in, OCALLs out),
//!   including the log forwarder. Nothing secret is ever written there.
//! - [`platform`]: what the TEE gives us (identity, randomness), behind one
//!   trait; [`platform::Simulation`] is the software implementation.
//! - [`tls`]: the TLS 1.3 server key and certificate, made here at start.
//! - [`server`]: the HTTPS accept loop, connection limits, graceful shutdown.
//! - [`api`]: the HTTP routes, one module per operation.
//! - [`transit`]: managed keys in a sealed store, behind Vault's Transit API.
//! - [`audit`]: the signed, hash-chained audit log of every `/v1` request.
//!
//! Start-up order: verify our own signed file (as EINIT would), say hello
//! to the host, wait for `set_up_server`, serve until `shutdown`.

pub mod api;
pub mod audit;
pub mod ca;
pub mod channel;
pub mod platform;
pub mod server;
pub mod store;
pub mod tls;
pub mod transit;

use std::process::ExitCode;
use std::sync::Arc;

use minikms_edl::{Ecall, Ocall, ServerFailure};
use tokio::sync::watch;
use tracing::{error, info};

use crate::channel::Channel;
use minikms_sigstruct::{EnclaveConfig, Identity};

use crate::platform::{Gramine, Platform, Simulation};

/// Entry point of the enclave binary.
pub fn main() -> ExitCode {
    // The self-check runs before anything else: an enclave that does not
    // match its signature must not even start its thread pools. Under
    // Gramine the CPU already checked us (EINIT) and tells us who we are.
    let checked = if Gramine::detect() {
        Gramine::open(std::path::Path::new(platform::gramine::DEV_ATTESTATION))
            .map(Start::Gramine)
            .map_err(|e| format!("cannot use Gramine's attestation interface: {e}"))
    } else {
        platform::self_check().map(|(identity, config)| Start::Simulation(identity, config))
    };
    let threads = match &checked {
        Ok(start) => usize::try_from(start.config().num_tcs).unwrap_or(1).max(1),
        Err(_) => 1,
    };
    // NumTCS caps the threads inside the enclave; it is not a wish for
    // that many. Worker threads beyond the CPUs only park, wake and steal
    // from each other (issue 7: 4 workers on 2 cores cost ~5 points of the
    // encrypt/health ratio).
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.min(cpus))
        .max_blocking_threads(threads)
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        return ExitCode::FAILURE;
    };
    let code = runtime.block_on(async move {
        let channel = Channel::open();
        let start = match checked {
            Ok(start) => start,
            Err(e) => {
                channel
                    .send_and_close(Ocall::Refused {
                        reason: e.to_string(),
                    })
                    .await;
                return ExitCode::FAILURE;
            }
        };
        channel.install_logger();
        run(channel, start).await
    });
    // The channel reader may sit in a blocking read of stdin: don't wait.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// Who we are, before the platform is fully up.
enum Start {
    /// Verified from our own signed file; the platform opens once the host
    /// says where its fuse file is.
    Simulation(Identity, EnclaveConfig),
    Gramine(Gramine),
}

impl Start {
    fn config(&self) -> &EnclaveConfig {
        match self {
            Start::Simulation(_, config) => config,
            Start::Gramine(g) => g.config(),
        }
    }

    fn hello(&self) -> minikms_edl::Identity {
        match self {
            Start::Simulation(identity, _) => platform::edl_identity(identity, "simulation"),
            Start::Gramine(g) => platform::edl_identity(g.identity(), g.name()),
        }
    }
}

async fn run(mut channel: Channel, start: Start) -> ExitCode {
    channel
        .send(Ocall::Hello {
            version: minikms_edl::PROTOCOL_VERSION,
            identity: start.hello(),
        })
        .await;
    let (setup, keep_server_up) = match channel.recv().await {
        Some(Ecall::SetUpServer {
            bind,
            port,
            keep_server_up,
            data_dir,
            sim_platform_file,
            dev_root_token,
            cert_lifetime_secs,
            tls_names,
        }) => (
            SetUp {
                bind,
                port,
                data_dir,
                sim_platform_file,
                dev_root_token: dev_root_token.map(zeroize::Zeroizing::new),
                cert_lifetime: std::time::Duration::from_secs(cert_lifetime_secs.clamp(
                    minikms_edl::MIN_CERT_LIFETIME_SECS,
                    minikms_edl::MAX_CERT_LIFETIME_SECS,
                )),
                tls_names,
            },
            keep_server_up,
        ),
        Some(other) => {
            error!("expected set_up_server, got {other:?}; stopping");
            channel.close().await;
            return ExitCode::FAILURE;
        }
        None => {
            channel.close().await;
            return ExitCode::FAILURE;
        }
    };
    let Ready {
        listener,
        addr,
        tls,
        app,
    } = match set_up(start, setup, &channel).await {
        Ok(ready) => ready,
        Err((kind, message)) => {
            channel
                .send_and_close(Ocall::ServerFailed { kind, message })
                .await;
            return ExitCode::FAILURE;
        }
    };

    // Shutdown comes from the host (`shutdown`, or the channel closing).
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(server::serve(
        listener,
        tls.clone(),
        app,
        keep_server_up,
        stop_rx.clone(),
    ));
    tls.clone().spawn_renewal(stop_rx.clone());
    info!("serving HTTPS on {addr} (keep_server_up = {keep_server_up})");
    channel.send(Ocall::ServerUp { addr }).await;

    let mut server = server;
    tokio::select! {
        _ = &mut server => {}
        _ = async {
            loop {
                match channel.recv().await {
                    Some(Ecall::Shutdown {}) | None => break,
                    Some(other) => error!("ignoring unexpected {other:?} while serving"),
                }
            }
        } => {
            let _ = stop_tx.send(true);
            let _ = (&mut server).await;
        }
    }
    info!("server stopped");
    channel.send_and_close(Ocall::Stopped {}).await;
    ExitCode::SUCCESS
}

/// What `set_up_server` asked for.
struct SetUp {
    bind: std::net::IpAddr,
    port: u16,
    data_dir: std::path::PathBuf,
    sim_platform_file: std::path::PathBuf,
    dev_root_token: Option<zeroize::Zeroizing<String>>,
    cert_lifetime: std::time::Duration,
    tls_names: Vec<String>,
}

/// A server ready to serve.
struct Ready {
    listener: tokio::net::TcpListener,
    addr: std::net::SocketAddr,
    tls: Arc<tls::TlsState>,
    app: axum::Router,
}

/// Opens the platform and the key store, binds the socket and makes the TLS
/// identity. A failure says what failed, for the host to report.
async fn set_up(
    start: Start,
    setup: SetUp,
    channel: &Channel,
) -> Result<Ready, (ServerFailure, String)> {
    let other =
        |what: &str, e: &dyn std::fmt::Display| (ServerFailure::Other, format!("{what}: {e}"));
    let platform: Arc<dyn Platform> = match start {
        Start::Simulation(identity, config) => Arc::new(
            Simulation::open(identity, config, &setup.sim_platform_file, channel.caller())
                .map_err(|e| other("cannot open the simulated platform", &e))?,
        ),
        Start::Gramine(g) => Arc::new(g),
    };
    let transit = transit::Transit::open_with_dev_root_token(
        &platform,
        &setup.data_dir,
        setup.dev_root_token,
    )
    .map_err(|e| other("cannot open the key store", &e))?;
    let audit_key = transit
        .audit_key()
        .map_err(|e| other("cannot make the audit key", &e.message()))?;
    let audit = audit::AuditLog::open(&platform, &setup.data_dir, &audit_key)
        .await
        .map_err(|e| other("cannot open the audit log", &e))?;
    drop(audit_key);
    let listener = tokio::net::TcpListener::bind((setup.bind, setup.port))
        .await
        .map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::AddrInUse => ServerFailure::AddressInUse,
                std::io::ErrorKind::PermissionDenied => ServerFailure::PermissionDenied,
                std::io::ErrorKind::AddrNotAvailable => ServerFailure::AddressNotAvailable,
                _ => ServerFailure::Other,
            };
            (
                kind,
                format!("cannot listen on {}:{}: {e}", setup.bind, setup.port),
            )
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| other("cannot read the bound address", &e))?;
    let names = tls::Names::parse(&setup.tls_names).map_err(|e| other("bad TLS names", &e))?;
    let ca = ca::TlsCa::load_or_create(&transit, platform.as_ref())
        .map_err(|e| other("cannot set up the TLS CA", &e))?;
    let ca = Arc::new(ca);
    let tls = tls::TlsState::new(platform.clone(), ca.clone(), names, setup.cert_lifetime)
        .await
        .map_err(|e| other("cannot set up TLS", &e))?;
    let app = api::router(platform, Arc::new(transit), ca, audit);
    Ok(Ready {
        listener,
        addr,
        tls,
        app,
    })
}
