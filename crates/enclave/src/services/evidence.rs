//! Evidence that binds the enclave's keys: the claims map and a quote over
//! it ([`minikms_api::claims`]), for the RA-TLS certificate and for
//! `/attestation`. (The audit log's start entries bind its key the same
//! way, in [`super::audit`].)
//!
//! Both also claim how fresh the state is (see [`crate::store::freshness`]):
//! `"store-generation"`, the key store's generation, and `"audit-head"`,
//! `[seq, SHA-256 of that line]` of the audit log's last entry on disk, as
//! they stand when the evidence is made. A client that remembers them sees
//! a rollback of the whole state.

use ciborium::Value as Cbor;
use minikms_api::claims::{self, RA_TLS_CBOR_TAG};

use crate::platform::{Evidence, Platform, PlatformError};
use crate::store::freshness::Freshness;

/// Longest nonce a caller may bind, in bytes.
pub const MAX_NONCE: usize = 64;

/// Fresh evidence for a caller's `nonce`, binding the key of the
/// connection it came on and the CA's key; and the claims it binds.
pub async fn for_nonce(
    platform: &dyn Platform,
    connection_key: &[u8; 32],
    ca_key: &[u8; 32],
    freshness: &Freshness,
    nonce: Vec<u8>,
) -> Result<(Evidence, Vec<u8>), PlatformError> {
    let mut extra = vec![("nonce", Cbor::Bytes(nonce))];
    extra.extend(freshness_claims(freshness));
    let held = claims::encode(connection_key, Some(ca_key), extra);
    let evidence = platform.evidence(claims::report_data(&held)).await?;
    Ok((evidence, held))
}

/// The RA-TLS extension's value for a certificate of key `key_hash`
/// issued by the CA of key `ca_hash`: CBOR tag 60000 `[quote, claims]`.
/// Where the platform issues its own collateral (simulation), the claims
/// carry it as `"collateral"`, so a client can verify the certificate on
/// its own during the handshake.
pub async fn ra_tls(
    platform: &dyn Platform,
    key_hash: &[u8; 32],
    ca_hash: &[u8; 32],
    freshness: &Freshness,
) -> Result<Vec<u8>, PlatformError> {
    // Collateral does not depend on the quote: a first quote over empty
    // report data fetches it, so the claims can carry it.
    let collateral = platform.evidence([0u8; 64]).await?.collateral;
    let mut extra: Vec<_> = collateral
        .map(|c| ("collateral", Cbor::Bytes(c.to_string().into_bytes())))
        .into_iter()
        .collect();
    extra.extend(freshness_claims(freshness));
    let held = claims::encode(key_hash, Some(ca_hash), extra);
    let quote = platform.evidence(claims::report_data(&held)).await?.quote;
    let evidence = Cbor::Tag(
        RA_TLS_CBOR_TAG,
        Box::new(Cbor::Array(vec![Cbor::Bytes(quote), Cbor::Bytes(held)])),
    );
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = ciborium::into_writer(&evidence, &mut out);
    Ok(out)
}

/// `"store-generation"` and `"audit-head"`, as they stand now.
fn freshness_claims(freshness: &Freshness) -> Vec<(&'static str, Cbor)> {
    let mut claims = vec![(
        "store-generation",
        Cbor::Integer(freshness.generation().into()),
    )];
    if let Some(head) = freshness.audit_head() {
        if let Ok(hash) = hex::decode(&head.hash) {
            claims.push((
                "audit-head",
                Cbor::Array(vec![Cbor::Integer(head.seq.into()), Cbor::Bytes(hash)]),
            ));
        }
    }
    claims
}
