//! Start-up: who we are, then what `set_up_server` asks: the platform,
//! the sealed state, the audit log, the CA, the TLS identity and the
//! listening socket; then serving until the host says `shutdown`.

use std::process::ExitCode;
use std::sync::Arc;

use minikms_edl::{Ecall, Ocall, ServerFailure};
use minikms_sigstruct::{EnclaveConfig, Identity};
use tokio::sync::watch;
use tracing::{error, info};

use crate::channel::Channel;
use crate::platform::gramine::Gramine;
use crate::platform::simulation::Simulation;
use crate::platform::tsm::Tsm;
use std::sync::OnceLock;

use crate::http::sealed::{Opener, Sealed};
use crate::http::status;
use crate::opened::{open_store, NotOpened, Opened};
use crate::platform::{self, Platform};
use crate::server::{self, tls};
use crate::services::{ca, join};
use crate::store::freshness::Freshness;
use crate::store::opening::Found;
use crate::store::postgres;
use crate::store::redb::RedbStore;

/// Who we are, before the platform is fully up.
pub enum Start {
    /// Verified from our own signed file; the platform opens once the host
    /// says which: simulated (and where its fuse file is), or a
    /// confidential VM (and where its configfs-tsm directory is).
    SelfChecked(Identity, EnclaveConfig),
    Gramine(Gramine),
}

impl Start {
    pub fn config(&self) -> &EnclaveConfig {
        match self {
            Start::SelfChecked(_, config) => config,
            Start::Gramine(g) => g.config(),
        }
    }

    fn hello(&self) -> minikms_edl::Identity {
        match self {
            Start::SelfChecked(identity, _) => platform::edl_identity(identity, "self-checked"),
            Start::Gramine(g) => platform::edl_identity(g.identity(), g.name()),
        }
    }
}

pub async fn run(mut channel: Channel, start: Start) -> ExitCode {
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
            join,
            storage,
            tsm_report_dir,
            max_connections,
            max_connections_per_address,
            unauthenticated_metrics_access,
            max_request_size,
            audit_max_bytes,
            audit_max_age_secs,
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
                join,
                storage,
                tsm_report_dir,
                limits: (max_connections, max_connections_per_address),
                metrics_open: unauthenticated_metrics_access,
                max_request_size,
                audit_rotation: crate::services::audit::Rotation::clamped(
                    audit_max_bytes,
                    audit_max_age_secs,
                ),
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
        opened,
        limits,
        body_limit,
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
        limits,
        body_limit,
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
    // Every answer is recorded by now: the store records the log's last
    // entry, so cutting the log after a clean stop is seen at the next.
    if let Some(opened) = opened.get() {
        opened.audit.write_counts().await;
        if let Err(e) = opened.audit.sync_now() {
            error!("{e}");
        } else if let Err(e) = opened.state.record_audit_head() {
            error!("cannot record the audit log's head in the key store: {e}");
        }
    }
    channel.send_and_close(Ocall::Stopped {}).await;
    ExitCode::SUCCESS
}

/// Our configfs-tsm report entry (made if missing). Another writer of the
/// same entry is detected by its generation counter and refused.
const TSM_ENTRY: &str = "minikms";

/// What `set_up_server` asked for.
struct SetUp {
    bind: std::net::IpAddr,
    port: u16,
    data_dir: std::path::PathBuf,
    sim_platform_file: std::path::PathBuf,
    dev_root_token: Option<zeroize::Zeroizing<String>>,
    cert_lifetime: std::time::Duration,
    tls_names: Vec<String>,
    /// A running peer to get the root key from, if we cannot unseal it.
    join: Option<String>,
    /// A PostgreSQL database to keep the store in (shared by replicas).
    storage: Option<String>,
    /// A confidential VM: the configfs-tsm report directory.
    tsm_report_dir: Option<std::path::PathBuf>,
    /// Most connections, and from one address, as the host asked.
    limits: (Option<u32>, Option<u32>),
    /// `GET /v1/sys/metrics` without a token.
    metrics_open: bool,
    /// The largest request body, as the host asked.
    max_request_size: Option<u64>,
    /// When the audit log moves to a new file (clamped).
    audit_rotation: crate::services::audit::Rotation,
}

