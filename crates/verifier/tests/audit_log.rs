//! `audit::verify_log` on logs built here: a tiny simulated quote (as in
//! simulation.rs) binding a fresh Ed25519 audit key, and lines signed with
//! the shared format. Each kind of tampering fails with its named error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use ciborium::Value as Cbor;
use minikms_audit::{sign_line, unsigned_line, Entry, Outcome, StartEvidence, VERSION, ZERO_PREV};
use minikms_verifier::audit::{verify_log, AuditError, LogOptions, Problem};
use minikms_verifier::roots::SIMULATION_ROOT_CA_PEM;
use minikms_verifier::Policy;

fn sim_root_key() -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sgx-sim/sim-root-ca.key.pem");
    std::fs::read_to_string(p).ok()
}

/// A simulated SGX v3 quote over `report_data`, chained to the simulation root.
fn quote(root_key: &str, report_data: &[u8; 64]) -> Vec<u8> {
    let rng = SystemRandom::new();
    let pck = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let pck_rc = rcgen::KeyPair::try_from(pck.to_pkcs8v1().unwrap().as_ref()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        SIMULATION_ROOT_CA_PEM,
        rcgen::KeyPair::from_pem(root_key).unwrap(),
    )
    .unwrap();
    let leaf = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .signed_by(&pck_rc, &issuer)
        .unwrap()
        .pem();
    let chain = format!("{leaf}{SIMULATION_ROOT_CA_PEM}");

    let mut body = vec![0u8; 432];
    body[0] = 3;
    body[2] = 2;
    body[12..28].copy_from_slice(&minikms_verifier::quote::INTEL_QE_VENDOR_ID);
    body[48 + 320..].copy_from_slice(report_data);

    let att = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let att_pub = &att.public_key().as_ref()[1..];
    let qe_auth = [7u8; 32];
    let mut qe_report = vec![0u8; 384];
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(att_pub);
    ctx.update(&qe_auth);
    qe_report[320..352].copy_from_slice(ctx.finish().as_ref());
    let mut auth = Vec::new();
    auth.extend_from_slice(att.sign(&rng, &body).unwrap().as_ref());
    auth.extend_from_slice(att_pub);
    auth.extend_from_slice(&qe_report);
    auth.extend_from_slice(pck.sign(&rng, &qe_report).unwrap().as_ref());
    auth.extend_from_slice(&32u16.to_le_bytes());
    auth.extend_from_slice(&qe_auth);
    auth.extend_from_slice(&5u16.to_le_bytes());
    let mut cert_data = chain.into_bytes();
    cert_data.push(0);
    auth.extend_from_slice(&u32::try_from(cert_data.len()).unwrap().to_le_bytes());
    auth.extend_from_slice(&cert_data);
    let mut q = body;
    q.extend_from_slice(&u32::try_from(auth.len()).unwrap().to_le_bytes());
    q.extend_from_slice(&auth);
    q
}

fn held_data(public_key: &[u8], nonce: &[u8]) -> Vec<u8> {
    let map = Cbor::Map(vec![
        (
            Cbor::Text("pubkey-hash".into()),
            Cbor::Array(vec![
                Cbor::Integer(1.into()),
                Cbor::Bytes(minikms_audit::public_key_hash(public_key).to_vec()),
            ]),
        ),
        (Cbor::Text("nonce".into()), Cbor::Bytes(nonce.to_vec())),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).unwrap();
    out
}

fn ed25519() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

const TIME: &str = "2026-11-27T03:00:00Z";

/// Writes entries, chaining them as the enclave does.
struct Writer<'a> {
    key: &'a Ed25519KeyPair,
    lines: Vec<Vec<u8>>,
}

impl Writer<'_> {
    fn prev(&self) -> String {
        self.lines
            .last()
            .map(|l| minikms_audit::line_hash(l))
            .unwrap_or_else(|| ZERO_PREV.to_string())
    }

    fn start(&mut self, evidence_key: &[u8], nonce: &[u8], root_key: &str) {
        let held = held_data(evidence_key, nonce);
        let mut rd = [0u8; 64];
        rd[..32].copy_from_slice(digest::digest(&digest::SHA256, &held).as_ref());
        let entry = Entry::Start {
            v: VERSION,
            seq: self.lines.len() as u64 + 1,
            prev: self.prev(),
            time: TIME.into(),
            public_key: minikms_audit::b64_encode(self.key.public_key().as_ref()),
            evidence: StartEvidence {
                platform: "simulation".into(),
                quote: hex::encode(quote(root_key, &rd)),
                held_data: hex::encode(held),
                collateral: None,
            },
            store_gen: Some(1),
        };
        self.lines.push(sign_line(&entry, self.key).unwrap());
    }

    fn request(&mut self, id: &str) {
        let line = sign_line(&self.request_entry(id), self.key).unwrap();
        self.lines.push(line);
    }

    /// An entry left for a later signature to cover, as the enclave writes
    /// all but the last entry of one write.
    fn request_unsigned(&mut self, id: &str) {
        let line = unsigned_line(&self.request_entry(id)).unwrap();
        self.lines.push(line);
    }

    fn request_entry(&self, id: &str) -> Entry {
        Entry::Request {
            v: VERSION,
            seq: self.lines.len() as u64 + 1,
            prev: self.prev(),
            time: TIME.into(),
            request_id: id.into(),
            accessor: Some("0123456789abcdef01234567".into()),
            operation: "update transit/encrypt/{name}".into(),
            key: Some("app".into()),
            key_version: Some(1),
            status: 200,
            outcome: Outcome::Ok,
            attested: None,
            store_gen: None,
        }
    }

    fn file(lines: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        out
    }
}

