//! Evidence that binds the enclave's keys: the claims map and a quote over
//! it ([`minikms_api::claims`]), for the RA-TLS certificate and for
//! `/attestation`. (The audit log's start entries bind its key the same
//! way, in [`super::audit`].)

use ciborium::Value as Cbor;
use minikms_api::claims::{self, RA_TLS_CBOR_TAG};

use crate::platform::{Evidence, Platform, PlatformError};

/// Longest nonce a caller may bind, in bytes.
pub const MAX_NONCE: usize = 64;

/// Fresh evidence for a caller's `nonce`, binding the key of the
/// connection it came on and the CA's key; and the claims it binds.
pub async fn for_nonce(
    platform: &dyn Platform,
    connection_key: &[u8; 32],
    ca_key: &[u8; 32],
    nonce: Vec<u8>,
) -> Result<(Evidence, Vec<u8>), PlatformError> {
    let held = claims::encode(
        connection_key,
        Some(ca_key),
        vec![("nonce", Cbor::Bytes(nonce))],
    );
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
) -> Result<Vec<u8>, PlatformError> {
    // Collateral does not depend on the quote: a first quote over empty
    // report data fetches it, so the claims can carry it.
    let collateral = platform.evidence([0u8; 64]).await?.collateral;
    let extra = collateral
        .map(|c| ("collateral", Cbor::Bytes(c.to_string().into_bytes())))
        .into_iter()
        .collect();
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
