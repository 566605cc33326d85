//! The route table: each Transit key route names its operation type
//! (`transit_op::<Encrypt>`, `described::<Rotate>`); the tutorial's routes and `sys/health` (polled by
//! load balancers), open; every other `/v1` route behind the audit layer, and all but `sys/init`, `sys/seal-status`,
//! `sys/leader`, `sys/unseal`, `sys/join` and `auth/attest/{nonce,login}` (whose callers
//! prove themselves with evidence) behind the guard too
//! ([`super::layers`]), so no handler can run for a request its token does
//! not allow, and a refusal is audited.

use std::sync::Arc;

use axum::routing::{any, get, post, put};
use axum::Router;

use super::app::{AppState, Services};
use super::crypto::transit_op;
use super::error::{method_not_allowed, not_found};
use super::keys::described;
use super::layers::{Audit, Guard, StateLayer};
use super::{
    attest, attestation, auth, crypto, help, keys, kv, metrics, mounts, policies, status, sys,
    tutorial,
};
use crate::core::import::ImportRequest;
use crate::core::manage::{ConfigRequest, CreateRequest, TrimRequest};
use crate::core::transit::crypt::{Datakey, Decrypt, Encrypt, Rewrap};
use crate::core::transit::manage::{ImportVersion, Rotate};
use crate::core::transit::sign::{Hmac, Sign, Signing, Verify};
use crate::opened::Opened;
use crate::platform::Platform;
use crate::services::rsa_pool::{RsaPool, CAPACITY};