fn options() -> LogOptions<'static> {
    LogOptions {
        collateral: None,
        offline: true,
    }
}

fn policy() -> Policy {
    Policy {
        allow_simulation: true,
        allow_debug: true,
        ..Policy::default()
    }
}

fn fails(log: &[u8]) -> (u64, Problem) {
    match verify_log(log, &options(), &policy()) {
        Err(AuditError::Entry { entry, problem }) => (entry, problem),
        other => panic!("expected an entry error, got {other:?}"),
    }
}

/// A good log: start, 3 requests, a restart, 2 requests.
fn good(root_key: &str, key: &Ed25519KeyPair) -> Vec<Vec<u8>> {
    let mut w = Writer {
        key,
        lines: Vec::new(),
    };
    let pk = key.public_key().as_ref().to_vec();
    w.start(&pk, minikms_audit::EVIDENCE_NONCE, root_key);
    for id in ["a", "b", "c"] {
        w.request(id);
    }
    w.start(&pk, minikms_audit::EVIDENCE_NONCE, root_key);
    for id in ["d", "e"] {
        w.request(id);
    }
    w.lines
}

#[test]
fn a_good_log_verifies_with_its_segments() {
    let Some(root) = sim_root_key() else { return };
    let key = ed25519();
    let log = Writer::file(&good(&root, &key));
    let summary = verify_log(&log, &options(), &policy()).unwrap();
    assert_eq!(summary.entries, 7);
    assert_eq!(summary.requests, 5);
    assert_eq!(summary.segments.len(), 2);
    assert_eq!(summary.segments[0].entries, 4);
    assert_eq!(summary.segments[1].entry, 5);
    assert_eq!(summary.segments[1].entries, 3);
    assert!(summary.simulation);
    assert_eq!(summary.public_key, hex::encode(key.public_key().as_ref()));

    // Simulated evidence is refused without allow_simulation.
    let strict = Policy {
        allow_debug: true,
        ..Policy::default()
    };
    let err = verify_log(&log, &options(), &strict).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("entry 1: evidence does not verify: simulation evidence refused"),
        "{err}"
    );
    assert_eq!(
        verify_log(b"", &options(), &policy()),
        Err(AuditError::Empty)
    );
}

#[test]
fn each_kind_of_tampering_is_named() {
    let Some(root) = sim_root_key() else { return };
    let key = ed25519();
    let lines = good(&root, &key);

    // Removed.
    let mut removed = lines.clone();
    removed.remove(2);
    let (n, p) = fails(&Writer::file(&removed));
    assert_eq!((n, p.clone()), (3, Problem::ChainBroken));
    assert_eq!(
        AuditError::Entry {
            entry: n,
            problem: p
        }
        .to_string(),
        "entry 3: hash chain broken (the entry before it was edited, or entries were removed, reordered or inserted)"
    );
    // The last entry removed is not detectable (documented); the first is.
    let (n, p) = fails(&Writer::file(&lines[1..]));
    assert_eq!((n, p), (1, Problem::NoHeader));
    let (n, p) = fails(&Writer::file(&lines[4..]));
    assert_eq!((n, p), (1, Problem::NotFirst));

    // Reordered.
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    assert_eq!(fails(&Writer::file(&swapped)), (3, Problem::ChainBroken));

    // Inserted (a copy of a genuine entry).
    let mut inserted = lines.clone();
    inserted.insert(3, lines[1].clone());
    assert_eq!(fails(&Writer::file(&inserted)), (4, Problem::ChainBroken));

    // Edited.
    let mut edited = lines.clone();
    edited[2] = String::from_utf8(edited[2].clone())
        .unwrap()
        .replace("\"key\":\"app\"", "\"key\":\"other\"")
        .into_bytes();
    let (n, p) = fails(&Writer::file(&edited));
    assert_eq!((n, p.clone()), (3, Problem::BadSignature));
    assert_eq!(
        AuditError::Entry {
            entry: n,
            problem: p
        }
        .to_string(),
        "entry 3: bad signature (edited)"
    );

    // Cut in the middle of the last line.
    let mut cut = Writer::file(&lines);
    cut.truncate(cut.len() - 10);
    assert_eq!(fails(&cut), (7, Problem::Incomplete));
    // Garbage.
    let mut garbage = lines.clone();
    garbage[3] = b"{\"hello\":1}".to_vec();
    assert!(matches!(
        fails(&Writer::file(&garbage)),
        (4, Problem::Line(_))
    ));
}

