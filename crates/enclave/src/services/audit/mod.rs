//! The audit trail: every `/v1` request (keys, tokens, `sys/*`) appends one
//! signed, hash-chained entry to `audit.log` in the enclave's data dir
//! before its answer leaves. The host stores the file; it cannot forge or
//! silently change it.
//!
//! Format: [`minikms_audit`] (JSON lines; `seq`, `prev` = SHA-256 of the
//! previous line, an Ed25519 signature on each). Entries hold the time
//! (RFC 3339 UTC), the token's accessor (never the token), the operation
//! (`read|update|delete|list ROUTE`), the key name from the path, the key
//! version where the answer names one, the HTTP status and outcome, and the
//! request id Vault's envelope returns. Never a body, plaintext, ciphertext
//! or key material.
//!
//! Key: an Ed25519 key made in the enclave on first start and kept sealed
//! in the store (`meta/audit_key`, MRSIGNER policy), so a restart or a new
//! build of the same signer continues the same chain. Each start appends a
//! `start` entry with the public key and fresh attestation evidence
//! (held data `{"pubkey-hash": [1, SHA-256(key)], "nonce": "minikms audit
//! log v1"}`, plus the collateral in simulation): `minikms audit verify`
//! checks everything offline.
//!
//! At start the last line must verify under our key and end with a
//! newline; if it does not (the file was edited or cut, or the store that
//! holds the key was replaced), the enclave refuses to start and says so:
//! the operator moves the file away, and a new log begins. We never repair
//! or restart a chain silently.
//!
//! Writing: a request queues its entry and wakes the writer task, which
//! takes every entry queued by the time it runs, chains them, signs the
//! last one (its signature covers the others through the chain; see
//! [`minikms_audit`]), and appends them all with one `write`. So under load
//! one signature and one `write` serve a whole group of requests, and alone
//! a request's entry is signed itself.
//!
//! Durability: no answer leaves before its entry is written to the file
//! (it then survives a crash of the enclave or host process). A request
//! that changed state (a key, token or policy write: the store's group
//! commit says so) also waits until its entry is fsynced, as its change
//! is: what survives a power cut never lacks its entry. Entries of
//! requests that changed nothing are fsynced by a background task within
//! [`SYNC_INTERVAL`] (10 ms) plus one `fdatasync`, so only the entries of
//! such a window can be lost to a power cut or kernel crash; the host
//! could drop them anyway (it stores the file, and a cut-off tail cannot
//! be detected offline). Vault's file audit device does not fsync at all.
//!
//! At start the log and the key store must agree on where each stands
//! ([`vouch`], [`crate::store::freshness`]): a rollback or cut of either
//! one alone is refused. Entries record the store's generation.
//!
//! Requests without a valid token are counted per client address and
//! written as one `unauthenticated` entry per address and interval
//! ([`tally`]), not one entry each: they cost their sender nothing.
//!
//! A full disk or a failed write or sync: [`room`] says when requests are
//! refused (503: nothing is done) and when they go through again.
//!
//! Rotation by size or age, the chain carried into the next file:
//! [`rotate`].

mod error;
pub mod record;
mod room;
pub mod rotate;
mod rotating;
mod sync;
mod tail;
mod tally;
mod vouch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use minikms_audit::request_line::{write_request_line, RequestLine};
use minikms_audit::{sign_line, sign_serialised, unsigned_line, Entry, StartEvidence, VERSION};
use tokio::sync::{oneshot, Notify};

use zeroize::Zeroizing;

use crate::error::Error;
use crate::platform::Platform;
use crate::services::source::Source;
use crate::state::State;
use crate::store::freshness::Freshness;
pub use error::AuditError;
pub use record::{AttestedFacts, Record, RequestId};
use room::Room;
pub use room::UNWRITABLE;
pub use rotate::Rotation;
use rotate::{Rotating, SegmentStart};
pub(crate) use tail::open_tail;
use tail::{reserve, write_lines, Tail};
use tally::{Counts, Tally};

