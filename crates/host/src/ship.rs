//! `kms-host run --audit-stdout`: every audit entry the enclave writes
//! from this start on, copied as it is (one signed JSON object per line)
//! to stdout after the `listening on` line, for a log shipper.
//!
//! The host only reads the file the enclave writes (`audit.log` in the
//! enclave's data dir): entries are signed and chained, so the host,
//! which is not trusted, can carry them but not forge them. A rotation
//! renames the file; the old one is read to its end (the enclave syncs
//! it whole before the rename), then the new one from its start.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the file is looked at.
const POLL: Duration = Duration::from_millis(50);

/// Set once `listening on` is printed: entries follow it.
static LISTENING: AtomicBool = AtomicBool::new(false);

/// Called once the `listening on` line is out.
pub fn listening() {
    LISTENING.store(true, Ordering::Release);
}

/// Where the log stands, and the part of a line not yet written whole.
pub struct Shipper {
    path: PathBuf,
    /// The file as it was before the enclave started: its inode and
    /// length (what it held then is not shipped).
    before: Option<(u64, u64)>,
    file: Option<(File, u64)>,
    pos: u64,
    partial: Vec<u8>,
    /// The last entry shipped.
    last_seq: Option<u64>,
}

impl Shipper {
    /// Ships what is appended to `path` from now on.
    pub fn from_now(path: PathBuf) -> Self {
        let before = std::fs::metadata(&path).ok().map(|m| (m.ino(), m.len()));
        Self {
            path,
            before,
            file: None,
            pos: 0,
            partial: Vec::new(),
            last_seq: None,
        }
    }

    /// Copies every whole line written since the last call to `out`.
    pub fn poll(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        loop {
            if self.file.is_none() {
                let (path, rotated) = self.next_file();
                let file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(e),
                };
                let ino = file.metadata()?.ino();
                self.pos = match self.before {
                    Some((before, len)) if before == ino => len,
                    _ => 0,
                };
                self.partial.clear();
                self.file = Some((file, ino));
                if let Some(last) = rotated {
                    // A whole rotated file: read it, then go on after it.
                    self.read_new(out)?;
                    self.last_seq = Some(self.last_seq.unwrap_or(0).max(last));
                    self.file = None;
                    continue;
                }
            }
            self.read_new(out)?;
            let ino = self.file.as_ref().map(|(_, ino)| *ino);
            match std::fs::metadata(&self.path) {
                // Rotated: the old file is whole; finish it, then go on
                // with the files after it.
                Ok(m) if Some(m.ino()) != ino => {
                    self.read_new(out)?;
                    self.file = None;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The file to read next: a rotated file after the last entry shipped
    /// (with its last seq), if there is one (rotations can come faster
    /// than polls), else the log.
    fn next_file(&self) -> (PathBuf, Option<u64>) {
        let after = match self.last_seq {
            Some(seq) => seq,
            None => return (self.path.clone(), None),
        };
        let (Some(dir), Some(name)) = (
            self.path.parent(),
            self.path.file_name().and_then(|n| n.to_str()),
        ) else {
            return (self.path.clone(), None);
        };
        let prefix = format!("{name}.");
        let next = std::fs::read_dir(dir).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let file = e.file_name();
                    let last: u64 = file.to_str()?.strip_prefix(&prefix)?.parse().ok()?;
                    (last > after).then(|| (last, e.path()))
                })
                .min_by_key(|(last, _)| *last)
        });
        match next {
            Some((last, path)) => (path, Some(last)),
            None => (self.path.clone(), None),
        }
    }

    fn read_new(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let Some((file, _)) = &self.file else {
            return Ok(());
        };
        let len = file.metadata()?.len();
        if len < self.pos {
            // A failed write was cut back off; what follows replaces it.
            self.pos = len;
            self.partial.clear();
        }
        let mut buf = vec![0u8; 64 << 10];
        while self.pos < len {
            let n = file.read_at(&mut buf, self.pos)?;
            if n == 0 {
                break;
            }
            self.pos += n as u64;
            self.partial.extend_from_slice(&buf[..n]);
        }
        if let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') {
            out.write_all(&self.partial[..=end])?;
            out.flush()?;
            let last_line = self.partial[..end].rsplit(|&b| b == b'\n').next();
            if let Some(seq) = last_line.and_then(seq_of) {
                self.last_seq = Some(seq);
            }
            self.partial.drain(..=end);
        }
        Ok(())
    }
}

/// An entry's `seq` (the host only reads it to find the next file).
fn seq_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(line)
        .ok()?
        .get("seq")?
        .as_u64()
}

/// Ships entries to stdout until the task is dropped; then [`finish`]
/// ships the last ones.
pub async fn follow(shipper: Arc<Mutex<Shipper>>) {
    loop {
        tokio::time::sleep(POLL).await;
        if !LISTENING.load(Ordering::Acquire) {
            continue;
        }
        if !ship(&shipper) {
            return;
        }
    }
}

/// Ships what the enclave wrote last (after it stopped).
pub fn finish(shipper: &Mutex<Shipper>) {
    if LISTENING.load(Ordering::Acquire) {
        ship(shipper);
    }
}

/// `false` once stdout is gone (shipping stops; the log file stays).
fn ship(shipper: &Mutex<Shipper>) -> bool {
    let mut shipper = shipper.lock().unwrap_or_else(PoisonError::into_inner);
    let stdout = std::io::stdout();
    if let Err(e) = shipper.poll(&mut stdout.lock()) {
        tracing::warn!(
            "--audit-stdout: cannot ship {}: {e}; no more entries go to stdout",
            shipper.path.display()
        );
        return false;
    }
    true
}
