//! The audit log's line format, shared by its writer (the enclave) and its
//! readers (the enclave checking its tail at start, and
//! `minikms_verifier::audit`). One format, one parser.
//!
//! # Format (version 1)
//!
//! The log is a file of lines, each one JSON object ending in `\n`. Every
//! line is an [`Entry`], signed, with `"sig"` as its last member:
//!
//! ```text
//! {"type":"start","v":1,"seq":1,"prev":"00…00","time":"…","public_key":"…","evidence":{…},"sig":"…"}
//! {"type":"request","v":1,"seq":2,"prev":"<SHA-256 of line 1>","time":"2026-11-27T03:00:00Z",
//!  "request_id":"…","accessor":"…","operation":"update transit/encrypt/{name}",
//!  "key":"app","key_version":1,"status":200,"outcome":"ok","sig":"…"}
//! ```
//!
//! - `seq` counts entries from 1; `prev` is the hex SHA-256 of the previous
//!   line's bytes (without its `\n`), 64 zeros for the first line.
//! - `sig` is base64 of an Ed25519 signature, by the enclave's audit key,
//!   over [`SIGNING_PREFIX`] followed by the line with `,"sig":"…"` removed
//!   (that is, the exact bytes of the entry as serialised without `sig`).
//!   Signatures cover exact bytes: no canonicalisation.
//! - `sig` may be left out of an entry when a later entry of the same
//!   segment is signed: that signature covers its `prev`, which is the hash
//!   of the line before, which holds that line's `prev`, and so on, so it
//!   vouches for every line before it. The writer signs the last entry of
//!   each write (one signature per group of concurrent requests), so a
//!   complete file always ends with a signed entry; a reader refuses
//!   entries that no signature covers. Start entries are always signed.
//! - A `start` entry opens each segment (one per enclave start; the first
//!   line of a file is one): it carries the audit public key (base64 of the
//!   raw 32-byte Ed25519 key) and attestation [`StartEvidence`] whose held
//!   data is the CBOR map `{"pubkey-hash": [1, SHA-256(public key)],
//!   "nonce": [`EVIDENCE_NONCE`]}` (the `/attestation` EnclaveHeldData
//!   shape), and whose quote's report_data is SHA-256(held data) followed
//!   by 32 zero bytes.
//! - A `continue` entry begins every file but the first when the log is
//!   rotated (`kms-host run --audit-max-bytes`, `--audit-max-age`): its
//!   `prev` and `seq - 1` name the previous file's last entry, and it
//!   carries the segment's key and start evidence (with `evidence_time`),
//!   so a file can be verified from it without the older files. The
//!   entry before it is always signed. A store restored from a snapshot
//!   begins its new log with one too, naming the snapshot's audit head.
//! - A `request` entry records one API request: time (RFC 3339 UTC), the
//!   token's accessor (never the token), operation, key name and version
//!   where known, HTTP status and outcome, and the request id the response
//!   carried. Never a body, plaintext, ciphertext or key material. The
//!   entries of an attested login and of releases to the workload also
//!   carry `attested`: what the login verified ([`Attested`]).
//! - An `unauthenticated` entry counts, instead of one entry each, the
//!   requests from one client address over an interval that carried no
//!   valid token and either were refused or needed none and matter little
//!   (a join challenge, an attestation nonce): `address` (an IPv4 address
//!   or an IPv6 /64), `since` and `time` (the interval), `requests` (their
//!   number) and `operations` (how many of each operation and status).
//! - Every kind ends with `store_gen`, the key store's generation (the
//!   version of its last committed write) when the entry was written, so
//!   a key store older than its log is refused at start. Logs of builds
//!   before it lack the member.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};
use base64::Engine;
use serde::{Deserialize, Serialize};

pub mod request_line;

/// Format version of every entry.
pub const VERSION: u32 = 1;
/// Prepended to an entry's bytes before signing (domain separation).
pub const SIGNING_PREFIX: &[u8] = b"minikms audit log v1\n";
/// The nonce in a start entry's held data: says what the key is for.
pub const EVIDENCE_NONCE: &[u8] = b"minikms audit log v1";
/// `prev` of the first entry of a log.
pub const ZERO_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest line a reader accepts (a start entry with collateral is ~20 KiB).
pub const MAX_LINE: usize = 1 << 20;