/// The whole API over an open store, with `GET /v1/sys/metrics` open to
/// anyone if `metrics_open` (`--unauthenticated-metrics-access`), else
/// guarded.
pub fn router_with(platform: Arc<dyn Platform>, opened: &Opened, metrics_open: bool) -> Router {
    let app = AppState(Arc::new(Services {
        status: status::document(platform.as_ref()),
        platform,
        state: opened.state.clone(),
        ca: opened.ca.clone(),
        audit: opened.audit.clone(),
        recovery: opened.recovery.clone(),
        join: Default::default(),
        attest: Default::default(),
        rsa_pool: RsaPool::new(CAPACITY),
        expensive: tokio::sync::Semaphore::new(Services::expensive_turns()),
        throttle: Default::default(),
    }));
    Router::new()
        .route("/", get(status::status))
        .route("/generate-aes-key", get(tutorial::aes_key))
        .route("/generate-rsa-key-pair", get(tutorial::rsa_key_pair))
        .route("/attestation", get(attestation::evidence))
        .route("/v1/sys/health", get(sys::open_health))
        .merge(v1(app.clone(), metrics_open))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// The `/v1/...` routes. Every matched one is audited (unmatched paths
/// touch nothing). The two layers are stacked directly (one route level,
/// not two: each level costs every request a boxed clone of the route and
/// a boxed future).
fn v1(state: AppState, metrics_open: bool) -> Router<AppState> {
    let audit = StateLayer::new(state.clone(), Audit);
    let metrics_route = Router::new().route("/v1/sys/metrics", get(metrics::metrics));
    // Exactly the routes the classifier knows as open (OPEN_ROUTES).
    let open = Router::new()
        .route(
            "/v1/sys/init",
            get(auth::init_status).put(auth::init).post(auth::init),
        )
        .route("/v1/sys/seal-status", get(sys::status))
        .route("/v1/sys/leader", get(sys::open_leader))
        .route("/v1/sys/unseal", put(sys::unseal).post(sys::unseal))
        .route("/v1/sys/join/challenge", post(sys::join_challenge))
        .route("/v1/sys/join", post(sys::join))
        .route(
            "/v1/auth/attest/nonce",
            post(attest::nonce).put(attest::nonce),
        )
        .route(
            "/v1/auth/attest/login",
            post(attest::login).put(attest::login),
        )
        .route_layer(audit.clone());
    let (open, guarded) = if metrics_open {
        (
            open.merge(metrics_route.route_layer(audit.clone())),
            Router::new(),
        )
    } else {
        (open, metrics_route)
    };
    let guarded = guarded
        .route(
            "/v1/auth/token/create",
            post(auth::create).put(auth::create),
        )
        .route(
            "/v1/auth/token/create-orphan",
            post(auth::create_orphan).put(auth::create_orphan),
        )
        .route("/v1/auth/token/accessors", any(auth::accessors))
        .route("/v1/auth/token/lookup-self", get(auth::lookup_self))
        .route("/v1/auth/token/renew", post(auth::renew).put(auth::renew))
        .route(
            "/v1/auth/token/renew-accessor",
            post(auth::renew).put(auth::renew),
        )
        .route(
            "/v1/auth/token/renew-self",
            post(auth::renew_self).put(auth::renew_self),
        )
        .route(
            "/v1/auth/token/lookup",
            post(auth::lookup).put(auth::lookup),
        )
        .route(
            "/v1/auth/token/lookup-accessor",
            post(auth::lookup_accessor).put(auth::lookup_accessor),
        )
        .route(
            "/v1/auth/token/revoke",
            post(auth::revoke).put(auth::revoke),
        )
        .route(
            "/v1/auth/token/revoke-accessor",
            post(auth::revoke_accessor).put(auth::revoke_accessor),
        )
        .route(
            "/v1/auth/token/revoke-self",
            post(auth::revoke_self).put(auth::revoke_self),
        )
        .route(
            "/v1/sys/recovery-shares",
            put(auth::recovery_shares).post(auth::recovery_shares),
        )
        .route("/v1/auth/attest/role", any(attest::list_roles))
        .route("/v1/auth/attest/role/", any(attest::list_roles))
        .route(
            "/v1/auth/attest/role/{name}",
            get(attest::read_role)
                .post(attest::write_role)
                .put(attest::write_role)
                .delete(attest::delete_role),
        )
        .route("/v1/sys/policy", any(policies::list))
        .route("/v1/sys/policies/acl", any(policies::list))
        .route(
            "/v1/sys/policy/{name}",
            get(policies::read)
                .put(policies::write)
                .post(policies::write)
                .delete(policies::delete),
        )
        .route(
            "/v1/sys/policies/acl/{name}",
            get(policies::read)
                .put(policies::write)
                .post(policies::write)
                .delete(policies::delete),
        )
        .route("/v1/sys/audit", get(sys::audit_devices))
        .route("/v1/sys/host-info", get(sys::host_info))
        .route("/v1/sys/key-status", get(sys::key_status))
        .route("/v1/sys/mounts", get(mounts::mounts))
        .route("/v1/sys/mounts/{*path}", get(mounts::mount_at))
        .route("/v1/sys/auth", get(mounts::auth))
        .route("/v1/sys/internal/ui/mounts", get(mounts::ui_mounts))
        .route("/v1/sys/internal/help/{*path}", get(help::help))
        .route(
            "/v1/sys/internal/ui/mounts/{*path}",
            get(mounts::ui_mount_of),
        )
        .route(
            "/v1/sys/capabilities-self",
            post(mounts::capabilities_self).put(mounts::capabilities_self),
        )
        .route(
            "/v1/transit/config/keys",
            get(keys::keys_config)
                .post(keys::set_keys_config)
                .put(keys::set_keys_config),
        )
        .route(
            "/v1/transit/cache-config",
            get(keys::cache_config)
                .post(keys::cache_config)
                .put(keys::cache_config),
        )
        .route("/v1/transit/keys", any(keys::list))
        .route("/v1/transit/keys/", any(keys::list))
        .route("/v1/transit/wrapping_key", get(keys::wrapping_key))
        .route(
            "/v1/transit/keys/{name}/import",
            post(described::<ImportRequest>).put(described::<ImportRequest>),
        )
        .route(
            "/v1/transit/keys/{name}/import_version",
            post(described::<ImportVersion>).put(described::<ImportVersion>),
        )
        .route(
            "/v1/transit/keys/{name}",
            get(keys::read)
                .post(described::<CreateRequest>)
                .put(described::<CreateRequest>)
                .delete(keys::delete),
        )
        .route(
            "/v1/transit/keys/{name}/config",
            post(described::<ConfigRequest>).put(described::<ConfigRequest>),
        )
        .route(
            "/v1/transit/keys/{name}/rotate",
            post(described::<Rotate>).put(described::<Rotate>),
        )
        .route(
            "/v1/transit/keys/{name}/trim",
            post(described::<TrimRequest>).put(described::<TrimRequest>),
        )
        .route("/v1/transit/export/{kind}/{name}", get(keys::export))
        .route(
            "/v1/transit/export/{kind}/{name}/{version}",
            get(keys::export),
        )
        .route("/v1/transit/backup/{name}", get(keys::backup))
        .route(
            "/v1/transit/restore",
            post(keys::restore).put(keys::restore),
        )
        .route(
            "/v1/transit/restore/{name}",
            post(keys::restore).put(keys::restore),
        )
        .route(
            "/v1/transit/encrypt/{name}",
            post(transit_op::<Encrypt>).put(transit_op::<Encrypt>),
        )
        .route(
            "/v1/transit/decrypt/{name}",
            post(transit_op::<Decrypt>).put(transit_op::<Decrypt>),
        )
        .route(
            "/v1/transit/rewrap/{name}",
            post(transit_op::<Rewrap>).put(transit_op::<Rewrap>),
        )
        .route(
            "/v1/transit/datakey/{kind}/{name}",
            post(transit_op::<Datakey>).put(transit_op::<Datakey>),
        )
        .route(
            "/v1/transit/random",
            post(crypto::random).put(crypto::random),
        )
        .route(
            "/v1/transit/random/{a}",
            post(crypto::random).put(crypto::random),
        )
        .route(
            "/v1/transit/random/{a}/{b}",
            post(crypto::random).put(crypto::random),
        )
        .route("/v1/transit/hash", post(crypto::hash).put(crypto::hash))
        .route(
            "/v1/transit/hash/{alg}",
            post(crypto::hash).put(crypto::hash),
        )
        .route(
            "/v1/transit/hmac/{name}",
            post(transit_op::<Signing<Hmac>>).put(transit_op::<Signing<Hmac>>),
        )
        .route(
            "/v1/transit/hmac/{name}/{alg}",
            post(transit_op::<Signing<Hmac>>).put(transit_op::<Signing<Hmac>>),
        )
        .route(
            "/v1/transit/sign/{name}",
            post(transit_op::<Signing<Sign>>).put(transit_op::<Signing<Sign>>),
        )
        .route(
            "/v1/transit/sign/{name}/{alg}",
            post(transit_op::<Signing<Sign>>).put(transit_op::<Signing<Sign>>),
        )
        .route(
            "/v1/transit/verify/{name}",
            post(transit_op::<Signing<Verify>>).put(transit_op::<Signing<Verify>>),
        )
        .route(
            "/v1/transit/verify/{name}/{alg}",
            post(transit_op::<Signing<Verify>>).put(transit_op::<Signing<Verify>>),
        )
        .merge(kv_routes())
        .route_layer(
            tower::ServiceBuilder::new()
                .layer(audit)
                .layer(StateLayer::new(state.clone(), Guard)),
        );
    open.merge(guarded)
}

/// The KV v2 engine's routes at `secret/` (guarded and audited with the
/// rest: [`v1`] layers them). `{*path}` is the secret's path, which the
/// classifier decodes once.
fn kv_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/secret/data/{*path}",
            get(kv::read)
                .post(kv::write)
                .put(kv::write)
                .patch(kv::patch)
                .delete(kv::delete_latest),
        )
        .route("/v1/secret/metadata", any(kv::metadata))
        .route("/v1/secret/metadata/", any(kv::metadata))
        .route("/v1/secret/metadata/{*path}", any(kv::metadata))
        .route(
            "/v1/secret/delete/{*path}",
            post(kv::delete).put(kv::delete),
        )
        .route(
            "/v1/secret/undelete/{*path}",
            post(kv::undelete).put(kv::undelete),
        )
        .route(
            "/v1/secret/destroy/{*path}",
            post(kv::destroy).put(kv::destroy),
        )
        .route("/v1/secret/subkeys/{*path}", get(kv::subkeys))
        .route(
            "/v1/secret/config",
            get(kv::config).post(kv::set_config).put(kv::set_config),
        )
}
