//! The line format's tests: signing, opening, and the direct request
//! writer against serde.
#![allow(clippy::unwrap_used)]

use super::request_line::{write_request_line, RequestLine};
use super::*;
use aws_lc_rs::signature::KeyPair;

fn key() -> Ed25519KeyPair {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

fn request(seq: u64) -> Entry {
    Entry::Request {
        v: VERSION,
        seq,
        prev: ZERO_PREV.into(),
        time: "2026-11-27T03:00:00Z".into(),
        request_id: "id".into(),
        accessor: Some("abc".into()),
        operation: "update transit/encrypt/{name}".into(),
        key: Some("k\",\"sig\":\"x".into()),
        key_version: Some(3),
        status: 200,
        outcome: Outcome::Ok,
        attested: None,
        store_gen: Some(9),
    }
}

#[test]
fn attested_entries_are_written_as_serde_writes_them() {
    let attested = Attested {
        role: "app".into(),
        platform: "simulation".into(),
        mrenclave: Some("ab".repeat(32)),
        mrsigner: None,
        isv_svn: Some(2),
        tcb_status: "UpToDate".into(),
        debug: false,
        simulation: true,
        key_sha256: "cd".repeat(32),
    };
    let mut direct = Vec::new();
    write_request_line(
        &mut direct,
        &RequestLine {
            seq: 1,
            prev: ZERO_PREV,
            time: "t",
            request_id: "id",
            accessor: Some("abc"),
            verb: "update",
            route: "auth/attest/login",
            key: None,
            key_version: None,
            status: 200,
            attested: Some(&attested),
            store_gen: Some(4),
        },
    );
    let entry = Entry::Request {
        v: VERSION,
        seq: 1,
        prev: ZERO_PREV.into(),
        time: "t".into(),
        request_id: "id".into(),
        accessor: Some("abc".into()),
        operation: "update auth/attest/login".into(),
        key: None,
        key_version: None,
        status: 200,
        outcome: Outcome::Ok,
        attested: Some(attested),
        store_gen: Some(4),
    };
    assert_eq!(direct, unsigned_line(&entry).unwrap());
}

/// The direct writer and serde write the same bytes, for any values
/// (quotes, backslashes, control characters, non-ASCII, absent fields).
#[test]
fn request_lines_are_written_as_serde_writes_them() {
    let check = |seq: u64,
                 accessor: Option<&str>,
                 verb: &str,
                 route: &str,
                 key: Option<&str>,
                 key_version: Option<u64>,
                 status: u16,
                 store_gen: Option<u64>| {
        let time = "2026-11-27T03:00:00.123Z";
        let mut direct = b"tail of the line before\n".to_vec();
        write_request_line(
            &mut direct,
            &RequestLine {
                seq,
                prev: ZERO_PREV,
                time,
                request_id: "0a1b2c3d-0000-0000-0000-000000000001",
                accessor,
                verb,
                route,
                key,
                key_version,
                status,
                attested: None,
                store_gen,
            },
        );
        let entry = Entry::Request {
            v: VERSION,
            seq,
            prev: ZERO_PREV.into(),
            time: time.into(),
            request_id: "0a1b2c3d-0000-0000-0000-000000000001".into(),
            accessor: accessor.map(Into::into),
            operation: format!("{verb} {route}"),
            key: key.map(Into::into),
            key_version,
            status,
            outcome: Outcome::of_status(status),
            attested: None,
            store_gen,
        };
        let serde = unsigned_line(&entry).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&direct[24..]),
            String::from_utf8_lossy(&serde)
        );
        assert_eq!(open_line(&serde).unwrap().entry, entry);
    };
    check(
        1,
        Some("abc"),
        "update",
        "transit/encrypt/{name}",
        Some("k"),
        Some(3),
        200,
        Some(12),
    );
    check(
        u64::MAX,
        None,
        "read",
        "sys/policy/{name}",
        None,
        None,
        403,
        None,
    );
    check(
        7,
        Some("a"),
        "list",
        "transit/keys",
        None,
        Some(0),
        500,
        Some(u64::MAX),
    );
    for odd in [
        "k\",\"sig\":\"x",
        "back\\slash",
        "tab\tnl\n\u{1}",
        "é✓😀",
        "\u{7f}",
        "",
    ] {
        check(
            2,
            Some(odd),
            "update",
            odd,
            Some(odd),
            Some(u64::MAX),
            401,
            Some(0),
        );
        check(
            3,
            None,
            odd,
            "transit/keys/{name}",
            Some(odd),
            None,
            204,
            None,
        );
    }
}

#[test]
fn line_hashes_are_lowercase_hex_sha256() {
    assert_eq!(
        line_hash(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn lines_round_trip_and_verify() {
    let k = key();
    let line = sign_line(&request(2), &k).unwrap();
    assert!(line.ends_with(b"\"}"));
    let opened = open_line(&line).unwrap();
    assert_eq!(opened.entry, request(2));
    assert!(opened.signed_by(k.public_key().as_ref()));
    assert!(!opened.signed_by(key().public_key().as_ref()));
}

#[test]
fn edits_break_the_signature_or_the_parse() {
    let k = key();
    let line = String::from_utf8(sign_line(&request(2), &k).unwrap()).unwrap();
    let edited = line.replace("\"key_version\":3", "\"key_version\":4");
    assert!(!open_line(edited.as_bytes())
        .unwrap()
        .signed_by(k.public_key().as_ref()));
    let extra = line.replacen('{', "{\"x\":1,", 1);
    assert!(matches!(
        open_line(extra.as_bytes()),
        Err(LineError::Malformed(_))
    ));
    assert!(open_line(b"{}").is_err());
    assert!(open_line(&line.as_bytes()[..line.len() - 1]).is_err());
}

/// A count of unauthenticated requests signs and opens as any entry does.
#[test]
fn unauthenticated_counts_sign_and_open() {
    let key = key();
    let entry = Entry::Unauthenticated {
        v: VERSION,
        seq: 5,
        prev: ZERO_PREV.into(),
        time: "2026-11-27T03:01:00Z".into(),
        address: "2001:db8:1:2::/64".into(),
        since: "2026-11-27T03:00:00Z".into(),
        requests: 3,
        operations: vec![
            Counted {
                operation: "update sys/join/challenge".into(),
                status: 200,
                count: 1,
            },
            Counted {
                operation: "read transit/keys/{name}".into(),
                status: 403,
                count: 2,
            },
        ],
        store_gen: Some(2),
    };
    let line = sign_line(&entry, &key).unwrap();
    let opened = open_line(&line).unwrap();
    assert_eq!(opened.entry, entry);
    assert_eq!((opened.entry.seq(), opened.entry.store_gen()), (5, Some(2)));
    assert!(opened.signed_by(key.public_key().as_ref()));
}
