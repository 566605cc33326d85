//! `GET /attestation?nonce=HEX`: evidence of what is serving, bound to the
//! server's TLS key and to the caller's nonce.
//!
//! EnclaveHeldData is the CBOR map
//! `{"pubkey-hash": [1, SHA-256(TLS certificate SPKI DER)], "ca-pubkey-hash":
//! [1, SHA-256(the enclave CA's SPKI DER)], "nonce": bstr}`
//! (1 = SHA-256 in the IANA named-information registry, as in the
//! interoperable RA-TLS claims), and the quote's report_data is
//! SHA-256(EnclaveHeldData) followed by 32 zero bytes.
//! The JSON keeps the tutorial's field names.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ciborium::Value as Cbor;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::server::ConnectionKey;

/// Longest nonce a caller may bind, in bytes.
pub const MAX_NONCE: usize = 64;
/// The tutorial's `Type`: Open Enclave's report type for an SGX remote report.
const OE_REPORT_TYPE_SGX_REMOTE: u32 = 2;
/// Open Enclave's identity attribute bits.
const OE_ATTRIBUTES_DEBUG: u32 = 1;
const OE_ATTRIBUTES_REMOTE: u32 = 2;

#[derive(Deserialize)]
pub struct Params {
    nonce: Option<String>,
}

pub async fn evidence(
    State(state): State<AppState>,
    Extension(ConnectionKey(pubkey_hash)): Extension<ConnectionKey>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let nonce = parse_nonce(params.nonce.as_deref().unwrap_or(""))?;
    let held = claims(
        &pubkey_hash,
        Some(state.ca.spki_sha256()),
        vec![("nonce", Cbor::Bytes(nonce))],
    );
    let mut report_data = [0u8; 64];
    report_data[..32]
        .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &held).as_ref());

    let platform = &state.platform;
    let evidence = platform.evidence(report_data).await.map_err(|e| {
        tracing::warn!("attestation failed: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("attestation unavailable: {e}"),
        )
    })?;
    let id = platform.identity();
    let mut product_id = [0u8; 16];
    product_id[..2].copy_from_slice(&id.product_id.to_le_bytes());
    let attributes = OE_ATTRIBUTES_REMOTE | if id.debug { OE_ATTRIBUTES_DEBUG } else { 0 };
    let mut body = json!({
        "Type": OE_REPORT_TYPE_SGX_REMOTE,
        "MrEnclaveHex": hex::encode_upper(id.mrenclave.0),
        "MrSignerHex": hex::encode_upper(id.mrsigner.0),
        "ProductIdHex": hex::encode_upper(product_id),
        "SecurityVersion": id.security_version,
        "Attributes": attributes,
        "QuoteHex": hex::encode_upper(&evidence.quote),
        "EnclaveHeldDataHex": hex::encode_upper(&held),
        "platform": platform.name(),
    });
    if let Some(collateral) = evidence.collateral {
        body["CollateralJson"] = collateral;
    }
    Ok(Json(body))
}

fn parse_nonce(text: &str) -> Result<Vec<u8>, ApiError> {
    let bad = |why: String| ApiError::new(StatusCode::BAD_REQUEST, why);
    let nonce = hex::decode(text).map_err(|_| bad("nonce must be hex".into()))?;
    if nonce.len() > MAX_NONCE {
        return Err(bad(format!(
            "nonce must be at most {MAX_NONCE} bytes, got {}",
            nonce.len()
        )));
    }
    Ok(nonce)
}

/// The CBOR claims map evidence binds (here, in the RA-TLS extension and
/// in the audit log's start entries): the key, the CA key if any, then
/// `extra`.
pub fn claims(
    pubkey_hash: &[u8; 32],
    ca_pubkey_hash: Option<&[u8; 32]>,
    extra: Vec<(&str, Cbor)>,
) -> Vec<u8> {
    let sha256 = |h: &[u8; 32]| Cbor::Array(vec![Cbor::Integer(1.into()), Cbor::Bytes(h.to_vec())]);
    let mut map = vec![(Cbor::Text("pubkey-hash".into()), sha256(pubkey_hash))];
    if let Some(ca) = ca_pubkey_hash {
        map.push((Cbor::Text("ca-pubkey-hash".into()), sha256(ca)));
    }
    map.extend(extra.into_iter().map(|(k, v)| (Cbor::Text(k.into()), v)));
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = ciborium::into_writer(&Cbor::Map(map), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_bounded_hex() {
        assert_eq!(parse_nonce("").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_nonce("00ff").unwrap(), vec![0, 255]);
        assert!(parse_nonce("0").is_err());
        assert!(parse_nonce("zz").is_err());
        assert!(parse_nonce(&"ab".repeat(64)).is_ok());
        assert!(parse_nonce(&"ab".repeat(65)).is_err());
    }

    #[test]
    fn held_data_is_the_documented_cbor_map() {
        let held = claims(
            &[7; 32],
            Some(&[8; 32]),
            vec![("nonce", Cbor::Bytes(b"hi".to_vec()))],
        );
        let value: Cbor = ciborium::from_reader(&held[..]).unwrap();
        let map = value.as_map().unwrap();
        assert_eq!(map[0].0, Cbor::Text("pubkey-hash".into()));
        assert_eq!(
            map[0].1,
            Cbor::Array(vec![Cbor::Integer(1.into()), Cbor::Bytes(vec![7; 32])])
        );
        assert_eq!(
            map[1],
            (
                Cbor::Text("ca-pubkey-hash".into()),
                Cbor::Array(vec![Cbor::Integer(1.into()), Cbor::Bytes(vec![8; 32])])
            )
        );
        assert_eq!(
            map[2],
            (Cbor::Text("nonce".into()), Cbor::Bytes(b"hi".to_vec()))
        );
    }
}