/// The log file, in the enclave's data dir.
pub const FILE_NAME: &str = "audit.log";
/// Longest wait before entries nobody waits on are fsynced.
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);
/// Largest group buffer kept between writes.
const MAX_KEPT_BUFFER: usize = 1 << 20;
/// The meta record of the audit key.
const AUDIT_KEY_ID: &str = "audit_key";

/// The open log: its key, and where the chain stands.
pub struct AuditLog {
    key: Ed25519KeyPair,
    path: PathBuf,
    queue: Mutex<Queue>,
    /// Only the writer task holds this.
    tail: Mutex<Tail>,
    /// Entries up to this seq are in the file.
    written_upto: AtomicU64,
    /// Whether it takes entries now (a full disk, a failed sync).
    room: Room,
    /// Requests without a valid token, counted.
    tally: Tally,
    /// Requests whose entries are written and which wait for the sync.
    unsynced: Mutex<Vec<(u64, Reply)>>,
    /// Wakes the writer task when an entry is queued.
    queued: Notify,
    /// Wakes the syncer task after a write.
    written: Notify,
    /// Wakes it early when a request waits for durability.
    durable_wanted: Notify,
    /// When to move to a new file, and what its first entry repeats.
    rotating: Rotating,
    /// Shared with the key store: the generation each entry records, and
    /// where the synced head is published.
    freshness: Arc<Freshness>,
}

/// Entries waiting for the next write.
struct Queue {
    waiting: Vec<Queued>,
    /// The seq the next queued entry gets.
    next_seq: u64,
    /// The last seq a request waits to see on disk.
    durable_upto: u64,
}

struct Queued {
    seq: u64,
    time: time::OffsetDateTime,
    entry: Pending,
    reply: Reply,
}

/// What an entry records.
enum Pending {
    Request(Record),
    Counted(Counts),
    /// Move on to a new file, beginning with this entry ([`rotate`]).
    Rotate,
}

/// How a waiting request learns that its entry is in the file (and on
/// disk, if `durable`): `true`, or `false` if writing or syncing failed.
/// One per request, so a write wakes exactly the requests it wrote.
struct Reply {
    durable: bool,
    done: oneshot::Sender<bool>,
}

/// The audit signing key (Ed25519 PKCS#8), generated and sealed on first
/// use: the same key continues the log after a restart.
pub fn sealed_key(state: &State) -> Result<Zeroizing<Vec<u8>>, Error> {
    state.sealed_meta(AUDIT_KEY_ID, || {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| Error::failed("audit key generation"))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    })
}

