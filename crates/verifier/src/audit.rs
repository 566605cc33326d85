//! Offline verification of an enclave's audit log (format:
//! [`minikms_audit`]).
//!
//! Every line is checked in order, and the first failure names the entry
//! (its 1-based position in the file) and what is wrong. A rotated log is
//! verified file by file with [`Chain`]: each file after the first begins
//! with a `continue` entry that follows the last of the one before, and
//! verification may begin at such an entry (its segment's evidence is
//! checked then) without the older files:
//!
//! 1. A start entry (the first line, and every enclave restart) carries the
//!    audit public key and attestation evidence. The evidence is verified
//!    with [`verify_quote`] under the caller's [`Policy`], at the entry's
//!    own time (when the evidence was made), and its held data must be
//!    `{"pubkey-hash": [1, SHA-256(key)], "nonce": "minikms audit log v1"}`:
//!    only then is the key trusted. Every start entry of one file must
//!    carry the same key (the enclave keeps it sealed).
//! 2. Every signature must verify under that key (an edited signed entry
//!    fails here), and every entry must be signed or followed, in the same
//!    segment, by a signed entry (whose signature covers it through the
//!    chain; an edited unsigned entry breaks the chain at the next one).
//! 3. Every entry's `prev` must be the SHA-256 of the line before it, and
//!    its `seq` one more (a removed, reordered or inserted entry fails
//!    here); the first must have `seq` 1 and `prev` all zeros.
//!
//! Not detectable offline: entries cut off the end of the file (the
//! summary gives the last entry's seq and time, to compare with what is
//! expected), or the whole file replaced by an older copy of itself.

use minikms_audit::{open_line, Entry, LineError, StartEvidence, EVIDENCE_NONCE, ZERO_PREV};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::held_data::{Binding, HeldClaims};
use crate::policy::{Policy, TcbStatus};
use crate::verify::{verify_quote, VerifyOptions};
use crate::VerifyError;

/// How to verify the evidence in start entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions<'a> {
    /// Collateral for evidence that does not carry its own (real SGX).
    pub collateral: Option<&'a [u8]>,
    /// Without collateral, check signatures only (TCB status unknown).
    pub offline: bool,
}

/// What a verified log says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Number of entries (lines).
    pub entries: u64,
    /// The first entry's seq: 1, unless verification began at a rotated
    /// file's `continue` entry (the older files not given).
    pub first_seq: u64,
    /// How many files the log was given in (rotated files and the current).
    pub files: u64,
    /// Request entries among them.
    pub requests: u64,
    /// Requests without a valid token counted by `unauthenticated`
    /// entries (one per client address and interval), not one entry each.
    pub unauthenticated: u64,
    /// The audit public key (Ed25519, hex).
    pub public_key: String,
    /// Time of the first and the last entry.
    pub first_time: String,
    pub last_time: String,
    /// The last entry: what the log's head is, to compare with the head
    /// a running enclave states (a log cut short has an older head).
    pub head: Head,
    /// One per enclave start.
    pub segments: Vec<Segment>,
    /// Simulated evidence somewhere in the log: it proves nothing.
    pub simulation: bool,
}

/// A log's last entry: its sequence number and the hex SHA-256 of its
/// line (what the next entry's `prev` would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// One enclave start, with what its verified evidence says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// Seq of its start entry (its line in a whole log), or of the
    /// `continue` entry verification began at.
    pub entry: u64,
    pub time: String,
    /// Entries in this segment, the start entry included.
    pub entries: u64,
    pub platform: &'static str,
    pub mrenclave: Option<String>,
    pub mrsigner: Option<String>,
    pub isv_prod_id: Option<u16>,
    pub isv_svn: Option<u16>,
    pub debug: bool,
    pub tcb_status: TcbStatus,
    pub simulation: bool,
}

/// Why a log was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The file holds no entry.
    #[error("the audit log is empty")]
    Empty,
    /// Entry `entry` (1-based) fails `problem`.
    #[error("entry {entry}: {problem}")]
    Entry { entry: u64, problem: Problem },
}

