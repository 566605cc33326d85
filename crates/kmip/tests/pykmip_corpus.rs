//! The messages captured from real PyKMIP 0.11.0 (client and server, KMIP
//! 1.2, 1.4 and 2.0; `interop/pykmip/capture.sh` makes them) through the
//! codec and the model: every one re-encodes byte for byte, every request
//! reads into its typed payload, every response into its result fields.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use minikms_kmip::enums::{Operation, ResultReason, ResultStatus};
use minikms_kmip::message::{ProtocolVersion, Request, RequestMessage, ResponseMessage};
use minikms_kmip::Item;

fn captured() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/kmip_ttlv");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ttlv"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// `1.4-08-encrypt-request.ttlv` → (1.4, "encrypt").
fn parts(name: &str) -> (ProtocolVersion, &str) {
    let mut it = name.splitn(3, '-');
    let version = it.next().unwrap();
    let (major, minor) = version.split_once('.').unwrap();
    let version = ProtocolVersion::new(major.parse().unwrap(), minor.parse().unwrap());
    let rest = it.nth(1).unwrap();
    let op = rest.rsplit_once('-').unwrap().0;
    (version, op)
}

fn operation(op: &str) -> Operation {
    match op.split('_').next().unwrap() {
        "discover" => Operation::DiscoverVersions,
        "query" => Operation::Query,
        "create" if op == "create_key_pair" => Operation::CreateKeyPair,
        "create" => Operation::Create,
        "activate" => Operation::Activate,
        "get" if op == "get_attributes" => Operation::GetAttributes,
        "get" => Operation::Get,
        "locate" => Operation::Locate,
        "encrypt" => Operation::Encrypt,
        "decrypt" => Operation::Decrypt,
        "register" => Operation::Register,
        "mac" => Operation::Mac,
        "sign" => Operation::Sign,
        "signature" => Operation::SignatureVerify,
        "revoke" => Operation::Revoke,
        "destroy" => Operation::Destroy,
        other => panic!("no operation for {other}"),
    }
}

#[test]
fn every_captured_message_re_encodes_byte_for_byte() {
    let all = captured();
    assert!(all.len() >= 120, "only {} captured messages", all.len());
    for (name, bytes) in &all {
        let item = Item::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&item.encode().unwrap(), bytes, "{name}");
    }
}

#[test]
fn every_captured_request_reads_into_its_typed_operation() {
    let mut versions = std::collections::BTreeSet::new();
    let mut operations = std::collections::BTreeSet::new();
    for (name, bytes) in captured()
        .iter()
        .filter(|(n, _)| n.ends_with("-request.ttlv"))
    {
        let (version, op) = parts(name);
        let message = RequestMessage::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(message.header.protocol_version, version, "{name}");
        assert_eq!(message.batch_items.len(), 1, "{name}");
        let item = &message.batch_items[0];
        assert_eq!(item.operation, operation(op), "{name}");
        assert!(
            !matches!(item.request, Request::Other(_)),
            "{name}: untyped"
        );
        versions.insert(format!("{}.{}", version.major, version.minor));
        operations.insert(item.operation.value());
        match &item.request {
            Request::Create { attributes, .. } => {
                let names: Vec<_> = attributes.iter().map(|a| a.name.as_str()).collect();
                assert!(
                    names.contains(&"Cryptographic Algorithm"),
                    "{name}: {names:?}"
                );
                assert!(names.contains(&"Name"), "{name}: {names:?}");
            }
            Request::GetAttributes { names, .. } => {
                assert_eq!(
                    names,
                    &["Name", "State", "Cryptographic Algorithm"],
                    "{name}"
                )
            }
            Request::CreateKeyPair {
                common,
                private,
                public,
            } => {
                assert_eq!(common.len(), 2, "{name}");
                assert_eq!(private[0].name, "Cryptographic Usage Mask", "{name}");
                assert_eq!(public[0].name, "Cryptographic Usage Mask", "{name}");
            }
            Request::Encrypt(c) | Request::Decrypt(c) => {
                assert!(c.data.is_some() && c.iv_counter_nonce.is_some(), "{name}")
            }
            Request::SignatureVerify(c) => assert!(c.expected.is_some(), "{name}"),
            Request::Revoke { reason_code, .. } => assert_eq!(*reason_code, 2, "{name}"),
            _ => {}
        }
    }
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        ["1.2", "1.4", "2.0"]
    );
    // discover, query, create, create key pair, register, get, get attributes,
    // locate, activate, revoke, destroy, encrypt, decrypt, sign, verify, mac
    assert_eq!(operations.len(), 16, "{operations:?}");
}

#[test]
fn every_captured_response_reads_and_encodes_back_through_the_model() {
    for (name, bytes) in captured()
        .iter()
        .filter(|(n, _)| n.ends_with("-response.ttlv"))
    {
        let (version, op) = parts(name);
        let message = ResponseMessage::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(message.header.protocol_version, version, "{name}");
        assert_eq!(&message.encode().unwrap(), bytes, "{name}");
        let item = &message.batch_items[0];
        assert_eq!(item.operation, Some(operation(op)), "{name}");
        if op == "get_destroyed" {
            assert_eq!(item.result_status, ResultStatus::OperationFailed, "{name}");
            assert_eq!(
                item.result_reason,
                Some(ResultReason::ItemNotFound),
                "{name}"
            );
        } else {
            assert_eq!(
                item.result_status,
                ResultStatus::Success,
                "{name}: {item:?}"
            );
        }
    }
}
