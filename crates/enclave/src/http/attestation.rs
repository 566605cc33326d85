//! `GET /attestation?nonce=HEX`: evidence of what is serving, bound to the
//! server's TLS key and to the caller's nonce.
//!
//! EnclaveHeldData is the CBOR map
//! `{"pubkey-hash": [1, SHA-256(TLS certificate SPKI DER)], "ca-pubkey-hash":
//! [1, SHA-256(the enclave CA's SPKI DER)], "nonce": bstr, "store-generation":
//! uint, "audit-head": [uint, bstr]}` (the last two:
//! [`crate::services::evidence`])
//! (1 = SHA-256 in the IANA named-information registry, as in the
//! interoperable RA-TLS claims), and the quote's report_data is
//! SHA-256(EnclaveHeldData) followed by 32 zero bytes.
//! The JSON keeps the tutorial's field names.
//!
//! This route sits beside the API's own: it is the one whose evidence binds
//! the connection's key, so the server hands it that key per connection.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::app::AppState;
use crate::error::Error;
use crate::services::evidence::{self, MAX_NONCE};
/// The tutorial's `Type`: Open Enclave's report type for an SGX remote report.
const OE_REPORT_TYPE_SGX_REMOTE: u32 = 2;
/// Open Enclave's identity attribute bits.
const OE_ATTRIBUTES_DEBUG: u32 = 1;
const OE_ATTRIBUTES_REMOTE: u32 = 2;

#[derive(Deserialize)]
pub struct Params {
    nonce: Option<String>,
}

/// SHA-256 of the SPKI of the certificate a request's connection was
/// accepted with (the server puts it in each request's extensions).
#[derive(Clone, Copy)]
pub struct ConnectionKey(pub [u8; 32]);

/// SHA-256 of the SubjectPublicKeyInfo of the TLS client certificate a
/// request's connection presented (the server puts it in each request's
/// extensions; absent without one). The handshake proved the client holds
/// its private key; tokens from an attested login are bound to one.
#[derive(Clone, Copy)]
pub struct ClientKey(pub [u8; 32]);

pub async fn evidence(
    State(state): State<AppState>,
    Extension(ConnectionKey(pubkey_hash)): Extension<ConnectionKey>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, Error> {
    let nonce = parse_nonce(params.nonce.as_deref().unwrap_or(""))?;
    let _turn = state.expensive_turn().await?;
    let platform = &state.platform;
    let (evidence, held) = evidence::for_nonce(
        platform.as_ref(),
        &pubkey_hash,
        state.ca.spki_sha256(),
        state.audit.freshness(),
        nonce,
    )
    .await
    .map_err(|e| Error::platform("attestation", e))?;
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

fn parse_nonce(text: &str) -> Result<Vec<u8>, Error> {
    let bad = Error::Invalid;
    let nonce = hex::decode(text).map_err(|_| bad("nonce must be hex".into()))?;
    if nonce.len() > MAX_NONCE {
        return Err(bad(format!(
            "nonce must be at most {MAX_NONCE} bytes, got {}",
            nonce.len()
        )));
    }
    Ok(nonce)
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
}
