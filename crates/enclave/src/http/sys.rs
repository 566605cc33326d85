//! `sys/seal-status` and `sys/unseal` in Vault's shapes (hvac's
//! `sys.read_seal_status`, `sys.submit_unseal_key(s)`), for an open
//! store (a sealed one answers them in [`super::sealed`]), and the peer's
//! side of an attested join (`sys/join/challenge`, `sys/join`),
//! `sys/health` for load balancers, and what the `bao` CLI asks around
//! them: `sys/leader` (`bao status`, and `bao operator unseal` after each
//! share) and `sys/audit` (`bao audit list`).

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use super::app::AppState;
use super::body::{json_body, Posted};
use super::envelope::{ok_secret, Answering, Facts};
use crate::error::Error;
use crate::services::join::desk::JoinRequest;
use crate::services::source::Peer;
use crate::store::recovery::RecoveryInfo;

/// The cluster's name and id in `sys/health` and `sys/seal-status`: one
/// enclave (or several sharing a root key) is one cluster, fixed.
const CLUSTER_NAME: &str = "minikms";
const CLUSTER_ID: &str = "6d696e69-6b6d-5363-6c75-737465720001";

/// `PUT /v1/sys/unseal`'s body.
#[derive(Default, Deserialize, Serialize)]
pub struct UnsealRequest {
    /// One share, hex or base64.
    #[serde(default)]
    pub key: Option<Zeroizing<String>>,
    /// Forget the shares given so far.
    #[serde(default)]
    pub reset: bool,
}

/// Vault's name for the store behind us: its own for the embedded redb
/// file, and Vault's `postgresql` for a database replicas share.
pub fn storage_type(shared: bool) -> &'static str {
    if shared {
        "postgresql"
    } else {
        "redb"
    }
}

/// Vault's seal status.
pub fn seal_status(
    initialized: bool,
    sealed: bool,
    info: Option<&RecoveryInfo>,
    progress: usize,
    storage_type: &str,
) -> Response {
    axum::Json(json!({
        "type": "shamir",
        "initialized": initialized,
        "sealed": sealed,
        "t": info.map_or(0, |i| i.threshold),
        "n": info.map_or(0, |i| i.shares),
        "progress": progress,
        "nonce": "",
        "version": env!("CARGO_PKG_VERSION"),
        "commit_date": "",
        "migration": false,
        "recovery_seal": false,
        "storage_type": storage_type,
        "cluster_name": CLUSTER_NAME,
        "cluster_id": CLUSTER_ID,
    }))
    .into_response()
}

/// `sys/health`'s query: the status to answer in each state (Vault's
/// parameters; minikms is always active, never a standby).
#[derive(Debug, Default)]
struct HealthQuery {
    activecode: Option<u16>,
    sealedcode: Option<u16>,
    uninitcode: Option<u16>,
}

/// Vault's `sys/health`: 200 when initialised and unsealed, 501 when not
/// initialised, 503 when sealed (each overridable by the query), and the
/// state in the body. A replica that cannot reach its store's database
/// answers 503 (whatever the query) with `storage_error`, so load
/// balancers take it out; one whose audit log cannot be written (a full
/// disk) likewise, with `audit_error`. Not audited, like `GET /`: load balancers poll
/// it.
pub fn health(
    initialized: bool,
    sealed: bool,
    storage_error: Option<String>,
    audit_error: Option<&str>,
    query: Option<&str>,
) -> Response {
    let q = query.map(health_query).unwrap_or_default();
    let code = if storage_error.is_some() || audit_error.is_some() {
        503
    } else if !initialized {
        q.uninitcode.unwrap_or(501)
    } else if sealed {
        q.sealedcode.unwrap_or(503)
    } else {
        q.activecode.unwrap_or(200)
    };
    let status = axum::http::StatusCode::from_u16(code)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": crate::clock::now(),
        "version": env!("CARGO_PKG_VERSION"),
        "cluster_name": CLUSTER_NAME,
        "cluster_id": CLUSTER_ID,
    });
    if let Some(e) = storage_error {
        body["storage_error"] = json!(e);
    }
    if let Some(e) = audit_error {
        body["audit_error"] = json!(e);
    }
    (status, axum::Json(body)).into_response()
}

