//! An open store's services, up and running: what the whole API serves
//! from, whether the store opened at start or once it was unsealed.

use std::sync::Arc;

use crate::platform::Platform;
use crate::services::{audit, ca};
use crate::state::State;
use crate::store::freshness::Freshness;
use crate::store::opening::Unsealed;
use crate::store::recovery::Recovery;

/// What lives in an open store, up and running.
pub struct Opened {
    pub state: Arc<State>,
    pub audit: Arc<audit::AuditLog>,
    pub ca: Arc<ca::TlsCa>,
    pub recovery: Arc<Recovery>,
    pub freshness: Arc<Freshness>,
}

/// Why an open store's services did not come up: what could not be done,
/// and why (for the host to report, or the log).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct NotOpened {
    pub what: &'static str,
    pub detail: String,
}

impl NotOpened {
    pub fn new(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self {
            what,
            detail: detail.to_string(),
        }
    }
}

/// Brings up what lives in an unsealed store: the state, the audit log
/// (cross-checked with the store), the TLS CA. The error says what failed.
pub async fn open_store(
    platform: &Arc<dyn Platform>,
    unsealed: Unsealed,
    data_dir: &std::path::Path,
    dev_root_token: Option<zeroize::Zeroizing<String>>,
    rotation: audit::Rotation,
) -> Result<Opened, NotOpened> {
    let freshness = unsealed.freshness;
    let recovery = Arc::new(Recovery::new(unsealed.root));
    let state = State::open(
        unsealed.store,
        unsealed.records,
        unsealed.versions,
        dev_root_token,
    )
    .map_err(|e| NotOpened::new("cannot open the key store", e))?;
    // The sealed facts decide; the unsealed copy is made to match them.
    state
        .reconcile_recovery(unsealed.recovery.as_deref())
        .map_err(|e| NotOpened::new("cannot check the recovery facts", e))?;
    let audit_key =
        audit::sealed_key(&state).map_err(|e| NotOpened::new("cannot make the audit key", e))?;
    let audit = audit::AuditLog::open(platform, data_dir, &audit_key, freshness.clone(), rotation)
        .await
        .map_err(|e| NotOpened::new("cannot open the audit log", e))?;
    drop(audit_key);
    // The store records this start's entry: a log cut before it is seen.
    state
        .record_audit_head()
        .map_err(|e| NotOpened::new("cannot write the key store", e))?;
    let ca = ca::TlsCa::load_or_create(&state, platform.as_ref())
        .map_err(|e| NotOpened::new("cannot set up the TLS CA", e))?;
    let state = Arc::new(state);
    crate::services::rotation::spawn(state.clone());
    Ok(Opened {
        state,
        audit,
        ca: Arc::new(ca),
        recovery,
        freshness,
    })
}
