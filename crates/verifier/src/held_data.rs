//! EnclaveHeldData: the bytes the quote's report data commits to.

use aws_lc_rs::digest;
use ciborium::value::Value;
use serde::Serialize;

/// The binding of held data to a quote, and what the held data says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldData {
    /// "valid" when report_data[0..32] = SHA-256(held data) and
    /// report_data[32..64] are zero, else "invalid".
    pub binding: Binding,
    /// SHA-256 of the held data (hex).
    pub sha256: String,
    /// The decoded claims, or "not CBOR".
    pub claims: HeldClaims,
}

/// Whether the quote commits to the held data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// It does.
    Valid,
    /// It does not.
    Invalid,
}

/// Claims decoded from CBOR held data `{"pubkey-hash": [1, bstr], "nonce": bstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum HeldClaims {
    /// A CBOR map.
    Cbor {
        /// SHA-256 of the public key (hex), from `"pubkey-hash": [1, h]`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pubkey_hash: Option<String>,
        /// SHA-256 of the enclave CA's public key (hex), from
        /// `"ca-pubkey-hash": [1, h]` (minikms).
        #[serde(skip_serializing_if = "Option::is_none")]
        ca_pubkey_hash: Option<String>,
        /// The nonce (hex).
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// Not a CBOR map (e.g. a zero-padded PEM key); serialised as "not CBOR".
    #[serde(serialize_with = "not_cbor")]
    NotCbor,
}

fn not_cbor<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("not CBOR")
}

/// Check the binding and decode the claims.
pub fn check(held: &[u8], report_data: &[u8; 64]) -> HeldData {
    // The one definition of the binding, shared with the enclave.
    let valid = *report_data == minikms_api::claims::report_data(held);
    let hash = digest::digest(&digest::SHA256, held);
    HeldData {
        binding: if valid {
            Binding::Valid
        } else {
            Binding::Invalid
        },
        sha256: hex::encode(hash.as_ref()),
        claims: decode_claims(held),
    }
}

/// Decode `{"pubkey-hash": [1, bstr], "nonce": bstr}` (the array may come
/// CBOR-encoded in a bstr, as Gramine writes it); anything that is not
/// exactly one CBOR map is "not CBOR".
pub fn decode_claims(held: &[u8]) -> HeldClaims {
    let mut reader = held;
    let value: Value = match ciborium::de::from_reader(&mut reader) {
        Ok(v) => v,
        Err(_) => return HeldClaims::NotCbor,
    };
    if !reader.is_empty() {
        return HeldClaims::NotCbor;
    }
    let Value::Map(entries) = value else {
        return HeldClaims::NotCbor;
    };
    let pubkey_hash = crate::ratls::pubkey_hash(held).map(|(_, h)| hex::encode(h));
    let ca_pubkey_hash =
        crate::ratls::hash_claim(held, "ca-pubkey-hash").map(|(_, h)| hex::encode(h));
    let nonce = entries
        .into_iter()
        .find_map(|(k, v)| match (k.as_text(), v) {
            (Some("nonce"), Value::Bytes(n)) => Some(hex::encode(n)),
            _ => None,
        });
    HeldClaims::Cbor {
        pubkey_hash,
        ca_pubkey_hash,
        nonce,
    }
}
