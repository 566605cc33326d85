//! The parsers of untrusted bytes never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minikms_verifier::chain::parse_pem_chain;
use minikms_verifier::held_data::decode_claims;
use minikms_verifier::{
    collateral_window_json, parse_evidence, verify_evidence, Policy, VerifyOptions,
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
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/sgx-dcap/mithril_sgx_quote_v3.bin");
    std::fs::read(p).ok()
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
}
