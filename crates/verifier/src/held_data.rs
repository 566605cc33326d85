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
        /// The key store's generation when the evidence was made, from
        /// `"store-generation": uint` (minikms).
        #[serde(skip_serializing_if = "Option::is_none")]
        store_generation: Option<u64>,
        /// The audit log's last entry on disk then, from `"audit-head":
        /// [seq, SHA-256 of the line]` (minikms).
        #[serde(skip_serializing_if = "Option::is_none")]
        audit_head: Option<AuditHead>,
    },
    /// Not a CBOR map (e.g. a zero-padded PEM key); serialised as "not CBOR".
    #[serde(serialize_with = "not_cbor")]
    NotCbor,
}

/// An audit log entry a claim names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    pub seq: u64,
    /// SHA-256 of its line (hex), as `minikms audit verify` reports it.
    pub hash: String,
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
    let pubkey_hash = pubkey_hash(held).map(|(_, h)| hex::encode(h));
    let ca_pubkey_hash = hash_claim(held, "ca-pubkey-hash").map(|(_, h)| hex::encode(h));
    let nonce = match claim(&entries, "nonce") {
        Some(Value::Bytes(n)) => Some(hex::encode(n)),
        _ => None,
    };
    let store_generation = match claim(&entries, "store-generation") {
        Some(Value::Integer(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    let audit_head = match claim(&entries, "audit-head") {
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::Integer(seq), Value::Bytes(hash)] if hash.len() == 32 => {
                u64::try_from(*seq).ok().map(|seq| AuditHead {
                    seq,
                    hash: hex::encode(hash),
                })
            }
            _ => None,
        },
        _ => None,
    };
    HeldClaims::Cbor {
        pubkey_hash,
        ca_pubkey_hash,
        nonce,
        store_generation,
        audit_head,
    }
}

// The claim readers, here because ratls reads claims with them too and
// already uses this module (in ratls, they made an import cycle).

fn claims_map(held: &[u8]) -> Option<Vec<(Value, Value)>> {
    let mut reader = held;
    match ciborium::de::from_reader(&mut reader) {
        Ok(Value::Map(entries)) if reader.is_empty() => Some(entries),
        _ => None,
    }
}

fn claim<'a>(entries: &'a [(Value, Value)], name: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
}

/// `"pubkey-hash": [alg, hash]`, or the same array CBOR-encoded in a bstr.
pub(crate) fn pubkey_hash(held: &[u8]) -> Option<(u64, Vec<u8>)> {
    hash_claim(held, "pubkey-hash")
}

/// A hash claim `name: [alg, hash]` (or that array CBOR-encoded in a bstr).
fn hash_claim(held: &[u8], name: &str) -> Option<(u64, Vec<u8>)> {
    let entries = claims_map(held)?;
    let value = claim(&entries, name)?;
    let array = match value {
        Value::Array(items) => items.clone(),
        Value::Bytes(inner) => {
            let mut reader = inner.as_slice();
            match ciborium::de::from_reader(&mut reader) {
                Ok(Value::Array(items)) if reader.is_empty() => items,
                _ => return None,
            }
        }
        _ => return None,
    };
    match array.as_slice() {
        [Value::Integer(alg), Value::Bytes(hash)] => {
            Some((u64::try_from(*alg).ok()?, hash.clone()))
        }
        _ => None,
    }
}

/// `"collateral"`: the quote collateral the certificate carries, if any.
pub(crate) fn claim_collateral(held: &[u8]) -> Option<Vec<u8>> {
    match claim(&claims_map(held)?, "collateral")? {
        Value::Bytes(b) => Some(b.clone()),
        _ => None,
    }
}
