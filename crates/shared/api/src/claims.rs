//! The claims attestation evidence binds (the interoperable RA-TLS claims,
//! TCG DICE / CCC), and how a quote's report data binds them.
//!
//! Claims are the CBOR map `{"pubkey-hash": [1, SHA-256(key)], ...}` (1 =
//! SHA-256 in the IANA named-information registry); the report data is
//! `SHA-256(claims bytes) || 32 zero bytes`.

use aws_lc_rs::digest;
use ciborium::Value as Cbor;

/// OID of the interoperable RA-TLS evidence extension.
pub const RA_TLS_OID: &[u64] = &[2, 23, 133, 5, 4, 9];
/// CBOR tag of the tagged evidence `[quote, claims]`.
pub const RA_TLS_CBOR_TAG: u64 = 60000;

/// The CBOR claims map: the key's hash, the CA key's hash if any, then
/// `extra` in order.
pub fn encode(
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

/// The report data that binds `held` (claims or any held data):
/// SHA-256(held) followed by 32 zero bytes.
pub fn report_data(held: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(digest::digest(&digest::SHA256, held).as_ref());
    out
}

/// SHA-256 of `bytes` (a SubjectPublicKeyInfo, an audit key), as claims
/// carry it.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_the_documented_cbor_map() {
        let held = encode(
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

    #[test]
    fn report_data_is_the_hash_then_zeroes() {
        let rd = report_data(b"abc");
        assert_eq!(rd[..32], sha256(b"abc"));
        assert!(rd[32..].iter().all(|&b| b == 0));
    }
}
