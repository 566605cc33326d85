//! Offline verification of an enclave's audit log (format:
//! [`minikms_audit`]).
//!
//! Every line is checked in order, and the first failure names the entry
//! (its 1-based position in the file) and what is wrong:
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
    /// Position of its start entry (1-based).
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
    /// segment covers (or a start entry without one).
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
    if log.is_empty() {
        return Err(AuditError::Empty);
    }
    let mut lines: Vec<&[u8]> = log.split(|&b| b == b'\n').collect();
    // A final newline leaves one empty piece; its absence is a cut line.
    let complete = lines.last().is_some_and(|l| l.is_empty());
    if complete {
        lines.pop();
    }
    let mut key: Option<Vec<u8>> = None;
    let mut prev_line: Option<&[u8]> = None;
    let mut segments: Vec<Segment> = Vec::new();
    let mut requests = 0u64;
    let mut unauthenticated = 0u64;
    let mut first_time = String::new();
    let mut last_time = String::new();
    // The first entry no signature covers yet.
    let mut uncovered: Option<u64> = None;
    for (i, line) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        let fail = |problem: Problem| AuditError::Entry { entry: n, problem };
        if !complete && i + 1 == lines.len() {
            return Err(fail(Problem::Incomplete));
        }
        let opened = open_line(line).map_err(|e| fail(e.into()))?;
        match &opened.entry {
            Entry::Start {
                time,
                public_key,
                evidence,
                ..
            } => {
                if let Some(first) = uncovered {
                    return Err(AuditError::Entry {
                        entry: first,
                        problem: Problem::Unsigned,
                    });
                }
                if opened.signature.is_none() {
                    return Err(fail(Problem::Unsigned));
                }
                let pk = minikms_audit::b64_decode(public_key)
                    .filter(|k| k.len() == 32)
                    .ok_or_else(|| fail(Problem::PublicKey))?;
                let at = unix_time(time).ok_or_else(|| fail(Problem::Time(time.clone())))?;
                let mut segment =
                    check_evidence(&pk, evidence, at, options, policy).map_err(fail)?;
                if key.as_ref().is_some_and(|k| *k != pk) {
                    return Err(fail(Problem::KeyChanged));
                }
                segment.entry = n;
                segment.time = time.clone();
                segments.push(segment);
                key = Some(pk);
            }
            Entry::Request { .. } => requests += 1,
            Entry::Unauthenticated { requests: n, .. } => {
                unauthenticated = unauthenticated.saturating_add(*n);
            }
        }
        let Some(k) = &key else {
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
        match prev_line {
            None => {
                if entry.seq() != 1 || entry.prev() != ZERO_PREV {
                    return Err(fail(Problem::NotFirst));
                }
                first_time = entry.time().to_string();
            }
            Some(p) => {
                if entry.prev() != minikms_audit::line_hash(p) {
                    return Err(fail(Problem::ChainBroken));
                }
                if entry.seq() != n {
                    return Err(fail(Problem::Sequence {
                        found: entry.seq(),
                        expected: n,
                    }));
                }
            }
        }
        if let Some(s) = segments.last_mut() {
            s.entries += 1;
        }
        last_time = entry.time().to_string();
        prev_line = Some(line);
    }
    if let Some(first) = uncovered {
        return Err(AuditError::Entry {
            entry: first,
            problem: Problem::Unsigned,
        });
    }
    let public_key = key.map(hex::encode).unwrap_or_default();
    let head = Head {
        seq: lines.len() as u64,
        hash: prev_line.map(minikms_audit::line_hash).unwrap_or_default(),
    };
    Ok(Summary {
        entries: lines.len() as u64,
        requests,
        unauthenticated,
        public_key,
        first_time,
        last_time,
        head,
        simulation: segments.iter().any(|s| s.simulation),
        segments,
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
