//! Rollback seen from outside. The enclave claims, in every certificate's
//! evidence, its key store's generation and its audit log's head (seq and
//! line hash); both only grow. The enclave itself refuses a key store or
//! an audit log rolled back alone, but not both rolled back together (it
//! has no monotonic counter): a client that remembers the highest values
//! it has seen per server sees that.
//!
//! A server is known by its enclave CA's key (`ca-pubkey-hash`, made once
//! per store and sealed in it), so a rolled-back copy of the same store is
//! the same server, and by the address the client reached it at: replicas
//! of one store share the CA but each keeps its own audit log, and each
//! claims the generation it had when its certificate was issued (a replica
//! started later claims a higher one), so neither value grows across
//! replicas; alternating between them is not a rollback. The memory is a
//! JSON file, `{"servers": {"CA_KEY_SHA256 HOST:PORT": {"store_generation":
//! N, "audit_seq": N}}}`; entries keyed by the CA alone (earlier clients)
//! are dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minikms_verifier::{CertificateClaims, HeldClaims};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::files::{read_file, write_atomically};

/// Memory files larger than this are not ours.
const MAX_MEMORY_FILE: u64 = 16 << 20;

/// What was seen of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seen {
    pub store_generation: u64,
    pub audit_seq: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Memory {
    servers: BTreeMap<String, Seen>,
}

/// The memory file.
#[derive(Debug, Clone)]
pub struct FreshnessMemory {
    path: PathBuf,
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The certificate does not claim freshness (not minikms, or older).
    NotClaimed,
    /// As new as, or newer than, what was seen before (now remembered).
    Fresh,
    /// Older than before, and accepted as a deliberate restore.
    AcceptedRollback { before: Seen },
}

impl FreshnessMemory {
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `$XDG_STATE_HOME/minikms/freshness.json`, else
    /// `$HOME/.local/state/minikms/freshness.json`.
    pub fn default_path() -> Option<PathBuf> {
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|d| !d.is_empty())
                    .map(|home| Path::new(&home).join(".local/state"))
            })?;
        Some(state.join("minikms").join("freshness.json"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Compares what `claims` say with what was seen of that server: older
    /// is refused unless `accept_rollback`; what is newer is remembered.
    pub fn check(
        &self,
        address: &str,
        claims: &CertificateClaims,
        accept_rollback: bool,
    ) -> Result<Checked, Error> {
        let Some((ca, now)) = claimed(claims) else {
            return Ok(Checked::NotClaimed);
        };
        let server = format!("{ca} {address}");
        let mut memory = self.read()?;
        // Keyed by the CA alone: an earlier client's, which replicas trip.
        memory.servers.retain(|key, _| key.contains(' '));
        let before = memory.servers.get(&server).copied();
        let checked = match before {
            Some(before)
                if now.store_generation < before.store_generation
                    || now.audit_seq < before.audit_seq =>
            {
                if !accept_rollback {
                    return Err(Error::RolledBack(format!(
                        "the server's state went backwards: key store generation {} and audit \
                         log entry {} now, {} and {} seen before from this server ({address}, \
                         enclave CA key {}, remembered in {}): its key store and audit log \
                         were rolled back; if this is a deliberate restore, pass \
                         --accept-rollback",
                        now.store_generation,
                        now.audit_seq,
                        before.store_generation,
                        before.audit_seq,
                        &ca[..16],
                        self.path.display()
                    )));
                }
                Checked::AcceptedRollback { before }
            }
            Some(before) if before == now => return Ok(Checked::Fresh),
            _ => Checked::Fresh,
        };
        memory.servers.insert(server, now);
        self.write(&memory)?;
        Ok(checked)
    }

    fn read(&self) -> Result<Memory, Error> {
        if !self.path.exists() {
            return Ok(Memory::default());
        }
        let bytes = read_file(&self.path, MAX_MEMORY_FILE)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::bad_file(
                &self.path,
                format!("not a minikms freshness memory ({e}); move it away to start afresh"),
            )
        })
    }

    fn write(&self, memory: &Memory) -> Result<(), Error> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let json = serde_json::to_vec_pretty(memory)
            .map_err(|e| Error::System(format!("cannot write the freshness memory: {e}")))?;
        write_atomically(&self.path, &json)
    }
}

/// The server (its CA key's hash) and what it claims, if it does.
fn claimed(claims: &CertificateClaims) -> Option<(String, Seen)> {
    let held = claims.evidence.held_data.as_ref()?;
    let HeldClaims::Cbor {
        ca_pubkey_hash: Some(ca),
        store_generation: Some(store_generation),
        audit_head: Some(head),
        ..
    } = &held.claims
    else {
        return None;
    };
    Some((
        ca.clone(),
        Seen {
            store_generation: *store_generation,
            audit_seq: head.seq,
        },
    ))
}
