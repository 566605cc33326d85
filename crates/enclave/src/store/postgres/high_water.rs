//! A replica's high-water mark: the highest store generation it has seen,
//! kept sealed under its own CPU in its data dir (file
//! `store-generation.sealed`, of the form of [`super::local_root`]), so
//! that a database put back to an older copy is refused at start, even
//! by a replica restarted since (while it runs, its index refuses it:
//! [`crate::store::ledger`]).
//!
//! - Plaintext: the store's check word (u64 LE: a mark of another store
//!   is not taken for this one's), then the generation (u64 LE), sealed
//!   as the root key is ([`crate::store::root::seal_under_cpu`], its own
//!   label).
//! - Written by a thread of its own at most every [`EVERY`], when the
//!   generation moved, and at a clean stop; not on the request path (no
//!   fsync per request). So a crash loses at most the last [`EVERY`] of
//!   it, and a rollback to a state within that window is not seen at the
//!   next start.
//! - Missing or unreadable (a replica of an older build, another machine,
//!   or removed by the host): a warning, and a new mark from what the
//!   database holds. A platform without a sealing key keeps none.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::local_root;
use crate::platform::Platform;
use crate::store::freshness::Freshness;
use crate::store::root::{open_under_cpu, seal_under_cpu, CpuSealed};
use crate::store::StoreError;

pub const FILE_NAME: &str = "store-generation.sealed";

/// Longest time the mark on disk lags behind what the replica saw.
pub const EVERY: Duration = Duration::from_secs(1);

const SEALED: CpuSealed = CpuSealed {
    magic: b"MKH1",
    label: b"minikms store high-water mark v1",
};

/// The mark of one replica's data dir.
pub struct HighWater {
    platform: Arc<dyn Platform>,
    data_dir: PathBuf,
    /// The store's check word.
    check: u64,
    /// The generation on disk (`None`: no mark of ours is).
    written: Mutex<Option<u64>>,
}

impl HighWater {
    /// Checks the store of `shown` at `generation` against the mark in
    /// `data_dir`: behind it is [`StoreError::RolledBack`]; else the mark
    /// is brought up to `generation`.
    pub fn open(
        platform: &Arc<dyn Platform>,
        data_dir: &Path,
        check: u64,
        generation: u64,
        shown: &str,
    ) -> Result<Arc<Self>, StoreError> {
        let mark = read(platform, data_dir, check)?;
        if let Some(seen) = mark.filter(|&seen| seen > generation) {
            return Err(StoreError::RolledBack(format!(
                "{shown} is at generation {generation}, but this replica has seen generation \
                 {seen} ({}): it was put back to an older copy, which would bring back the \
                 tokens revoked and keys deleted since. Put back its newest copy; or, if going \
                 back is deliberate, remove {FILE_NAME} from the data dir of every replica",
                data_dir.join(FILE_NAME).display()
            )));
        }
        if mark.is_none() && generation > 0 {
            tracing::info!(
                "{} starts this replica's high-water mark at generation {generation}",
                data_dir.join(FILE_NAME).display()
            );
        }
        let mark = Arc::new(Self {
            platform: platform.clone(),
            data_dir: data_dir.to_path_buf(),
            check,
            written: Mutex::new(mark),
        });
        mark.advance(generation)?;
        Ok(mark)
    }

    /// Keeps the mark up with `freshness` (the generation the replica has
    /// seen) on a thread of its own, until either is dropped.
    pub fn keep(self: &Arc<Self>, freshness: &Arc<Freshness>) -> Result<(), StoreError> {
        let (me, seen) = (Arc::downgrade(self), Arc::downgrade(freshness));
        std::thread::Builder::new()
            .name("minikms-high-water".into())
            .spawn(move || keep(&me, &seen))
            .map(drop)
            .map_err(|e| StoreError::Database(format!("cannot start the high-water thread: {e}")))
    }

    /// Writes the mark now if `generation` is above it (durably: the file
    /// is replaced whole and synced).
    pub fn advance(&self, generation: u64) -> Result<(), StoreError> {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.is_some_and(|w| generation <= w) {
            return Ok(());
        }
        let mut plain = [0u8; 16];
        plain[..8].copy_from_slice(&self.check.to_le_bytes());
        plain[8..].copy_from_slice(&generation.to_le_bytes());
        let sealed = seal_under_cpu(&self.platform, SEALED, &plain)?;
        if sealed.is_empty() {
            return Ok(());
        }
        let svn = self.platform.identity().security_version;
        local_root::write(&self.data_dir, FILE_NAME, svn, &sealed)?;
        *written = Some(generation);
        Ok(())
    }
}

fn keep(me: &Weak<HighWater>, seen: &Weak<Freshness>) {
    loop {
        std::thread::sleep(EVERY);
        let (Some(me), Some(seen)) = (me.upgrade(), seen.upgrade()) else {
            return;
        };
        if let Err(e) = me.advance(seen.generation()) {
            tracing::warn!("cannot keep this replica's high-water mark: {e}");
        }
    }
}

/// The generation the mark in `data_dir` holds for the store of `check`;
/// `None` if there is none this CPU opens for that store (said in a
/// warning).
fn read(
    platform: &Arc<dyn Platform>,
    data_dir: &Path,
    check: u64,
) -> Result<Option<u64>, StoreError> {
    let path = data_dir.join(FILE_NAME);
    let Some(file) = local_root::read(data_dir, FILE_NAME)? else {
        return Ok(None);
    };
    let ours = platform.identity().security_version;
    let plain = if file.svn <= ours {
        open_under_cpu(platform, SEALED, file.svn, &file.sealed)?
    } else {
        None
    };
    let mark = plain.as_deref().and_then(|p| {
        let (store, generation) = p.split_first_chunk::<8>()?;
        let generation: [u8; 8] = generation.try_into().ok()?;
        (u64::from_le_bytes(*store) == check).then_some(u64::from_le_bytes(generation))
    });
    if mark.is_none() {
        tracing::warn!(
            "{} does not open on this machine for this store (another machine's, another \
             store's, or edited): a new high-water mark starts from the database as it is",
            path.display()
        );
    }
    Ok(mark)
}