/// What is wrong with one entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Not a line of the format (or the file does not end with a newline).
    #[error("{0}")]
    Line(#[from] LineError),
    #[error("incomplete (the file does not end with a newline)")]
    Incomplete,
    /// The first line is not a start entry.
    #[error("the log does not begin with a start entry")]
    NoHeader,
    /// The first entry says entries came before it.
    #[error("not the first entry of a log (entries removed before it)")]
    NotFirst,
    #[error("bad time {0:?}")]
    Time(String),
    #[error("bad public key")]
    PublicKey,
    /// The start entry's evidence fails verification or the policy.
    #[error("evidence does not verify: {0}")]
    Evidence(VerifyError),
    /// The evidence is fine but says nothing about this key.
    #[error("evidence does not bind the audit key")]
    NotBound,
    /// A start entry names another key than the log's.
    #[error("start entry with a different audit key")]
    KeyChanged,
    /// The signature does not verify under the log's key.
    #[error("bad signature (edited)")]
    BadSignature,
    /// An entry without a signature that no later signed entry of its
    /// segment (and file) covers, or a start or continue entry without one.
    #[error("not signed, and no signed entry follows it in its segment")]
    Unsigned,
    /// `prev` is not the hash of the line before.
    #[error("hash chain broken (the entry before it was edited, or entries were removed, reordered or inserted)")]
    ChainBroken,
    /// `seq` does not follow the previous entry's.
    #[error("sequence number {found}, expected {expected}")]
    Sequence { found: u64, expected: u64 },
}

/// An entry of a log, with its time parsed, for merging several logs
/// (one per replica) by time.
pub struct Timed {
    pub time: OffsetDateTime,
    pub entry: Entry,
}

/// Every entry of `log`, in file order. Verify the log first
/// ([`verify_log`]): this only reads it.
pub fn timeline(log: &[u8]) -> Result<Vec<Timed>, AuditError> {
    let mut out = Vec::new();
    for (i, line) in log
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let fail = |problem: Problem| AuditError::Entry {
            entry: i as u64 + 1,
            problem,
        };
        let entry = open_line(line).map_err(|e| fail(e.into()))?.entry;
        let time = OffsetDateTime::parse(entry.time(), &Rfc3339)
            .map_err(|_| fail(Problem::Time(entry.time().to_string())))?;
        out.push(Timed { time, entry });
    }
    Ok(out)
}

/// Verifies a whole log, offline; returns its summary or the first failure.
pub fn verify_log(
    log: &[u8],
    options: &LogOptions<'_>,
    policy: &Policy,
) -> Result<Summary, AuditError> {
    let mut chain = Chain::new(options, policy);
    chain.file(log)?;
    chain.finish()
}

/// A log in several files (rotated: each file after the first begins
/// with a `continue` entry), verified file by file, in order. The first
/// file may begin with a `continue` entry too: verification then starts
/// from it (its evidence is checked), without the older files.
pub struct Chain<'a> {
    options: &'a LogOptions<'a>,
    policy: &'a Policy,
    key: Option<Vec<u8>>,
    /// The last entry verified: its seq and line hash.
    prev: Option<(u64, String)>,
    first_seq: u64,
    entries: u64,
    files: u64,
    segments: Vec<Segment>,
    requests: u64,
    unauthenticated: u64,
    first_time: String,
    last_time: String,
}

impl<'a> Chain<'a> {
    pub fn new(options: &'a LogOptions<'a>, policy: &'a Policy) -> Self {
        Self {
            options,
            policy,
            key: None,
            prev: None,
            first_seq: 0,
            entries: 0,
            files: 0,
            segments: Vec::new(),
            requests: 0,
            unauthenticated: 0,
            first_time: String::new(),
            last_time: String::new(),
        }
    }