/// The health query's codes (other parameters are ignored, as Vault does
/// for ones that do not apply).
fn health_query(query: &str) -> HealthQuery {
    let mut q = HealthQuery::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let code = v.parse::<u16>().ok().filter(|c| (100..600).contains(c));
        match k.as_ref() {
            "activecode" => q.activecode = code,
            "sealedcode" => q.sealedcode = code,
            "uninitcode" => q.uninitcode = code,
            _ => {}
        }
    }
    q
}

/// `GET /v1/sys/health` of an open store.
pub async fn open_health(State(app): State<AppState>, uri: axum::http::Uri) -> Response {
    // Reads nothing sealed: the last catch-up's trouble, not a new wait.
    let storage = app.state.storage_trouble().map(|e| e.public_message());
    health(
        app.state.is_initialised(),
        false,
        storage,
        app.audit.trouble(),
        uri.query(),
    )
}

/// Vault's `sys/leader` for a server without HA, which minikms is (one
/// enclave, or replicas that each answer alike): Vault answers it open,
/// sealed or not, with only `ha_enabled: false`, as OpenBao's dev server
/// does.
pub fn leader() -> Response {
    axum::Json(json!({ "ha_enabled": false })).into_response()
}

/// `GET /v1/sys/leader` of an open store.
pub async fn open_leader() -> Response {
    leader()
}

/// `GET /v1/sys/audit`: the one audit device minikms has, its signed
/// file log (always on: it cannot be disabled or another added), in
/// Vault's shape for a `file` device.
pub async fn audit_devices(State(app): State<AppState>, id: Answering) -> Response {
    let device = json!({
        "type": "file",
        "description": "minikms's signed audit log (always on)",
        "options": { "file_path": app.audit.path().display().to_string() },
        "local": false,
        "path": "file/",
    });
    let data = serde_json::Map::from_iter([("file/".to_string(), device)]);
    super::mounts::also_top_level(id, data)
}

/// `GET /v1/sys/host-info`: 404 that says why. Vault describes the
/// machine it runs on; here that is the untrusted host, whose answers the
/// enclave cannot vouch for.
pub async fn host_info() -> Error {
    Error::NotFound(
        "sys/host-info is not served: minikms runs in an enclave and cannot vouch for \
         what the untrusted host says of itself; ask the host's own monitoring"
            .into(),
    )
}

/// `GET /v1/sys/key-status`: 404 that says why. Vault's barrier key has
/// terms and counts its encryptions; a store here has one root key, never
/// rotated, and counts nothing under it.
pub async fn key_status() -> Error {
    Error::NotFound(
        "sys/key-status is not served: a minikms store has one root key, never rotated \
         (its recovery shares and sealing are in docs/recovery.md)"
            .into(),
    )
}

/// `GET /v1/sys/seal-status` of an open store.
pub async fn status(State(app): State<AppState>) -> Response {
    let info = app.state.recovery_info();
    seal_status(
        app.state.is_initialised(),
        false,
        info.as_ref(),
        0,
        storage_type(app.state.is_shared()),
    )
}

/// `PUT /v1/sys/unseal` of an open store: nothing to do, as Vault answers
/// an unsealed server; the body is still checked.
pub async fn unseal(State(app): State<AppState>, body: Posted) -> Result<Response, Error> {
    let _req: UnsealRequest = json_body(body).await?;
    Ok(status(State(app)).await)
}

/// `POST /v1/sys/join/challenge`: a fresh nonce for one join request.
pub async fn join_challenge(
    State(app): State<AppState>,
    Extension(Peer(from)): Extension<Peer>,
) -> Result<Response, Error> {
    let nonce = app.join.challenge(app.platform.as_ref(), from)?;
    Ok(axum::Json(json!({ "data": { "nonce": hex::encode(nonce) } })).into_response())
}

/// `POST /v1/sys/join`: the root key, wrapped to a joiner whose evidence
/// verified, or 403 with the reason.
pub async fn join(
    State(app): State<AppState>,
    id: Answering,
    body: Posted,
) -> Result<Response, Error> {
    let req: JoinRequest = json_body(body).await?;
    // Anyone may ask, and verifying a quote costs: one of the bounded turns.
    let _turn = app.expensive_turn().await?;
    let app2 = app.clone();
    let admitted = tokio::task::spawn_blocking(move || {
        app2.join.admit(app2.platform.as_ref(), &app2.recovery, req)
    })
    .await
    .map_err(|e| Error::internal("join", e))?
    .inspect_err(|e| tracing::warn!("{e}"))?;
    // Durable: handing out the root key is on disk before it leaves.
    Ok(ok_secret(id, &admitted, Facts::WROTE))
}
