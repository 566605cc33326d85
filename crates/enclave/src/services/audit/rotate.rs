//! Rotation: the log moves on to a new file once the current one holds
//! [`Rotation::max_bytes`] or is [`Rotation::max_age`] old (`kms-host run
//! --audit-max-bytes`, `--audit-max-age`).
//!
//! The new file's first line is a signed `continue` entry
//! ([`minikms_audit::Entry::Continue`]) that follows the old file's last
//! entry in the chain (its `prev` is that line's hash, its `seq` one more)
//! and repeats the segment's key and start evidence, so a verification
//! can begin at any file. The entry before it is always signed (it ends
//! a write), so no entry of the old file waits for a signature in the new.
//!
//! Steps, each crash-safe: the new file is written as `audit.log.next`
//! and synced; the old file is synced; `audit.log` is renamed to
//! `audit.log.SEQ` (SEQ: its last entry's, twelve digits, so names sort
//! in order), then `audit.log.next` to `audit.log`, and the directory is
//! synced. A start finds at most one of the two renames done and
//! finishes or undoes the rotation ([`finish_interrupted`]). Old files
//! are the operator's to keep or delete.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::Ed25519KeyPair;
use minikms_audit::{sign_line, Entry, StartEvidence, VERSION};

use super::tail::Tail;

/// The smallest file size rotation accepts (the host is untrusted, so the
/// enclave clamps what it passes): a start entry with its evidence is
/// about 20 KiB, and a file per few entries would be a file per request.
pub const MIN_BYTES: u64 = 64 << 10;
/// The shortest age rotation accepts.
pub const MIN_AGE: Duration = Duration::from_secs(1);
/// After a failed rotation (no room for a new file), the next try waits.
pub(super) const RETRY_AFTER: Duration = Duration::from_secs(60);
/// Suffix of the new file while it is being made.
const NEXT: &str = "next";

/// When the log moves to a new file; `None`: never for that reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rotation {
    pub max_bytes: Option<u64>,
    pub max_age: Option<Duration>,
}

impl Rotation {
    /// The host's values, clamped to at least [`MIN_BYTES`] and
    /// [`MIN_AGE`].
    pub fn clamped(max_bytes: Option<u64>, max_age_secs: Option<u64>) -> Self {
        Self {
            max_bytes: max_bytes.map(|b| b.max(MIN_BYTES)),
            max_age: max_age_secs.map(|s| Duration::from_secs(s).max(MIN_AGE)),
        }
    }

    /// Whether the file ending at `tail` is due to be rotated.
    pub(super) fn due(&self, tail: &Tail) -> bool {
        let full = self.max_bytes.is_some_and(|max| tail.len >= max);
        let old = self.max_age.is_some_and(|max| {
            tail.begun
                .is_some_and(|begun| time::OffsetDateTime::now_utc() - begun >= max)
        });
        full || old
    }
}

/// What each `continue` entry repeats of the segment's start entry.
pub(super) struct SegmentStart {
    pub public_key: String,
    pub evidence: StartEvidence,
    pub time: String,
}

/// The name an old file gets once its last entry is `last_seq`.
pub fn rotated_name(log: &Path, last_seq: u64) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{last_seq:012}"));
    PathBuf::from(name)
}

fn next_name(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{NEXT}"));
    PathBuf::from(name)
}

/// At start: a rotation cut short by a crash is finished (the old file
/// was renamed, the new one not yet) or undone (nothing renamed yet).
pub(super) fn finish_interrupted(log: &Path) -> std::io::Result<()> {
    let next = next_name(log);
    if !next.exists() {
        return Ok(());
    }
    if log.exists() {
        std::fs::remove_file(&next)?;
        tracing::info!("audit log {}: undid a rotation cut short", log.display());
    } else {
        std::fs::rename(&next, log)?;
        tracing::info!("audit log {}: finished a rotation cut short", log.display());
    }
    sync_dir(log)
}