    /// Verifies the next file; errors name entries by their line in it.
    pub fn file(&mut self, log: &[u8]) -> Result<(), AuditError> {
        if log.is_empty() {
            return Err(AuditError::Empty);
        }
        self.files += 1;
        let mut lines: Vec<&[u8]> = log.split(|&b| b == b'\n').collect();
        // A final newline leaves one empty piece; its absence is a cut line.
        let complete = lines.last().is_some_and(|l| l.is_empty());
        if complete {
            lines.pop();
        }
        // The first entry no signature covers yet.
        let mut uncovered: Option<u64> = None;
        for (i, line) in lines.iter().enumerate() {
            let n = i as u64 + 1;
            let fail = |problem: Problem| AuditError::Entry { entry: n, problem };
            if !complete && i + 1 == lines.len() {
                return Err(fail(Problem::Incomplete));
            }
            let opened = open_line(line).map_err(|e| fail(e.into()))?;
            let begins = matches!(opened.entry, Entry::Start { .. } | Entry::Continue { .. });
            if let Some(first) = uncovered.filter(|_| begins) {
                return Err(AuditError::Entry {
                    entry: first,
                    problem: Problem::Unsigned,
                });
            }
            match &opened.entry {
                Entry::Start {
                    time,
                    public_key,
                    evidence,
                    ..
                } => {
                    self.begin(opened.signature.is_some(), public_key)
                        .map_err(fail)?;
                    self.segment(public_key, evidence, time, opened.entry.seq())
                        .map_err(fail)?;
                }
                Entry::Continue {
                    public_key,
                    evidence,
                    evidence_time,
                    ..
                } => {
                    self.begin(opened.signature.is_some(), public_key)
                        .map_err(fail)?;
                    // A checkpoint: the segment's evidence vouches for the key.
                    if self.prev.is_none() {
                        self.segment(public_key, evidence, evidence_time, opened.entry.seq())
                            .map_err(fail)?;
                    }
                }
                Entry::Request { .. } => self.requests += 1,
                Entry::Unauthenticated { requests: n, .. } => {
                    self.unauthenticated = self.unauthenticated.saturating_add(*n);
                }
            }
            let Some(k) = &self.key else {
                return Err(fail(Problem::NoHeader));
            };
            match opened.signature {
                Some(_) if !opened.signed_by(k) => return Err(fail(Problem::BadSignature)),
                Some(_) => uncovered = None,
                None => {
                    uncovered.get_or_insert(n);
                }
            }
            let entry = &opened.entry;
            match &self.prev {
                None => {
                    let checkpoint = matches!(entry, Entry::Continue { .. });
                    if !checkpoint && (entry.seq() != 1 || entry.prev() != ZERO_PREV) {
                        return Err(fail(Problem::NotFirst));
                    }
                    self.first_seq = entry.seq();
                    self.first_time = entry.time().to_string();
                }
                Some((seq, hash)) => {
                    if entry.prev() != hash {
                        return Err(fail(Problem::ChainBroken));
                    }
                    if entry.seq() != seq + 1 {
                        return Err(fail(Problem::Sequence {
                            found: entry.seq(),
                            expected: seq + 1,
                        }));
                    }
                }
            }
            if let Some(s) = self.segments.last_mut() {
                s.entries += 1;
            }
            self.entries += 1;
            self.last_time = entry.time().to_string();
            self.prev = Some((entry.seq(), minikms_audit::line_hash(line)));
        }
        // The writer signs the last entry of every write, and rotates
        // between writes: a whole file ends with a signed entry.
        if let Some(first) = uncovered {
            return Err(AuditError::Entry {
                entry: first,
                problem: Problem::Unsigned,
            });
        }
        Ok(())
    }

    /// A start or continue entry: everything before it is covered, it is
    /// signed, and its key is the log's.
    fn begin(&mut self, signed: bool, public_key: &str) -> Result<(), Problem> {
        if !signed {
            return Err(Problem::Unsigned);
        }
        let pk = minikms_audit::b64_decode(public_key)
            .filter(|k| k.len() == 32)
            .ok_or(Problem::PublicKey)?;
        if self.key.as_ref().is_some_and(|k| *k != pk) {
            return Err(Problem::KeyChanged);
        }
        Ok(())
    }

