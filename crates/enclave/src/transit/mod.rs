//! Managed keys behind a Vault-Transit-compatible API under `/v1`.
//! (Placeholder: the store and routes land with the managed-keys issue.)

use std::path::Path;
use std::sync::Arc;

use axum::Router;

use crate::api::AppState;
use crate::platform::Platform;

/// The managed-key service: the sealed store and what is needed to use it.
pub struct Transit {}

#[derive(Debug, thiserror::Error)]
pub enum TransitError {}

impl Transit {
    /// Opens (or initialises) the sealed store under `data_dir`.
    pub fn open(_platform: &Arc<dyn Platform>, _data_dir: &Path) -> Result<Self, TransitError> {
        Ok(Self {})
    }
}

/// The `/v1/...` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