impl AuditLog {
    /// Opens (or begins) `data_dir/audit.log` with the sealed key
    /// `key_pkcs8`, checks its tail and that it agrees with the key store
    /// (`freshness`), appends a start entry with fresh evidence for the
    /// key, and starts the writer and syncer tasks.
    pub async fn open(
        platform: &Arc<dyn Platform>,
        data_dir: &Path,
        key_pkcs8: &[u8],
        freshness: Arc<Freshness>,
        rotation: Rotation,
    ) -> Result<Arc<Self>, AuditError> {
        let key =
            Ed25519KeyPair::from_pkcs8(key_pkcs8).map_err(|e| AuditError::Key(e.to_string()))?;
        let path = data_dir.join(FILE_NAME);
        let io = |error: std::io::Error| AuditError::Io {
            path: path.display().to_string(),
            error,
        };
        rotate::finish_interrupted(&path).map_err(io)?;
        let mut tail = open_tail(&path, key.public_key().as_ref())?;
        vouch::check(&path, &tail, &freshness, key.public_key().as_ref())?;
        let public_key = key.public_key().as_ref().to_vec();
        let held = minikms_api::claims::encode(
            &minikms_audit::public_key_hash(&public_key),
            None,
            vec![(
                "nonce",
                ciborium::Value::Bytes(minikms_audit::EVIDENCE_NONCE.to_vec()),
            )],
        );
        let evidence = platform
            .evidence(minikms_api::claims::report_data(&held))
            .await?;
        let segment = SegmentStart {
            public_key: minikms_audit::b64_encode(&public_key),
            evidence: StartEvidence {
                platform: platform.name().to_string(),
                quote: hex::encode(&evidence.quote),
                held_data: hex::encode(&held),
                collateral: evidence.collateral.map(|c| c.to_string()),
            },
            time: crate::clock::now_rfc3339_millis(),
        };
        let start = Entry::Start {
            v: VERSION,
            seq: tail.seq + 1,
            prev: tail.prev.clone(),
            time: segment.time.clone(),
            public_key: segment.public_key.clone(),
            evidence: segment.evidence.clone(),
            store_gen: Some(freshness.generation()),
        };
        let mut line = sign_line(&start, &key).map_err(|e| io(invalid(e)))?;
        let hash = minikms_audit::line_hash(&line);
        line.push(b'\n');
        write_lines(&mut tail, &line).map_err(io)?;
        tail.file.sync_data().map_err(io)?;
        tail.seq = start.seq();
        tail.prev = hash;
        tail.begun.get_or_insert_with(time::OffsetDateTime::now_utc);
        freshness.audit_synced(tail.head());
        let room = reserve(&mut tail);
        let seq = tail.seq;
        tracing::info!(
            "audit log {}: entry {seq} starts this segment",
            path.display()
        );
        let sync_file = tail.sync.clone();
        let rotating = Rotating::new(rotation, Some(segment));
        let log = Self::continue_from(key, path, tail, sync_file, freshness, rotating);
        if let Err(e) = room {
            log.room
                .refuse_for_now(&format!("cannot allocate room for entries: {e}"));
        }
        Ok(log)
    }

    /// Syncs everything written so far and publishes the head (at
    /// shutdown, so the key store can record the very last entry).
    pub fn sync_now(&self) -> Result<(), AuditError> {
        let (head, file) = {
            let tail = lock(&self.tail);
            (tail.head(), tail.sync.clone())
        };
        file.sync_data().map_err(|error| AuditError::Io {
            path: self.path.display().to_string(),
            error,
        })?;
        self.freshness.audit_synced(head);
        Ok(())
    }

    /// What this log and the key store vouch for each other.
    pub fn freshness(&self) -> &Arc<Freshness> {
        &self.freshness
    }

