//! Writes the generated part of the seed corpus into `fuzz/corpus/`
//! (the hand-written seeds live there as they are). Not run by `cargo
//! test`; to remake the seeds:
//!
//! ```sh
//! cargo test -p minikms-fuzz --test seeds -- --ignored
//! ```
//!
//! Simulated evidence, a real store and audit log made by the in-process
//! API, channel frames of every message, BYOK blobs; plus copies of the
//! recorded real evidence in ../shared/vectors when that folder is there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use minikms_edl::{Ecall, Ocall};
use minikms_sgx_sim::report::{attributes, FLAG_DEBUG, FLAG_INIT, FLAG_MODE64BIT};
use minikms_sgx_sim::{EnclaveIdentity, SimCpu, SimPcs, SimQuotingEnclave};

/// The verification time of the targets (2026-06-01).
const AT: u64 = 1_780_272_000;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn put(target: &str, name: &str, data: &[u8]) {
    std::fs::write(corpus(target).join(name), data).unwrap();
}

/// A stream of channel frames, as `write_message` writes them.
fn frames<T: serde::Serialize>(messages: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let payload = serde_json::to_vec(m).unwrap();
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_seeds() {
    evidence_seeds();
    channel_seeds();
    key_seeds();
    api_seeds();
    vector_seeds();
}

fn evidence_seeds() {
    let cpu = SimCpu::from_fuses([1; 32]);
    let pcs = SimPcs::new(&cpu).unwrap();
    let qe = SimQuotingEnclave::new(&cpu).unwrap();
    let me = EnclaveIdentity {
        mrenclave: [0x5a; 32],
        mrsigner: [0xc3; 32],
        isv_prod_id: 1,
        isv_svn: 1,
        attributes: attributes(FLAG_INIT | FLAG_MODE64BIT | FLAG_DEBUG, 3),
        misc_select: 0,
    };
    let claims = minikms_api::claims::encode(
        &[0x11; 32],
        Some(&[0x22; 32]),
        vec![("nonce", ciborium::Value::Bytes(vec![0x33; 32]))],
    );
    let report = cpu
        .ereport(
            &me,
            &qe.target_info(),
            &minikms_api::claims::report_data(&claims),
        )
        .unwrap();
    let quote = qe.quote(&cpu, &report, &pcs).unwrap();
    let collateral = pcs.collateral_json(AT).unwrap();
    put("quote", "sim_quote_v3.bin", &quote);
    put(
        "gramine",
        "sim_quote_v3",
        &[&b"dcap\0"[..], &quote, b"\0", &[7; 16]].concat(),
    );
    put(
        "evidence",
        "sim_quote_v3.hex",
        hex::encode(&quote).as_bytes(),
    );
    let json = serde_json::json!({
        "QuoteHex": hex::encode(&quote),
        "EnclaveHeldDataHex": hex::encode(&claims),
        "MrEnclaveHex": hex::encode([0x5a; 32]),
        "MrSignerHex": hex::encode([0xc3; 32]),
        "platform": "simulation",
        "CollateralJson": collateral,
    });
    put(
        "evidence",
        "sim_attestation.json",
        json.to_string().as_bytes(),
    );
    put(
        "collateral",
        "sim_collateral.json",
        collateral.to_string().as_bytes(),
    );
    put("held_claims", "sim_claims.cbor", &claims);
    let parsed = minikms_verifier::quote::parse_quote(&quote).unwrap();
    put("pem_chain", "sim_pck_chain.pem", parsed.pck_chain_pem());
    put(
        "pem_chain",
        "overlapping_end.pem",
        b"-----BEGIN CERTIFICATE-----END CERTIFICATE-----",
    );
    put(
        "ecall",
        "quote_answers.bin",
        &frames(&[
            Ecall::QeTargetInfo {
                id: 1,
                target_info: hex::encode(qe.target_info().to_bytes()),
            },
            Ecall::Quote {
                id: 2,
                quote: hex::encode(&quote),
                collateral: Some(collateral),
            },
            Ecall::QuoteFailed {
                id: 3,
                reason: "no quoting service".into(),
            },
        ]),
    );
    put(
        "ocall",
        "get_quote.bin",
        &frames(&[
            Ocall::InitQuote { id: 1 },
            Ocall::GetQuote {
                id: 2,
                report: hex::encode(report.to_bytes()),
            },
        ]),
    );
}

fn channel_seeds() {
    let set_up: Ecall = serde_json::from_value(serde_json::json!({
        "type": "set_up_server", "bind": "127.0.0.1", "port": 9001,
        "keep_server_up": true, "data_dir": "/tmp/d", "sim_platform_file": "/tmp/p",
        "dev_root_token": null, "cert_lifetime_secs": 86400,
        "tls_names": ["localhost", "127.0.0.1", "::1", "kms.example.com"],
    }))
    .unwrap();
    put(
        "ecall",
        "set_up_server.bin",
        &frames(&[set_up, Ecall::Shutdown {}]),
    );
    let hello: Ocall = serde_json::from_value(serde_json::json!({
        "type": "hello", "version": 1,
        "identity": {
            "mrenclave": "5a".repeat(32), "mrsigner": "c3".repeat(32),
            "product_id": 1, "security_version": 1, "debug": true,
            "platform": "simulation",
        },
    }))
    .unwrap_or(Ocall::Stopped {});
    let log: Ocall = serde_json::from_value(serde_json::json!({
        "type": "log", "level": "info", "line": "serving",
    }))
    .unwrap_or(Ocall::Stopped {});
    let up: Ocall = serde_json::from_value(serde_json::json!({
        "type": "server_up", "addr": "127.0.0.1:9001",
    }))
    .unwrap();
    put(
        "ocall",
        "lifecycle.bin",
        &frames(&[hello, log, up, Ocall::Stopped {}]),
    );
}

fn key_seeds() {
    let rng = SystemRandom::new();
    put("import_key", "aes.bin", &[&[0u8][..], &[0x42; 32]].concat());
    put(
        "import_key",
        "hmac.bin",
        &[&[1u8][..], &[0x42; 64]].concat(),
    );
    let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    put(
        "import_key",
        "ed25519.bin",
        &[&[2u8][..], ed.as_ref()].concat(),
    );
    let p256 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    put(
        "import_key",
        "p256.bin",
        &[&[3u8][..], p256.as_ref()].concat(),
    );
    let p384 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &rng).unwrap();
    put(
        "import_key",
        "p384.bin",
        &[&[4u8][..], p384.as_ref()].concat(),
    );
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa = rsa.as_der().unwrap();
    put(
        "import_key",
        "rsa2048.bin",
        &[&[5u8][..], rsa.as_ref()].concat(),
    );
    // byok_unwrap, odd mode: ephemeral AES-256 key, then the AES-KWP blob.
    let ephemeral = [0x24u8; 32];
    for (name, target) in [("aes", &[0x42u8; 32][..]), ("ed25519", ed.as_ref())] {
        let kek = AesKek::new(&AES_256, &ephemeral).unwrap();
        let mut out = vec![0u8; target.len() + 16];
        let wrapped = kek.wrap_with_padding(target, &mut out).unwrap().to_vec();
        put(
            "byok_unwrap",
            &format!("wrapped_{name}.bin"),
            &[&[1u8, 32][..], &ephemeral, &wrapped].concat(),
        );
    }
    put("byok_unwrap", "text.bin", b"\0AAAAAAAAAAAAAAAAAAAAAA==");
}