#[test]
fn a_signature_covers_the_unsigned_entries_before_it() {
    let Some(root) = sim_root_key() else { return };
    let key = ed25519();
    let pk = key.public_key().as_ref().to_vec();
    let mut w = Writer {
        key: &key,
        lines: Vec::new(),
    };
    w.start(&pk, minikms_audit::EVIDENCE_NONCE, &root);
    w.request_unsigned("a");
    w.request_unsigned("b");
    w.request("c");
    w.start(&pk, minikms_audit::EVIDENCE_NONCE, &root);
    w.request_unsigned("d");
    w.request("e");
    let lines = w.lines;
    let summary = verify_log(&Writer::file(&lines), &options(), &policy()).unwrap();
    assert_eq!((summary.entries, summary.requests), (7, 5));

    // An edited unsigned entry breaks the chain at the next one.
    let mut edited = lines.clone();
    edited[1] = String::from_utf8(edited[1].clone())
        .unwrap()
        .replace("\"key\":\"app\"", "\"key\":\"other\"")
        .into_bytes();
    assert_eq!(fails(&Writer::file(&edited)), (3, Problem::ChainBroken));

    // The signature that covered them removed: nothing vouches for 2..4.
    let unsigned = |line: &[u8]| {
        let opened = minikms_audit::open_line(line).unwrap();
        assert!(opened.signature.is_some());
        opened.signed
    };
    let mut stripped = lines.clone();
    stripped[3] = unsigned(&lines[3]);
    let (n, p) = fails(&Writer::file(&stripped));
    assert_eq!((n, p.clone()), (2, Problem::Unsigned));
    assert_eq!(
        AuditError::Entry {
            entry: n,
            problem: p
        }
        .to_string(),
        "entry 2: not signed, and no signed entry follows it in its segment"
    );
    // ... and at the end of the file.
    let mut tail = lines.clone();
    tail[6] = unsigned(&lines[6]);
    assert_eq!(fails(&Writer::file(&tail)), (6, Problem::Unsigned));
    // A start entry must carry its own signature.
    let mut headless = lines.clone();
    headless[0] = unsigned(&lines[0]);
    assert_eq!(fails(&Writer::file(&headless[..1])), (1, Problem::Unsigned));
}

#[test]
fn the_evidence_must_bind_the_key() {
    let Some(root) = sim_root_key() else { return };
    let key = ed25519();
    let other = ed25519();

    // The whole log re-signed by another key, with the original evidence.
    let genuine = good(&root, &key);
    let mut forged = Writer {
        key: &other,
        lines: Vec::new(),
    };
    forged.start(
        key.public_key().as_ref(),
        minikms_audit::EVIDENCE_NONCE,
        &root,
    );
    forged.request("x");
    let (n, p) = fails(&Writer::file(&forged.lines));
    assert_eq!((n, p.clone()), (1, Problem::NotBound));
    assert_eq!(
        AuditError::Entry {
            entry: n,
            problem: p
        }
        .to_string(),
        "entry 1: evidence does not bind the audit key"
    );

    // Evidence for the right key but another purpose (a TLS nonce).
    let mut wrong_nonce = Writer {
        key: &key,
        lines: Vec::new(),
    };
    wrong_nonce.start(key.public_key().as_ref(), b"tls", &root);
    assert_eq!(
        fails(&Writer::file(&wrong_nonce.lines)),
        (1, Problem::NotBound)
    );

    // Just the header's key swapped for another one.
    let header = String::from_utf8(genuine[0].clone()).unwrap();
    let swapped = header.replace(
        &minikms_audit::b64_encode(key.public_key().as_ref()),
        &minikms_audit::b64_encode(other.public_key().as_ref()),
    );
    let mut lines = genuine.clone();
    lines[0] = swapped.into_bytes();
    assert_eq!(fails(&Writer::file(&lines)), (1, Problem::NotBound));

    // A later segment under another (attested) key.
    let mut w = Writer {
        key: &key,
        lines: genuine[..4].to_vec(),
    };
    w.key = &other;
    w.start(
        other.public_key().as_ref(),
        minikms_audit::EVIDENCE_NONCE,
        &root,
    );
    assert_eq!(fails(&Writer::file(&w.lines)), (5, Problem::KeyChanged));
}
