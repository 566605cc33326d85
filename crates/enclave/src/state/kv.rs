//! The KV v2 engine's secrets as stored: one sealed record per secret path
//! (table `secrets`), holding its metadata and every version kept, so a
//! secret is written whole in one durable change and replicates, survives
//! restarts and moves with the root key like any other record. The state's
//! reads and writes of them are in [`super::secrets`]; what the engine does
//! with them is `crate::core::kv`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// One secret: its metadata and the versions kept.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Secret {
    /// Kept versions by number (older ones were dropped by `max_versions`).
    pub versions: BTreeMap<u64, Version>,
    /// The newest version written (0: only metadata so far).
    pub current_version: u64,
    /// The oldest version readable: versions below it were dropped.
    pub oldest_version: u64,
    /// 0: the engine's setting.
    pub max_versions: u64,
    pub cas_required: bool,
    /// Seconds after its creation a version is deleted (0: never).
    pub delete_version_after: u64,
    pub custom_metadata: BTreeMap<String, String>,
    /// Times in Unix nanoseconds.
    pub created_time: u64,
    pub updated_time: u64,
    /// How many times the metadata was written (OpenBao's field).
    pub current_metadata_version: u64,
    /// Never read in clear: only wrapped to an attested workload's key
    /// (`crate::core::kv` decides; once set, never unset).
    #[serde(default)]
    pub release_only_to_attested: bool,
}

/// One version of a secret.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Version {
    pub created_time: u64,
    /// When it was (or will be, by `delete_version_after`) soft-deleted.
    pub deletion_time: Option<u64>,
    pub destroyed: bool,
    /// The data object as JSON text; `None` once destroyed.
    pub data: Option<Zeroizing<String>>,
}

impl Version {
    /// Whether it is deleted at `now` (soft-deleted, or past its
    /// `delete_version_after`).
    pub fn is_deleted(&self, now: u64) -> bool {
        self.deletion_time.is_some_and(|t| t <= now)
    }
}
