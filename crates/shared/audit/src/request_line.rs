//! The hot path's writer of request entries: straight into the log
//! writer's buffer, byte for byte what serde writes for the same
//! [`Entry::Request`].

#[cfg(doc)]
use super::{unsigned_line, Entry};
use super::{Attested, Outcome, VERSION};

/// A request entry's fields, borrowed: what [`write_request_line`] writes.
pub struct RequestLine<'a> {
    pub seq: u64,
    pub prev: &'a str,
    pub time: &'a str,
    pub request_id: &'a str,
    pub accessor: Option<&'a str>,
    /// `operation` is `verb route`, e.g. `update` and `transit/encrypt/{name}`.
    pub verb: &'a str,
    pub route: &'a str,
    pub key: Option<&'a str>,
    pub key_version: Option<u64>,
    pub status: u16,
    pub attested: Option<&'a Attested>,
    pub store_gen: Option<u64>,
}

/// Appends the unsigned line of a request entry to `out`: the same bytes
/// as [`unsigned_line`] of the [`Entry::Request`] they describe (a test
/// holds them equal), written straight into the writer's buffer. Every
/// request has one, so this skips building an owned [`Entry`]; a string
/// JSON would escape goes through serde_json, so it is escaped as the
/// reader expects.
pub fn write_request_line(out: &mut Vec<u8>, r: &RequestLine<'_>) {
    fn string(out: &mut Vec<u8>, s: &str) {
        // Most values (hashes, times, ids, names) need no escaping: copied
        // as they are, without serde's escaper and writer per value.
        if is_plain(s) {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        } else {
            // Writing to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, s);
        }
    }
    fn optional_string(out: &mut Vec<u8>, v: Option<&str>) {
        match v {
            Some(s) => string(out, s),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b"{\"type\":\"request\",\"v\":");
    let _ = serde_json::to_writer(&mut *out, &VERSION);
    out.extend_from_slice(b",\"seq\":");
    let _ = serde_json::to_writer(&mut *out, &r.seq);
    out.extend_from_slice(b",\"prev\":");
    string(out, r.prev);
    out.extend_from_slice(b",\"time\":");
    string(out, r.time);
    out.extend_from_slice(b",\"request_id\":");
    string(out, r.request_id);
    out.extend_from_slice(b",\"accessor\":");
    optional_string(out, r.accessor);
    out.extend_from_slice(b",\"operation\":");
    if is_plain(r.verb) && is_plain(r.route) {
        out.push(b'"');
        out.extend_from_slice(r.verb.as_bytes());
        out.push(b' ');
        out.extend_from_slice(r.route.as_bytes());
        out.push(b'"');
    } else {
        string(out, &format!("{} {}", r.verb, r.route));
    }
    out.extend_from_slice(b",\"key\":");
    optional_string(out, r.key);
    out.extend_from_slice(b",\"key_version\":");
    let _ = serde_json::to_writer(&mut *out, &r.key_version);
    out.extend_from_slice(b",\"status\":");
    let _ = serde_json::to_writer(&mut *out, &r.status);
    out.extend_from_slice(b",\"outcome\":");
    let _ = serde_json::to_writer(&mut *out, &Outcome::of_status(r.status));
    if let Some(attested) = r.attested {
        out.extend_from_slice(b",\"attested\":");
        let _ = serde_json::to_writer(&mut *out, attested);
    }
    if let Some(generation) = r.store_gen {
        out.extend_from_slice(b",\"store_gen\":");
        let _ = serde_json::to_writer(&mut *out, &generation);
    }
    out.push(b'}');
}

/// Printable ASCII that JSON does not escape.
fn is_plain(s: &str) -> bool {
    // No early exit, so the compiler checks many bytes per instruction.
    s.bytes().fold(true, |plain, b| {
        plain & (0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\')
    })
}