/// Requests, one per route family, through the in-process API; its
/// store and audit log are seeds of their own.
fn api_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let api = minikms_enclave::fuzzing::Api::open(dir.path()).unwrap();
    let requests: &[(&str, &str)] = &[
        ("sys_init", "GET /v1/sys/init\n"),
        ("create_aes", "POST /v1/transit/keys/k\n{\"type\":\"aes256-gcm96\",\"exportable\":true,\"allow_plaintext_backup\":true}"),
        ("create_ed25519", "POST /v1/transit/keys/e\n{\"type\":\"ed25519\",\"exportable\":\"true\"}"),
        ("create_ecdsa", "POST /v1/transit/keys/p\n{\"type\":\"ecdsa-p256\"}"),
        ("create_hmac", "POST /v1/transit/keys/h\n{\"type\":\"hmac\",\"key_size\":64}"),
        ("list", "GET /v1/transit/keys?list=true\n"),
        ("list_method", "LIST /v1/transit/keys\n"),
        ("read", "GET /v1/transit/keys/k\n"),
        ("config", "POST /v1/transit/keys/k/config\n{\"min_decryption_version\":1,\"deletion_allowed\":true}"),
        ("rotate", "POST /v1/transit/keys/k/rotate\n"),
        ("trim", "POST /v1/transit/keys/k/trim\n{\"min_available_version\":1}"),
        ("encrypt", "POST /v1/transit/encrypt/k\n{\"plaintext\":\"aGVsbG8=\",\"associated_data\":\"YQ==\"}"),
        ("encrypt_batch", "POST /v1/transit/encrypt/k\n{\"batch_input\":[{\"plaintext\":\"aGk=\",\"reference\":\"r1\"},{\"plaintext\":\"!!\"}]}"),
        ("decrypt", "POST /v1/transit/decrypt/k\n{\"ciphertext\":\"vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
        ("rewrap", "POST /v1/transit/rewrap/k\n{\"ciphertext\":\"vault:v1:AAAA\",\"key_version\":2}"),
        ("datakey", "POST /v1/transit/datakey/wrapped/k\n{\"bits\":256}"),
        ("random", "POST /v1/transit/random/32\n{\"format\":\"hex\"}"),
        ("random_body", "POST /v1/transit/random\n{\"bytes\":16,\"format\":\"base64\"}"),
        ("hash", "POST /v1/transit/hash/sha2-512\n{\"input\":\"aGVsbG8=\",\"format\":\"hex\"}"),
        ("hmac", "POST /v1/transit/hmac/h/sha2-256\n{\"input\":\"aGVsbG8=\"}"),
        ("sign", "POST /v1/transit/sign/e\n{\"input\":\"aGVsbG8=\"}"),
        ("sign_ecdsa", "POST /v1/transit/sign/p/sha2-256\n{\"input\":\"aGVsbG8=\",\"marshaling_algorithm\":\"jws\"}"),
        ("verify", "POST /v1/transit/verify/e\n{\"input\":\"aGVsbG8=\",\"signature\":\"vault:v1:AAAA\"}"),
        ("export", "GET /v1/transit/export/encryption-key/k/latest\n"),
        ("backup", "GET /v1/transit/backup/k\n"),
        ("policy_write", "PUT /v1/sys/policies/acl/app\n{\"policy\":\"path \\\"transit/encrypt/app-*\\\" { capabilities = [\\\"update\\\"] }\"}"),
        ("policy_read", "GET /v1/sys/policy/app\n"),
        ("token_create", "POST /v1/auth/token/create\n{\"policies\":[\"app\"],\"ttl\":\"1h\",\"num_uses\":3}"),
        ("token_lookup", "GET /v1/auth/token/lookup-self\n"),
        ("token_revoke", "POST /v1/auth/token/revoke-accessor\n{\"accessor\":\"nope\"}"),
        ("import", "POST /v1/transit/keys/i/import\n{\"ciphertext\":\"AAAA\",\"type\":\"aes256-gcm96\"}"),
        ("delete", "DELETE /v1/transit/keys/e\n"),
        ("not_found", "GET /v1/transit/nope/%ff?list=%74rue\n"),
        ("bad_json", "POST /v1/transit/encrypt/k\n{\"plaintext\": [1,"),
    ];
    let mut backup = None;
    for (name, request) in requests {
        put("http_request", name, request.as_bytes());
        let answer = api.answer(request.as_bytes());
        if *name == "backup" {
            let answer: serde_json::Value = serde_json::from_slice(&answer.unwrap()).unwrap();
            backup = answer["data"]["backup"].as_str().map(str::to_string);
        }
    }
    let backup = backup.expect("a backup");
    put(
        "restore",
        "backup.json",
        serde_json::json!({ "backup": backup, "name": "restored" })
            .to_string()
            .as_bytes(),
    );
    put(
        "restore",
        "forced.json",
        serde_json::json!({ "backup": backup, "force": "true" })
            .to_string()
            .as_bytes(),
    );
    let record =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &backup).unwrap();
    let mut records = b"keys/k\t".to_vec();
    records.extend_from_slice(&record);
    records.extend_from_slice(b"\npolicies/app\tpath \"transit/*\" { capabilities = [\"read\"] }");
    records.extend_from_slice(
        format!(
            "\nmeta/init\t{{\"root_token_sha256\":\"{}\"}}",
            "ab".repeat(32)
        )
        .as_bytes(),
    );
    put("state_records", "records.txt", &records);
    drop(api);
    let log = std::fs::read(dir.path().join("audit.log")).unwrap();
    put("audit_reader", "audit.log", &log);
    put("audit_verify", "audit.log", &log);
    for (i, line) in log.split(|&b| b == b'\n').take(3).enumerate() {
        put("audit_line", &format!("line{i}.json"), line);
    }
    // store_open: the valid store itself, then a flipped byte at 0x100
    // and the file cut in half (issue 19's corruptions), as patches.
    let mut flip = vec![1u8];
    flip.extend_from_slice(&u32::MAX.to_le_bytes());
    flip.extend_from_slice(&[0x00, 0x01, 0x00, 1, 0xff]);
    put("store_open", "valid", &[1, 0xff, 0xff, 0xff, 0xff]);
    put("store_open", "flip_0x100", &flip);
    // Half of a fresh store, as `store_open`'s valid store is.
    let fresh = tempfile::tempdir().unwrap();
    drop(minikms_enclave::fuzzing::Api::open(fresh.path()).unwrap());
    let len = std::fs::metadata(fresh.path().join("keys.redb"))
        .unwrap()
        .len();
    let mut cut = vec![1u8];
    cut.extend_from_slice(&u32::try_from(len / 2).unwrap().to_le_bytes());
    put("store_open", "cut_in_half", &cut);
}