    /// Verifies a segment's evidence (made at `time`) for `public_key`,
    /// which the log's key then is.
    fn segment(
        &mut self,
        public_key: &str,
        evidence: &StartEvidence,
        time: &str,
        seq: u64,
    ) -> Result<(), Problem> {
        let pk = minikms_audit::b64_decode(public_key).ok_or(Problem::PublicKey)?;
        let at = unix_time(time).ok_or_else(|| Problem::Time(time.to_string()))?;
        let mut segment = check_evidence(&pk, evidence, at, self.options, self.policy)?;
        segment.entry = seq;
        segment.time = time.to_string();
        self.segments.push(segment);
        self.key = Some(pk);
        Ok(())
    }

    /// The summary of every file verified.
    pub fn finish(self) -> Result<Summary, AuditError> {
        let Some((seq, hash)) = self.prev else {
            return Err(AuditError::Empty);
        };
        Ok(Summary {
            entries: self.entries,
            first_seq: self.first_seq,
            files: self.files,
            requests: self.requests,
            unauthenticated: self.unauthenticated,
            public_key: self.key.map(hex::encode).unwrap_or_default(),
            first_time: self.first_time,
            last_time: self.last_time,
            head: Head { seq, hash },
            simulation: self.segments.iter().any(|s| s.simulation),
            segments: self.segments,
        })
    }
}

/// Where a file of a log begins and ends, to put rotated files in order
/// (nothing is verified here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ends {
    /// The first entry's seq and `prev`, if it is a `continue` entry.
    pub continues: Option<(u64, String)>,
    /// The last entry's seq and line hash.
    pub last: (u64, String),
}

/// The [`Ends`] of `log`; `None` if its first or last line is not an entry.
pub fn ends(log: &[u8]) -> Option<Ends> {
    let mut lines = log.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let first_line = lines.next()?;
    let last = lines.next_back().unwrap_or(first_line);
    let first = open_line(first_line).ok()?.entry;
    let continues =
        matches!(first, Entry::Continue { .. }).then(|| (first.seq(), first.prev().to_string()));
    let seq = open_line(last).ok()?.entry.seq();
    Some(Ends {
        continues,
        last: (seq, minikms_audit::line_hash(last)),
    })
}

/// Verifies a start entry's evidence and that it binds `public_key`.
fn check_evidence(
    public_key: &[u8],
    evidence: &StartEvidence,
    at: u64,
    options: &LogOptions<'_>,
    policy: &Policy,
) -> Result<Segment, Problem> {
    let malformed = |what: &str| {
        Problem::Evidence(VerifyError::Evidence(crate::EvidenceError::Malformed(
            format!("{what} is not hex"),
        )))
    };
    let quote = hex::decode(&evidence.quote).map_err(|_| malformed("quote"))?;
    let held = hex::decode(&evidence.held_data).map_err(|_| malformed("held data"))?;
    let verify = VerifyOptions {
        at,
        collateral: options
            .collateral
            .or(evidence.collateral.as_deref().map(str::as_bytes)),
        offline: options.offline,
    };
    let claims = verify_quote(&quote, Some(&held), &verify, policy).map_err(Problem::Evidence)?;
    let expected = HeldClaims::Cbor {
        pubkey_hash: Some(hex::encode(minikms_audit::public_key_hash(public_key))),
        ca_pubkey_hash: None,
        nonce: Some(hex::encode(EVIDENCE_NONCE)),
        store_generation: None,
        audit_head: None,
    };
    let bound = claims.binding == Some(Binding::Valid)
        && claims.held_data.as_ref().map(|h| &h.claims) == Some(&expected);
    if !bound {
        return Err(Problem::NotBound);
    }
    Ok(Segment {
        entry: 0,
        time: String::new(),
        entries: 0,
        platform: claims.platform,
        mrenclave: claims.mrenclave,
        mrsigner: claims.mrsigner,
        isv_prod_id: claims.isv_prod_id,
        isv_svn: claims.isv_svn,
        debug: claims.debug,
        tcb_status: claims.tcb_status,
        simulation: claims.simulation,
    })
}

fn unix_time(text: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}