const SIG_MEMBER: &[u8] = b",\"sig\":\"";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One entry, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Entry {
    /// The start of a segment: who is writing, with evidence for its key.
    Start {
        v: u32,
        seq: u64,
        prev: String,
        time: String,
        /// Base64 of the raw Ed25519 public key.
        public_key: String,
        evidence: StartEvidence,
        /// The key store's generation when this entry was written; absent
        /// in logs of builds before it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store_gen: Option<u64>,
    },
    /// The first line of a file that continues another (the log was
    /// rotated, or a snapshot's store was restored): its `prev` is the hash
    /// of the previous file's last line and `seq - 1` that line's seq. It
    /// carries the key and the evidence of the segment it continues, so a
    /// verification can begin here without the older files.
    Continue {
        v: u32,
        seq: u64,
        prev: String,
        time: String,
        /// Base64 of the raw Ed25519 public key, as in `Start`.
        public_key: String,
        /// The evidence of the segment's start entry, unchanged.
        evidence: StartEvidence,
        /// The time of that start entry: the evidence is checked then.
        evidence_time: String,
        /// As in `Start`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store_gen: Option<u64>,
    },
    /// One API request.
    Request {
        v: u32,
        seq: u64,
        prev: String,
        time: String,
        /// The id the response carried (Vault's `request_id`).
        request_id: String,
        /// The token's accessor; `null` when the request had no token.
        accessor: Option<String>,
        /// `read|update|delete|list ROUTE`, e.g. `update transit/encrypt/{name}`.
        operation: String,
        /// The key named in the path, if any.
        key: Option<String>,
        /// The key version used or current, where the answer says it.
        key_version: Option<u64>,
        /// HTTP status of the answer.
        status: u16,
        outcome: Outcome,
        /// What an attested login verified: on the login's entry and on
        /// each release to the workload.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attested: Option<Attested>,
        /// As in `Start`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store_gen: Option<u64>,
    },
    /// Requests without a valid token from one address, counted over an
    /// interval rather than one entry each (they could fill the disk).
    Unauthenticated {
        v: u32,
        seq: u64,
        prev: String,
        /// When the interval ended (the entry was written).
        time: String,
        /// The client's IPv4 address, or its IPv6 /64.
        address: String,
        /// When the first request of the interval came (RFC 3339 UTC).
        since: String,
        /// How many requests the entry counts.
        requests: u64,
        /// How many of each operation and status.
        operations: Vec<Counted>,
        /// As in `Start`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store_gen: Option<u64>,
    },
}

/// How many requests of one operation got one status, in an
/// [`Entry::Unauthenticated`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counted {
    /// `read|update|delete|list ROUTE`, as in a request entry.
    pub operation: String,
    pub status: u16,
    pub count: u64,
}

/// What an attested login verified of a workload (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attested {
    /// The role it logged in under.
    pub role: String,
    /// "sgx", "tdx", "sev-snp" or "simulation".
    pub platform: String,
    pub mrenclave: Option<String>,
    pub mrsigner: Option<String>,
    pub isv_svn: Option<u16>,
    /// Intel's TCB status ("unknown" without collateral).
    pub tcb_status: String,
    pub debug: bool,
    /// Evidence under the simulation root: proves nothing.
    pub simulation: bool,
    /// SHA-256 (hex) of the workload's public key, which its token is
    /// bound to and releases are wrapped to.
    pub key_sha256: String,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// 2xx.
    Ok,
    /// 401 or 403: no valid token, or not allowed.
    Denied,
    /// Anything else.
    Error,
}

impl Outcome {
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Outcome::Ok,
            401 | 403 => Outcome::Denied,
            _ => Outcome::Error,
        }
    }
}

/// Attestation evidence binding a start entry's public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartEvidence {
    /// "simulation" or "sgx", as the enclave says (the verifier decides).
    pub platform: String,
    /// The quote, hex.
    pub quote: String,
    /// The held data (CBOR claims map), hex.
    pub held_data: String,
    /// QuoteCollateralV3 JSON, where the platform issues it (simulation).
    pub collateral: Option<String>,
}

impl Entry {
    /// The key store's generation the entry saw, if it says.
    pub fn store_gen(&self) -> Option<u64> {
        match self {
            Entry::Start { store_gen, .. }
            | Entry::Continue { store_gen, .. }
            | Entry::Request { store_gen, .. }
            | Entry::Unauthenticated { store_gen, .. } => *store_gen,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Entry::Start { seq, .. }
            | Entry::Continue { seq, .. }
            | Entry::Request { seq, .. }
            | Entry::Unauthenticated { seq, .. } => *seq,
        }
    }

    pub fn prev(&self) -> &str {
        match self {
            Entry::Start { prev, .. }
            | Entry::Continue { prev, .. }
            | Entry::Request { prev, .. }
            | Entry::Unauthenticated { prev, .. } => prev,
        }
    }

