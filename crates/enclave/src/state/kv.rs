//! The KV v2 engine's secrets as stored: one sealed record per secret path
//! (table `secrets`), holding its metadata and every version kept, so a
//! secret is written whole in one durable change and replicates, survives
//! restarts and moves with the root key like any other record. What the
//! engine does with them is `crate::core::kv`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::owner::{State, Step};
use crate::error::Error;
use crate::store::Table;

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

impl State {
    /// The secret at `path`, if any.
    pub fn secret(&self, path: &str) -> Option<Arc<Secret>> {
        self.lock().secrets.get(path).cloned()
    }

    /// Every secret path under `prefix` (which ends in `/`, or is empty).
    pub fn secret_paths(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .secrets
            .range(prefix.to_string()..)
            .take_while(|(p, _)| p.starts_with(prefix))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Changes the secret at `path` durably: `change` gets the current
    /// secret (if any) and returns the new one (`None` removes it, or
    /// leaves it absent) with its answer. An error from `change` changes
    /// nothing.
    pub fn change_secret<R>(
        &self,
        path: &str,
        mut change: impl FnMut(Option<&Secret>) -> Result<(Option<Secret>, R), Error>,
    ) -> Result<R, Error> {
        self.change(
            Table::Secrets,
            path,
            |inner| {
                let current = inner.secrets.get(path).map(|s| s.as_ref());
                let existed = current.is_some();
                let (next, answer) = change(current)?;
                match next {
                    None if !existed => Ok(Step::Done(answer)),
                    None => Ok(Step::Write(None, (None, answer))),
                    Some(next) => {
                        let record = serialize(&next)?;
                        Ok(Step::Write(Some(record), (Some(Arc::new(next)), answer)))
                    }
                }
            },
            |inner, (next, answer)| {
                match next {
                    Some(next) => inner.secrets.insert(path.to_string(), next),
                    None => inner.secrets.remove(path),
                };
                answer
            },
        )
    }
}

/// The record of `secret`, in a buffer big enough from the start (JSON
/// escapes at most sixfold), so no reallocation leaves copies of values
/// behind.
fn serialize(secret: &Secret) -> Result<Zeroizing<Vec<u8>>, Error> {
    let room: usize = secret
        .versions
        .values()
        .filter_map(|v| v.data.as_ref())
        .map(|d| d.len().saturating_mul(6).saturating_add(128))
        .fold(4096, usize::saturating_add);
    let mut buf = Zeroizing::new(Vec::with_capacity(room));
    serde_json::to_writer(&mut *buf, secret).map_err(|_| Error::failed("secret serialisation"))?;
    Ok(buf)
}
