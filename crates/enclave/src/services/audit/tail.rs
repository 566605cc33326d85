//! The end of the log file: where the chain stands, and appending whole
//! lines to it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use minikms_audit::{open_line, ZERO_PREV};

use super::error::AuditError;
use crate::store::freshness::AuditHead;

/// The file, and its last complete entry.
pub(crate) struct Tail {
    pub(super) file: File,
    /// The same open file, for syncing while others write.
    pub(super) sync: Arc<File>,
    /// The last group's bytes, kept for the next (a fresh buffer per
    /// group cost a `malloc_consolidate` each time).
    pub(super) buf: Vec<u8>,
    /// Length of the file after the last complete entry.
    pub(super) len: u64,
    pub(super) seq: u64,
    pub(super) prev: String,
    /// The store generation the last entry recorded, if any.
    pub(super) store_gen: Option<u64>,
    /// Space is allocated to the file up to here ([`reserve`]).
    pub(super) reserved: u64,
    /// A failed write could not be cut back off: the file may end in part
    /// of a line, and nothing more may be appended.
    pub(super) damaged: bool,
    /// When the file's first entry was written (for rotation by age).
    pub(super) begun: Option<time::OffsetDateTime>,
}

impl Tail {
    /// The last complete entry, as the key store records it.
    pub(super) fn head(&self) -> AuditHead {
        AuditHead {
            seq: self.seq,
            hash: self.prev.clone(),
        }
    }
}

/// Space kept allocated past the end of the file, so that the entries of
/// requests already let through fit even when the disk fills up.
pub(super) const RESERVE: u64 = 1 << 20;
/// How much of the reserve is used before it is topped up again.
const TOP_UP_AFTER: u64 = 64 << 10;

/// Appends whole lines at the tail. A failed write is cut back off, so the
/// file always ends with a whole entry (if even that fails, the tail is
/// marked `damaged`).
pub(super) fn write_lines(tail: &mut Tail, bytes: &[u8]) -> std::io::Result<()> {
    if let Err(e) = tail.file.write_all(bytes) {
        if let Err(cut) = tail
            .file
            .set_len(tail.len)
            .and_then(|()| tail.file.sync_data())
        {
            tracing::error!("audit log: cannot cut a failed write back off: {cut}");
            tail.damaged = true;
        }
        // Cutting frees what was allocated past the end.
        tail.reserved = tail.len;
        return Err(e);
    }
    tail.len += bytes.len() as u64;
    Ok(())
}

/// Keeps [`RESERVE`] bytes allocated past the end of the file (allocated,
/// not written: the file's size does not change), topped up once
/// [`TOP_UP_AFTER`] of it is used. `Err` when the disk has no room for it:
/// the log then lets no new request through until it has
/// ([`super::AuditLog::admit`]), while the entries of those already let
/// through still fit. A file system that cannot allocate ahead
/// (`EOPNOTSUPP`) goes without a reserve.
pub(super) fn reserve(tail: &mut Tail) -> std::io::Result<()> {
    if tail.reserved >= tail.len + RESERVE - TOP_UP_AFTER {
        return Ok(());
    }
    use rustix::fs::{fallocate, FallocateFlags};
    match fallocate(&tail.file, FallocateFlags::KEEP_SIZE, tail.len, RESERVE) {
        Ok(()) => {
            tail.reserved = tail.len + RESERVE;
            Ok(())
        }
        Err(rustix::io::Errno::OPNOTSUPP) => {
            tracing::warn!(
                "audit log: this file system cannot allocate space ahead; going without a reserve"
            );
            tail.reserved = u64::MAX;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens the file for appending and reads where its chain stands.
pub(crate) fn open_tail(path: &Path, public_key: &[u8]) -> Result<Tail, AuditError> {
    let shown = path.display().to_string();
    let io = |error: std::io::Error| AuditError::Io {
        path: shown.clone(),
        error,
    };
    let foreign = |why: &str| AuditError::Foreign {
        path: shown.clone(),
        why: why.to_string(),
    };
    let existed = path.exists();
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?
    };
    if !existed {
        // The new file's name must survive a crash too.
        if let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
    }
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    let sync = Arc::new(file.try_clone().map_err(io)?);
    if len == 0 {
        return Ok(Tail {
            file,
            sync,
            begun: None,
            buf: Vec::new(),
            len,
            seq: 0,
            prev: ZERO_PREV.to_string(),
            store_gen: None,
            reserved: 0,
            damaged: false,
        });
    }
    // The last line, at most MAX_LINE bytes plus its newline.
    let window = len.min(minikms_audit::MAX_LINE as u64 + 2);
    file.seek(SeekFrom::Start(len - window)).map_err(io)?;
    let mut buf = Vec::new();
    Read::by_ref(&mut file)
        .take(window)
        .read_to_end(&mut buf)
        .map_err(io)?;
    let Some(body) = buf.strip_suffix(b"\n") else {
        return Err(foreign("the last entry is incomplete (no final newline)"));
    };
    let line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None if window == len => body,
        None => return Err(foreign("the last line is too long")),
    };
    let opened = open_line(line).map_err(|e| foreign(&format!("the last entry is {e}")))?;
    if !opened.signed_by(public_key) {
        return Err(foreign(
            "the last entry is not signed by this store's audit key (edited, or the key store was replaced)",
        ));
    }
    let begun = first_line(&file)
        .map_err(io)?
        .and_then(|line| open_line(&line).ok())
        .and_then(|first| {
            let time = first.entry.time();
            time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).ok()
        });
    Ok(Tail {
        file,
        sync,
        begun,
        buf: Vec::new(),
        len,
        seq: opened.entry.seq(),
        prev: minikms_audit::line_hash(line),
        store_gen: opened.entry.store_gen(),
        reserved: 0,
        damaged: false,
    })
}

/// The file's first line (without its newline), if it has a whole one.
pub(super) fn first_line(file: &File) -> std::io::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; minikms_audit::MAX_LINE + 1];
    let mut got = 0;
    while got < buf.len() {
        let n = file.read_at(&mut buf[got..], got as u64)?;
        if n == 0 {
            break;
        }
        if let Some(end) = buf[got..got + n].iter().position(|&b| b == b'\n') {
            buf.truncate(got + end);
            return Ok(Some(buf));
        }
        got += n;
    }
    Ok(None)
}