/// Moves the log at `log`, ending at `tail`, to a new file that begins
/// with entry `seq` (a `continue` entry), and makes `tail` the new file's.
/// On `Err` nothing changed but perhaps a leftover `audit.log.next`.
pub(super) fn rotate(
    log: &Path,
    tail: &mut Tail,
    seq: u64,
    segment: &SegmentStart,
    key: &Ed25519KeyPair,
    store_gen: u64,
) -> std::io::Result<()> {
    let invalid = |e: serde_json::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let entry = Entry::Continue {
        v: VERSION,
        seq,
        prev: tail.prev.clone(),
        time: crate::clock::now_rfc3339_millis(),
        public_key: segment.public_key.clone(),
        evidence: segment.evidence.clone(),
        evidence_time: segment.time.clone(),
        store_gen: Some(store_gen),
    };
    let mut line = sign_line(&entry, key).map_err(invalid)?;
    let hash = minikms_audit::line_hash(&line);
    line.push(b'\n');
    let next = next_name(log);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&next)?;
    file.set_len(0)?;
    file.write_all(&line)?;
    file.sync_data()?;
    tail.file.sync_data()?;
    let old = rotated_name(log, tail.seq);
    if old.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists already", old.display()),
        ));
    }
    std::fs::rename(log, &old)?;
    std::fs::rename(&next, log)?;
    sync_dir(log)?;
    // The space kept ahead of the old file is not needed any more.
    if tail.reserved > tail.len && tail.reserved != u64::MAX {
        use rustix::fs::{fallocate, FallocateFlags};
        let _ = fallocate(
            &tail.file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            tail.len,
            tail.reserved - tail.len,
        );
    }
    let sync = Arc::new(file.try_clone()?);
    *tail = Tail {
        file,
        sync,
        buf: std::mem::take(&mut tail.buf),
        len: line.len() as u64,
        seq,
        prev: hash,
        store_gen: Some(store_gen),
        reserved: 0,
        damaged: false,
        begun: Some(time::OffsetDateTime::now_utc()),
    };
    tracing::info!(
        "audit log {}: rotated; entries up to {} are in {}",
        log.display(),
        seq - 1,
        old.display()
    );
    Ok(())
}

/// The rotated file that holds entry `seq`, if it is still there: the one
/// with the smallest last entry at or after it.
pub(super) fn file_holding(log: &Path, seq: u64) -> Option<PathBuf> {
    let dir = log.parent()?;
    let prefix = format!("{}.", log.file_name()?.to_str()?);
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let last: u64 = name.to_str()?.strip_prefix(&prefix)?.parse().ok()?;
            (last >= seq).then(|| (last, e.path()))
        })
        .min_by_key(|(last, _)| *last)
        .map(|(_, path)| path)
}

fn sync_dir(log: &Path) -> std::io::Result<()> {
    match log.parent() {
        Some(dir) => File::open(dir).and_then(|d| d.sync_all()),
        None => Ok(()),
    }
}

/// A log's rotation: when, what the new files' first entries repeat, and
/// whether one is under way.
#[derive(Default)]
pub(super) struct Rotating {
    pub(super) rotation: Rotation,
    /// `None`: never rotates (a log opened without a start entry: tests).
    pub(super) segment: Option<SegmentStart>,
    pub(super) state: std::sync::Mutex<State>,
}

#[derive(Default)]
pub(super) struct State {
    /// A rotation entry is queued.
    pub(super) queued: bool,
    /// After a failure, not before this.
    pub(super) not_before: Option<std::time::Instant>,
    /// The first entry of the current file, if this log began it: an
    /// old file holding only that entry is not rotated for its age.
    pub(super) first_seq: u64,
}

impl Rotating {
    pub(super) fn new(rotation: Rotation, segment: Option<SegmentStart>) -> Self {
        Self {
            rotation,
            segment,
            state: Default::default(),
        }
    }
}
