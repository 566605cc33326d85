//! At start, the audit log and the key store must agree
//! ([`crate::store::freshness`]): a store older than the log's last entry,
//! or a log short of (or other than) the entry the store recorded, means
//! one of the two files was rolled back, cut or replaced. The enclave
//! refuses to start and names what disagrees; it never picks one side.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use minikms_audit::{line_hash, open_line, MAX_LINE};

use super::error::AuditError;
use super::tail::Tail;
use crate::store::freshness::Freshness;
use crate::store::redb::FILE_NAME as STORE_FILE;

/// Checks the log ending at `tail` (the file at `path`) against the store.
pub(super) fn check(
    path: &Path,
    tail: &Tail,
    store: &Freshness,
    public_key: &[u8],
) -> Result<(), AuditError> {
    let log = path.display();
    let disagree = |what: String| Err(AuditError::Disagree(what));
    if let Some(seen) = tail.store_gen {
        if seen > store.generation() {
            return disagree(format!(
                "{STORE_FILE} is at generation {}, but entry {} of {log} saw generation {seen}: \
                 {STORE_FILE} was rolled back (replaced by an older copy); put back the \
                 {STORE_FILE} that goes with this audit log",
                store.generation(),
                tail.seq,
            ));
        }
    }
    let Some(recorded) = store.recorded() else {
        return Ok(());
    };
    if tail.seq < recorded.seq {
        let state = if tail.seq == 0 {
            "is empty or missing".to_string()
        } else {
            format!("ends at entry {}", tail.seq)
        };
        return disagree(format!(
            "{log} {state}, but {STORE_FILE} recorded its entry {}: the audit log was cut, \
             deleted or replaced by an older copy; put back the audit log that goes with this \
             {STORE_FILE}",
            recorded.seq
        ));
    }
    let io = |error| AuditError::Io {
        path: log.to_string(),
        error,
    };
    let hash = if tail.seq == recorded.seq {
        Some(tail.prev.clone())
    } else {
        match line_with_seq(&tail.file, tail.len, recorded.seq).map_err(io)? {
            Some(line) => Some(line_hash(&line)),
            None => match before_this_file(path, tail, recorded.seq, public_key).map_err(io)? {
                Before::Hash(hash) => Some(hash),
                Before::Gone => {
                    tracing::info!(
                        "audit log {log}: entry {} that {STORE_FILE} recorded is in a rotated file \
                         no longer here; this file continues the chain after it",
                        recorded.seq
                    );
                    return Ok(());
                }
                Before::NotHere => None,
            },
        }
    };
    if hash.as_deref() != Some(recorded.hash.as_str()) {
        return disagree(format!(
            "entry {} of {log} is not the one {STORE_FILE} recorded: the audit log was \
             replaced; put back the audit log that goes with this {STORE_FILE}",
            recorded.seq
        ));
    }
    Ok(())
}

/// Where an entry before the current file's first stands.
enum Before {
    /// Its line's hash.
    Hash(String),
    /// In a rotated file the operator removed.
    Gone,
    /// The file does not continue a chain that holds it.
    NotHere,
}

/// Entry `want`, when the file at `path` (ending at `tail`) begins after
/// it with a `continue` entry signed by `public_key` (a rotated log, or a
/// restored snapshot's): the hash that entry names, or the line in the
/// rotated file that holds it, if that is still there.
fn before_this_file(
    path: &Path,
    tail: &Tail,
    want: u64,
    public_key: &[u8],
) -> std::io::Result<Before> {
    let Some(first) = super::tail::first_line(&tail.file)? else {
        return Ok(Before::NotHere);
    };
    let Ok(first) = open_line(&first) else {
        return Ok(Before::NotHere);
    };
    let continues = matches!(first.entry, minikms_audit::Entry::Continue { .. })
        && first.signed_by(public_key)
        && first.entry.seq() > want;
    if !continues {
        return Ok(Before::NotHere);
    }
    if first.entry.seq() - 1 == want {
        return Ok(Before::Hash(first.entry.prev().to_string()));
    }
    let Some(old) = super::rotate::file_holding(path, want) else {
        return Ok(Before::Gone);
    };
    let file = File::open(old)?;
    let len = file.metadata()?.len();
    Ok(match line_with_seq(&file, len, want)? {
        Some(line) => Before::Hash(line_hash(&line)),
        None => Before::NotHere,
    })
}

/// The line of entry `want` in the first `len` bytes of `file`, read
/// backwards from the end (the entry the store recorded is usually among
/// the last); `None` if no line has that seq.
fn line_with_seq(file: &File, len: u64, want: u64) -> std::io::Result<Option<Vec<u8>>> {
    const CHUNK: u64 = 1 << 20;
    // The bytes after `end` not yet split into whole lines.
    let mut carry: Vec<u8> = Vec::new();
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let mut buf = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        file.read_exact_at(&mut buf, start)?;
        buf.extend_from_slice(&carry);
        let mut upto = buf.len();
        while let Some(newline) = buf[..upto].iter().rposition(|&b| b == b'\n') {
            match seq_of(&buf[newline + 1..upto]) {
                Some(seq) if seq == want => return Ok(Some(buf[newline + 1..upto].to_vec())),
                Some(seq) if seq < want => return Ok(None),
                _ => {}
            }
            upto = newline;
        }
        if start == 0 {
            return Ok((seq_of(&buf[..upto]) == Some(want)).then(|| buf[..upto].to_vec()));
        }
        if upto > MAX_LINE {
            return Ok(None);
        }
        buf.truncate(upto);
        carry = buf;
        end = start;
    }
    Ok(None)
}

fn seq_of(line: &[u8]) -> Option<u64> {
    if line.is_empty() {
        return None;
    }
    open_line(line).ok().map(|opened| opened.entry.seq())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    /// A log of `n` signed entries, each with `pad` bytes of request id.
    fn log_of(n: u64, pad: usize) -> (tempfile::NamedTempFile, Vec<Vec<u8>>) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let key = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut lines = Vec::new();
        for seq in 1..=n {
            let entry = minikms_audit::Entry::Request {
                v: minikms_audit::VERSION,
                seq,
                prev: minikms_audit::ZERO_PREV.into(),
                time: "2026-12-03T00:00:00Z".into(),
                request_id: "x".repeat(pad),
                accessor: None,
                operation: "read sys/health".into(),
                key: None,
                key_version: None,
                status: 200,
                outcome: minikms_audit::Outcome::Ok,
                attested: None,
                store_gen: Some(seq),
            };
            let line = minikms_audit::sign_line(&entry, &key).unwrap();
            file.write_all(&line).unwrap();
            file.write_all(b"\n").unwrap();
            lines.push(line);
        }
        (file, lines)
    }

    #[test]
    fn finds_any_line_by_seq_across_chunks() {
        // ~3 MiB of lines of ~20 KiB: the search crosses chunk borders.
        let (file, lines) = log_of(150, 20_000);
        let len = file.as_file().metadata().unwrap().len();
        for want in [1, 2, 51, 52, 53, 100, 149, 150] {
            let found = line_with_seq(file.as_file(), len, want).unwrap();
            assert_eq!(
                found.as_deref(),
                Some(&lines[want as usize - 1][..]),
                "{want}"
            );
        }
        assert_eq!(line_with_seq(file.as_file(), len, 151).unwrap(), None);
        assert_eq!(line_with_seq(file.as_file(), len, 0).unwrap(), None);
    }
}