/// A server ready to serve.
struct Ready {
    listener: tokio::net::TcpListener,
    addr: std::net::SocketAddr,
    tls: Arc<tls::TlsState>,
    app: axum::Router,
    /// The open store's services: set at start, or once a sealed store is
    /// unsealed.
    opened: Arc<OnceLock<Opened>>,
    limits: server::limits::Limits,
    body_limit: crate::http::body::BodyLimit,
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
    let (max, per_address) = setup.limits;
    let limits = server::limits::Limits::new(max, per_address)
        .map_err(|e| other("refused the connection limits", &e))?;
    let body_limit = crate::http::body::BodyLimit::new(setup.max_request_size)
        .map_err(|e| other("refused the request size limit", &e))?;
    let platform: Arc<dyn Platform> = match (start, &setup.tsm_report_dir) {
        (Start::SelfChecked(identity, config), None) => Arc::new(
            Simulation::open(identity, config, &setup.sim_platform_file, channel.caller())
                .map_err(|e| other("cannot open the simulated platform", &e))?,
        ),
        (Start::SelfChecked(identity, config), Some(dir)) => Arc::new(
            Tsm::open(dir, TSM_ENTRY, identity, config)
                .map_err(|e| other("cannot open the configfs-tsm report interface", &e))?,
        ),
        (Start::Gramine(g), None) => Arc::new(g),
        (Start::Gramine(_), Some(_)) => {
            return Err(other(
                "refused --platform tsm",
                &"this enclave runs under Gramine (SGX), not in a confidential VM",
            ))
        }
    };
    // Whoever controls the host could otherwise make itself root of a
    // production enclave's fresh (or deleted) store.
    if setup.dev_root_token.is_some() && !platform.identity().debug {
        return Err(other(
            "refused --dev-root-token",
            &"a production (non-debug) enclave takes no root token from the host; \
              start without it and initialise with sys/init",
        ));
    }
    // Joining, a store sealed at a higher security version than ours is
    // the peer's to judge (it refuses joiners below its own).
    let joining = setup.join.is_some();
    let store = match &setup.storage {
        None => RedbStore::open_or_sealed(&platform, &setup.data_dir, joining),
        Some(url) => postgres::open_or_sealed(&platform, url, &setup.data_dir, joining),
    }
    .map_err(|e| other("cannot open the key store", &e))?;
    let store = match (store, &setup.join) {
        (Found::Sealed(sealed), Some(peer)) => {
            let root = join::ask::ask(&platform, peer)
                .await
                .map_err(|e| other("attested join failed", &e))?;
            let unsealed = tokio::task::spawn_blocking(move || sealed.unseal(root))
                .await
                .map_err(|e| other("attested join failed", &e))?
                .map_err(|e| other("attested join failed", &e))?;
            info!(
                "joined {peer}: its root key opens this store, now sealed under this machine's key"
            );
            Found::Ready(unsealed)
        }
        (store @ Found::Ready(_), Some(_)) => {
            info!("the key store opened on this machine by itself: --join is not needed");
            store
        }
        (store, None) => store,
    };
    let store = match store {
        Found::Ready(unsealed) => Ok(open_store(
            &platform,
            unsealed,
            &setup.data_dir,
            setup.dev_root_token.clone(),
            setup.audit_rotation,
        )
        .await
        .map_err(|e| (ServerFailure::Other, e.to_string()))?),
        Found::Sealed(sealed) => Err(sealed),
    };
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
    let opened = Arc::new(OnceLock::new());
    let sealed = match store {
        Ok(now) => {
            let tls = tls::TlsState::new(
                platform.clone(),
                now.ca.clone(),
                now.freshness.clone(),
                names,
                setup.cert_lifetime,
            )
            .await
            .map_err(|e| other("cannot set up TLS", &e))?;
            let app = crate::http::routes::router_with(platform, &now, setup.metrics_open);
            let _ = opened.set(now);
            return Ok(Ready {
                listener,
                addr,
                tls,
                app,
                opened,
                limits,
                body_limit,
            });
        }
        Err(sealed) => sealed,
    };
    // Another machine's store: serve sealed, under a CA of this run only,
    // until recovery shares rebuild the root key.
    let ca = ca::TlsCa::ephemeral(platform.as_ref())
        .map_err(|e| other("cannot set up the TLS CA", &e))?;
    let tls = tls::TlsState::new(
        platform.clone(),
        Arc::new(ca),
        Arc::new(Freshness::default()),
        names,
        setup.cert_lifetime,
    )
    .await
    .map_err(|e| other("cannot set up TLS", &e))?;
    match sealed.damaged() {
        Some(damaged) => tracing::warn!(
            "{damaged}: serving sealed until recovery shares (or a peer, with --join) unseal it, which seals it again; or stop the server and restore the file from a backup"
        ),
        None => tracing::warn!(
            "the key store in {} was sealed on another machine: serving sealed until recovery shares unseal it",
            setup.data_dir.display()
        ),
    }
    let opener = opener(&platform, &tls, &opened, &setup);
    let app = Sealed::router(sealed, status::document(platform.as_ref()), opener);
    Ok(Ready {
        listener,
        addr,
        tls,
        app,
        opened,
        limits,
        body_limit,
    })
}

/// What a sealed server runs once unsealed: brings up the store's
/// services, moves TLS to the store's CA, and answers the whole API.
fn opener(
    platform: &Arc<dyn Platform>,
    tls: &Arc<tls::TlsState>,
    opened: &Arc<OnceLock<Opened>>,
    setup: &SetUp,
) -> Opener {
    let (platform, tls, opened) = (platform.clone(), tls.clone(), opened.clone());
    let (data_dir, token) = (setup.data_dir.clone(), setup.dev_root_token.clone());
    let metrics_open = setup.metrics_open;
    let rotation = setup.audit_rotation;
    Box::new(move |unsealed| {
        let (platform, tls, opened) = (platform.clone(), tls.clone(), opened.clone());
        let (data_dir, token) = (data_dir.clone(), token.clone());
        Box::pin(async move {
            let now = open_store(&platform, unsealed, &data_dir, token, rotation).await?;
            tls.replace_ca(now.ca.clone(), now.freshness.clone())
                .await
                .map_err(|e| NotOpened::new("cannot set up TLS", e))?;
            let app = crate::http::routes::router_with(platform, &now, metrics_open);
            let _ = opened.set(now);
            Ok(app)
        })
    })
}
