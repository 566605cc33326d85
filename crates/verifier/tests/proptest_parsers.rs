//! The parsers of untrusted bytes never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minikms_verifier::chain::parse_pem_chain;
use minikms_verifier::held_data::decode_claims;
use minikms_verifier::snp::TcbVersion;
use minikms_verifier::{
    collateral_window_json, detect, parse_evidence, verify_document, verify_evidence,
    verify_report, Policy, VerifyOptions,
};
use proptest::prelude::*;

fn offline() -> VerifyOptions<'static> {
    VerifyOptions {
        at: 1_800_000_000,
        collateral: None,
        offline: true,
    }
}

/// A real quote, mutated, reaches deeper than random bytes.
fn mithril() -> Option<Vec<u8>> {
    minikms_test_vectors::file("sgx-dcap/mithril_sgx_quote_v3.bin")
}

proptest! {
    #[test]
    fn evidence_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
        let _ = parse_evidence(&bytes);
        let _ = verify_evidence(&bytes, &offline(), &Policy::default());
    }

    #[test]
    fn json_and_hex_forms_never_panic(s in "\\{\"QuoteHex\":\"(0x)?[0-9a-fA-F ]{0,400}\"(,\"EnclaveHeldDataHex\":\"[0-9a-f]{0,64}\")?\\}|0x[0-9a-f\\s]{0,800}") {
        let _ = verify_evidence(s.as_bytes(), &offline(), &Policy::default());
    }

    #[test]
    fn mutated_quotes_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let Some(mut quote) = mithril() else { return Ok(()) };
        for (i, b) in edits {
            let n = quote.len();
            quote[i % n] = b;
        }
        quote.truncate(cut % (quote.len() + 1));
        let _ = verify_evidence(&quote, &offline(), &Policy::default());
    }

    #[test]
    fn pem_and_cbor_and_collateral_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse_pem_chain(&bytes);
        let _ = decode_claims(&bytes);
        let _ = collateral_window_json(&bytes);
        let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
        pem.extend_from_slice(&bytes);
        pem.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
        let _ = parse_pem_chain(&pem);
    }

    /// SEV-SNP reports and Nitro documents, detected from any bytes: no
    /// panic (reports are exactly 1184 bytes, so that length is tried often).
    #[test]
    fn snp_and_nitro_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1300),
        as_report in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if as_report {
            bytes.resize(1184, 0);
            bytes[0] = 2;
            bytes[0x34] = 1;
            bytes[0x48] = 0;
        }
        let _ = detect(&bytes);
        let _ = verify_report(&bytes, &bytes, &bytes, 1_800_000_000, &Policy::default());
        let _ = verify_document(&bytes, None, &Policy::default());
        let mut doc = vec![0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0];
        doc.extend_from_slice(&bytes);
        let _ = verify_document(&doc, None, &Policy::default());
    }

    /// The minimum-TCB flag's text form round-trips.
    #[test]
    fn tcb_version_round_trips(
        fmc in proptest::option::of(any::<u8>()),
        bootloader in any::<u8>(), tee in any::<u8>(), snp in any::<u8>(), microcode in any::<u8>(),
    ) {
        let v = TcbVersion { fmc, bootloader, tee, snp, microcode };
        prop_assert_eq!(v.to_string().parse::<TcbVersion>().unwrap(), v);
    }
}