    pub fn time(&self) -> &str {
        match self {
            Entry::Start { time, .. }
            | Entry::Continue { time, .. }
            | Entry::Request { time, .. }
            | Entry::Unauthenticated { time, .. } => time,
        }
    }

    pub fn version(&self) -> u32 {
        match self {
            Entry::Start { v, .. }
            | Entry::Continue { v, .. }
            | Entry::Request { v, .. }
            | Entry::Unauthenticated { v, .. } => *v,
        }
    }
}

/// Why a line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("malformed ({0})")]
    Malformed(String),
    #[error("unsupported format version {0}")]
    Version(u32),
}

/// A line split into its entry, the bytes its signature covers, and the
/// signature, if it has one. Nothing is verified yet.
pub struct Opened {
    pub entry: Entry,
    /// The entry's bytes without `sig` (what was signed, after the prefix).
    pub signed: Vec<u8>,
    /// `None` for an entry that a later one's signature covers.
    pub signature: Option<[u8; 64]>,
}

impl Opened {
    /// Whether `public_key` (raw Ed25519) signed this entry (`false` for
    /// an entry without a signature).
    pub fn signed_by(&self, public_key: &[u8]) -> bool {
        let Some(signature) = &self.signature else {
            return false;
        };
        let mut msg = Vec::with_capacity(SIGNING_PREFIX.len() + self.signed.len());
        msg.extend_from_slice(SIGNING_PREFIX);
        msg.extend_from_slice(&self.signed);
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&msg, signature)
            .is_ok()
    }
}

/// Reads one line (without its `\n`).
pub fn open_line(line: &[u8]) -> Result<Opened, LineError> {
    let bad = |why: &str| LineError::Malformed(why.to_string());
    if line.len() > MAX_LINE {
        return Err(bad("line too long"));
    }
    let (signed, signature) = match find_last(line, SIG_MEMBER) {
        Some(at) => {
            let (head, tail) = line.split_at(at);
            let sig_b64 = tail[SIG_MEMBER.len()..]
                .strip_suffix(b"\"}")
                .ok_or_else(|| bad("signature is not the last member"))?;
            let sig = B64
                .decode(sig_b64)
                .map_err(|_| bad("signature is not base64"))?;
            let signature: [u8; 64] = sig
                .try_into()
                .map_err(|_| bad("signature is not 64 bytes"))?;
            let mut signed = head.to_vec();
            signed.push(b'}');
            (signed, Some(signature))
        }
        // Key names are JSON-escaped, so `,"sig":"` in a line is the member.
        None => (line.to_vec(), None),
    };
    let entry: Entry = serde_json::from_slice(&signed).map_err(|e| {
        LineError::Malformed(format!("{:?} error at column {}", e.classify(), e.column()))
    })?;
    if entry.version() != VERSION {
        return Err(LineError::Version(entry.version()));
    }
    Ok(Opened {
        entry,
        signed,
        signature,
    })
}

/// Serialises `entry` without a signature (a later signed entry of the
/// same write covers it): the line to append, without its `\n`.
pub fn unsigned_line(entry: &Entry) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(entry)
}

/// Serialises and signs `entry`: the line to append, without its `\n`.
pub fn sign_line(entry: &Entry, key: &Ed25519KeyPair) -> Result<Vec<u8>, serde_json::Error> {
    let line = unsigned_line(entry)?;
    sign_serialised(line, key)
}

/// Signs an entry serialised by [`unsigned_line`].
pub fn sign_serialised(
    mut line: Vec<u8>,
    key: &Ed25519KeyPair,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut msg = Vec::with_capacity(SIGNING_PREFIX.len() + line.len());
    msg.extend_from_slice(SIGNING_PREFIX);
    msg.extend_from_slice(&line);
    let sig = key.sign(&msg);
    // `line` ends with the object's closing brace.
    line.pop();
    line.extend_from_slice(SIG_MEMBER);
    line.extend_from_slice(B64.encode(sig.as_ref()).as_bytes());
    line.extend_from_slice(b"\"}");
    Ok(line)
}

/// What the next entry's `prev` must be: hex SHA-256 of `line`.
pub fn line_hash(line: &[u8]) -> String {
    let mut out = [0u8; 64];
    // `hex::encode` builds its String a char at a time; every entry has
    // one of these. 32 bytes fill the 64 exactly, so this cannot fail.
    let _ = hex::encode_to_slice(digest::digest(&digest::SHA256, line).as_ref(), &mut out);
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// SHA-256 of a raw public key: what the held data's `pubkey-hash` holds.
pub fn public_key_hash(public_key: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, public_key).as_ref());
    out
}

/// Base64 as the format uses it (standard, padded).
pub fn b64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    B64.decode(text).ok()
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests;
