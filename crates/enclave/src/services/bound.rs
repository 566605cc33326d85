//! Evidence bound to one of our nonces and a fresh RSA key of the client's
//! own, checked in one place for attested join ([`super::join`]) and
//! attested login ([`super::attest_login`]): the nonce taken (single use),
//! the key and the quote decoded, the quote verified under the caller's
//! policy, and the report data compared with
//! [`minikms_api::release::report_data`]`(nonce, key)`: SHA-256(nonce ‖
//! SubjectPublicKeyInfo DER) then 32 zero bytes. One format for both:
//! the nonce stores are separate, so evidence made for one cannot be
//! answered to the other.

use aws_lc_rs::rsa::PublicEncryptingKey;
use base64::Engine;

use super::nonces::Nonces;
use crate::clock::now;
use crate::error::Error;

/// What a client sent: the fields join and login requests share.
pub struct BoundEvidence<'a> {
    /// The nonce, hex.
    pub nonce: &'a str,
    /// The client's RSA public key, base64 of SubjectPublicKeyInfo DER.
    pub public_key: &'a str,
    /// Its quote, base64.
    pub quote: &'a str,
    /// Its collateral (QuoteCollateralV3 JSON), where the platform issues
    /// it (simulation); without it the TCB status is not evaluated.
    pub collateral: Option<serde_json::Value>,
}

impl<'a> BoundEvidence<'a> {
    pub fn new(
        nonce: &'a str,
        public_key: &'a str,
        quote: &'a str,
        collateral: Option<serde_json::Value>,
    ) -> Self {
        Self {
            nonce,
            public_key,
            quote,
            collateral,
        }
    }
}

/// Who asks, for the messages: `"join"` or `"login"`, and the route that
/// gives its nonces.
#[derive(Clone, Copy)]
pub struct Asker {
    pub what: &'static str,
    pub nonce_route: &'static str,
    /// What to change so that simulated or debug evidence is accepted: the
    /// verifier's own hint names the client's flags, which do not apply.
    pub simulation_hint: &'static str,
    pub debug_hint: &'static str,
}

/// Evidence that verified and binds its nonce and key.
pub struct Verified {
    pub claims: minikms_verifier::Claims,
    /// The client's key, SubjectPublicKeyInfo DER.
    pub public_key_der: Vec<u8>,
    pub public_key: PublicEncryptingKey,
}

impl Asker {
    /// A refusal the client may read (403).
    pub fn refused(&self, why: impl std::fmt::Display) -> Error {
        Error::Forbidden(format!("{} refused: {why}", self.what))
    }
}

/// Verifies `sent`, bound to a nonce from `nonces`, under `policy`. The
/// nonce is used up by any well-formed attempt, good or not; a malformed
/// one is 400 and changes nothing.
pub fn verify_bound_evidence(
    asker: Asker,
    nonces: &Nonces,
    sent: BoundEvidence<'_>,
    policy: &minikms_verifier::Policy,
) -> Result<Verified, Error> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut nonce = [0u8; 32];
    hex::decode_to_slice(sent.nonce.trim(), &mut nonce)
        .map_err(|_| Error::invalid(format!("nonce: 64 hex digits, from {}", asker.nonce_route)))?;
    let der = b64
        .decode(sent.public_key.trim())
        .map_err(|_| Error::invalid("public_key: base64 of an RSA SubjectPublicKeyInfo"))?;
    let public_key = minikms_api::release::check_public_key(&der)
        .map_err(|e| Error::invalid(format!("public_key: {e}")))?;
    let quote = b64
        .decode(sent.quote.trim())
        .map_err(|_| Error::invalid("quote: base64"))?;
    let collateral = sent
        .collateral
        .map(|c| serde_json::to_vec(&c))
        .transpose()
        .map_err(|_| Error::invalid("collateral: JSON"))?;
    if !nonces.take(&nonce) {
        return Err(asker.refused(format!(
            "unknown, expired or already used nonce (replayed evidence?): ask {} for a new one",
            asker.nonce_route
        )));
    }
    let options = minikms_verifier::VerifyOptions {
        at: now(),
        collateral: collateral.as_deref(),
        offline: collateral.is_none(),
    };
    let claims = minikms_verifier::verify_quote(&quote, None, &options, policy)
        .map_err(|e| asker.refused(format!("the evidence: {}", explain(asker, &e))))?;
    if claims.report_data != hex::encode(minikms_api::release::report_data(&nonce, &der)) {
        return Err(asker.refused(
            "the evidence does not bind this nonce and public key (report data is not SHA-256(nonce || public key))",
        ));
    }
    Ok(Verified {
        claims,
        public_key_der: der,
        public_key,
    })
}

/// The verifier's reason, with the asker's hint where the verifier's would
/// point at a client's flag.
fn explain(asker: Asker, e: &minikms_verifier::VerifyError) -> String {
    use minikms_verifier::{PolicyError, VerifyError};
    match e {
        VerifyError::Policy(PolicyError::SimulationRefused) => {
            format!("simulation evidence refused: {}", asker.simulation_hint)
        }
        VerifyError::Policy(PolicyError::DebugRefused) => {
            format!("debug enclave refused: {}", asker.debug_hint)
        }
        _ => e.to_string(),
    }
}