    /// The log's file (`sys/audit` names it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log whose file ends at `tail`, with its writer and syncer tasks
    /// running.
    fn continue_from(
        key: Ed25519KeyPair,
        path: PathBuf,
        mut tail: Tail,
        sync_file: Arc<std::fs::File>,
        freshness: Arc<Freshness>,
        rotating: Rotating,
    ) -> Arc<Self> {
        tail.sync = sync_file;
        let seq = tail.seq;
        let room = Room::new(path.display().to_string());
        let log = Arc::new(Self {
            room,
            key,
            path,
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                next_seq: seq + 1,
                durable_upto: seq,
            }),
            tail: Mutex::new(tail),
            written_upto: AtomicU64::new(seq),
            tally: Tally::default(),
            unsynced: Mutex::new(Vec::new()),
            queued: Notify::new(),
            written: Notify::new(),
            durable_wanted: Notify::new(),
            rotating,
            freshness,
        });
        tokio::spawn(log.clone().write_in_background());
        tokio::spawn(log.clone().sync_in_background());
        let recovering = log.clone();
        tokio::spawn(async move { recovering.room.recover(&recovering.tail).await });
        tokio::spawn(log.clone().count_in_background());
        if log.rotating.rotation.max_age.is_some() {
            tokio::spawn(log.clone().age_in_background());
        }
        log
    }

    /// Whether a new request may go through: `Err` while the log cannot
    /// take its entry (the disk is full, or it failed for good). Checked
    /// before a request does anything, so a refused one changes nothing.
    pub fn admit(&self) -> Result<(), AuditError> {
        self.room.admit()
    }

    /// What is wrong with the log, for `sys/health`: `None` if nothing.
    pub fn trouble(&self) -> Option<&'static str> {
        self.room.trouble()
    }

    /// Counts a request without a valid token from `source` ([`tally`]).
    pub fn count(&self, source: Source, verb: &str, route: &str, status: u16) {
        self.tally.count(source, verb, route, status);
    }

    /// Writes the counts so far now (at shutdown).
    pub async fn write_counts(&self) {
        let waits: Vec<_> = self
            .tally
            .take()
            .into_iter()
            .map(|counts| self.enqueue(Pending::Counted(counts), false))
            .collect();
        for answer in waits {
            if !matches!(answer.await, Ok(true)) {
                tracing::warn!("audit log: counts of unauthenticated requests not written");
            }
        }
    }

    /// Writes the counts every [`tally::INTERVAL`], unless the log refuses
    /// (they wait for the next round then).
    async fn count_in_background(self: Arc<Self>) {
        let mut every = tokio::time::interval(tally::INTERVAL);
        every.tick().await;
        loop {
            every.tick().await;
            if self.admit().is_ok() {
                self.write_counts().await;
            }
        }
    }

    /// Appends one request's entry. On `Ok` it is in the file, and on disk
    /// if `durable` (the request changed state).
    pub async fn record(&self, record: Record, durable: bool) -> Result<(), AuditError> {
        if self.room.is_broken() {
            return Err(self.room.failed());
        }
        let start = std::time::Instant::now();
        let written = self.enqueue(Pending::Request(record), durable).await;
        let append = &crate::metrics::get().audit_append;
        append.observe(start.elapsed().as_secs_f64());
        self.room.answer(matches!(written, Ok(true)))
    }

    /// Queues an entry; the answer says whether it was written.
    fn enqueue(&self, entry: Pending, durable: bool) -> oneshot::Receiver<bool> {
        let (done, answer) = oneshot::channel();
        {
            let mut queue = lock(&self.queue);
            let seq = queue.next_seq;
            queue.next_seq += 1;
            queue.waiting.push(Queued {
                seq,
                time: time::OffsetDateTime::now_utc(),
                entry,
                reply: Reply { durable, done },
            });
            if durable {
                queue.durable_upto = seq;
            }
        }
        self.queued.notify_one();
        if durable {
            self.durable_wanted.notify_one();
        }
        answer
    }

    /// Writes what is queued each time it is woken: one signature and one
    /// `write` (to the page cache: tens of microseconds) for everything
    /// queued since the last round. A failed write refuses its entries'
    /// requests; once the log is broken, it refuses what is queued.
    async fn write_in_background(self: Arc<Self>) {
        // The queue's vector and this one trade places each round, so
        // neither is regrown per group (groups of a few dozen entries
        // made allocations past glibc's thread cache).
        let mut spare = Vec::new();
        loop {
            self.queued.notified().await;
            // Let the requests already runnable finish and queue their
            // entries first: under load this makes the groups (and so the
            // signatures saved) larger; when idle it costs nothing.
            tokio::task::yield_now().await;
            let mut batch = std::mem::replace(&mut lock(&self.queue).waiting, spare);
            if batch.is_empty() {
                spare = batch;
                continue;
            }
            if self.room.is_broken() {
                refuse(batch.drain(..).map(|q| q.reply));
                spare = batch;
                continue;
            }
            // A rotation begins a write of its own: what comes before it
            // goes to the old file, with the last entry signed.
            if self.take_rotation(&mut batch) && batch.is_empty() {
                spare = batch;
                continue;
            }
            match self.write_entries(&batch) {
                Ok(seq) => {
                    self.written_upto.store(seq, Ordering::Release);
                    let mut unsynced = lock(&self.unsynced);
                    for queued in batch.drain(..) {
                        if queued.reply.durable {
                            unsynced.push((queued.seq, queued.reply));
                        } else {
                            let _ = queued.reply.done.send(true);
                        }
                    }
                    drop(unsynced);
                    self.written.notify_one();
                    self.queue_rotation_if_due();
                }
                Err(e) => {
                    refuse(batch.drain(..).map(|q| q.reply));
                    let damaged = lock(&self.tail).damaged;
                    if self.room.write_failed(&e, damaged) {
                        self.renumber();
                    } else {
                        // The syncer refuses those waiting for it.
                        self.written.notify_one();
                    }
                }
            }
            spare = batch;
        }
    }

    /// After a failed write, numbers the queued entries on from the last
    /// entry in the file: the chain goes on without a gap.
    fn renumber(&self) {
        let mut queue = lock(&self.queue);
        let mut seq = lock(&self.tail).seq;
        let mut durable_upto = seq;
        for queued in &mut queue.waiting {
            seq += 1;
            queued.seq = seq;
            if queued.reply.durable {
                durable_upto = seq;
            }
        }
        queue.next_seq = seq + 1;
        queue.durable_upto = durable_upto;
    }

    /// Chains the entries, signs the last one, and appends them in one
    /// write; returns the last seq written. Then tops up the reserve,
    /// and refuses new requests if it cannot.
    fn write_entries(&self, entries: &[Queued]) -> Result<u64, AuditError> {
        let io = |error: std::io::Error| AuditError::Io {
            path: self.path.display().to_string(),
            error,
        };
        let store_gen = Some(self.freshness.generation());
        let mut tail = lock(&self.tail);
        let mut prev = tail.prev.clone();
        let mut seq = tail.seq;
        let mut bytes = std::mem::take(&mut tail.buf);
        bytes.clear();
        bytes.reserve(entries.len() * 400);
        let last = entries.len().saturating_sub(1);
        for (i, queued) in entries.iter().enumerate() {
            let (entry_seq, start) = (&queued.seq, bytes.len());
            let mut stamp = [0; crate::clock::MILLIS_LEN];
            let time = crate::clock::millis(queued.time, &mut stamp);
            match &queued.entry {
                Pending::Request(record) => write_request_line(
                    &mut bytes,
                    &RequestLine {
                        seq: *entry_seq,
                        prev: &prev,
                        time,
                        request_id: record.request_id.as_str(),
                        accessor: record.accessor.as_deref(),
                        verb: record.verb,
                        route: &record.route,
                        key: record.key.as_deref(),
                        key_version: record.key_version,
                        status: record.status,
                        attested: record.attested.as_deref(),
                        store_gen,
                    },
                ),
                Pending::Rotate => {
                    return Err(io(std::io::Error::other("a rotation amid a write")));
                }
                Pending::Counted(counts) => {
                    let line = unsigned_line(&Entry::Unauthenticated {
                        v: VERSION,
                        seq: *entry_seq,
                        prev: prev.clone(),
                        time: time.to_string(),
                        address: counts.address.clone(),
                        since: counts.since.clone(),
                        requests: counts.requests,
                        operations: counts.operations(),
                        store_gen,
                    })
                    .map_err(|e| io(invalid(e)))?;
                    bytes.extend_from_slice(&line);
                }
            }
            if i == last {
                let line = bytes.split_off(start);
                let signed = sign_serialised(line, &self.key).map_err(|e| io(invalid(e)))?;
                bytes.extend_from_slice(&signed);
            }
            prev = minikms_audit::line_hash(&bytes[start..]);
            seq = *entry_seq;
            bytes.push(b'\n');
        }
        write_lines(&mut tail, &bytes).map_err(io)?;
        tail.seq = seq;
        tail.prev = prev;
        tail.store_gen = store_gen;
        if bytes.capacity() <= MAX_KEPT_BUFFER {
            tail.buf = bytes;
        }
        if let Err(e) = reserve(&mut tail) {
            drop(tail);
            self.room
                .refuse_for_now(&format!("cannot allocate room for more entries: {e}"));
        }
        Ok(seq)
    }
}

/// Tells waiting requests their entries were not recorded.
fn refuse(replies: impl Iterator<Item = Reply>) {
    for reply in replies {
        let _ = reply.done.send(false);
    }
}

fn invalid(e: serde_json::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