/// Real evidence from ../shared/vectors (see its README for the sources).
fn vector_seeds() {
    let Some(dir) = minikms_test_vectors::dir() else {
        return;
    };
    let copy = |from: &str, target: &str| {
        let data = std::fs::read(dir.join(from)).unwrap();
        let name = Path::new(from).file_name().unwrap().to_str().unwrap();
        put(target, name, &data);
    };
    copy("sgx-dcap/dcapqvl_sgx_quote_v3.bin", "quote");
    copy("sgx-dcap/mithril_sgx_quote_v3.bin", "quote");
    copy("sgx-dcap/mithril_oe_remote_report.bin", "evidence");
    copy(
        "sgx-dcap/dcapqvl_sgx_quote_v3_collateral.json",
        "collateral",
    );
    copy("sgx-dcap/mithril_enclave_held_data.bin", "held_claims");
    for cert in [
        "gramine-cert.pem",
        "intel-sgxsdk-cert.pem",
        "rats-tls-cert.pem",
    ] {
        let text = std::fs::read(dir.join("ra-tls").join(cert)).unwrap();
        for (i, block) in pem::parse_many(&text).unwrap().iter().enumerate() {
            put("ratls_cert", &format!("{cert}.{i}.der"), block.contents());
        }
        put("pem_chain", cert, &text);
    }
}
