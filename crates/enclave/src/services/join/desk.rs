//! The peer's side of a join: challenges, and the decision to hand the
//! root key to a joiner ([`super`] says how).

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{binding, policy, same_mode};
use crate::clock::now;
use crate::error::Error;
use crate::platform::Platform;
use crate::services::nonces::Nonces;
use crate::services::source::Source;
use crate::store::recovery::Recovery;

/// Open challenges at most, and from one address (a few replicas joining
/// at once from behind one NAT); [`Nonces`] says what is dropped beyond.
const OPEN_CHALLENGES: usize = 64;
const CHALLENGES_PER_ADDRESS: usize = 8;
const MIN_RSA_BITS: usize = 2048;

/// `POST /v1/sys/join`'s body.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The challenge, hex.
    pub nonce: String,
    /// The joiner's RSA public key, base64 of SubjectPublicKeyInfo DER.
    pub public_key: String,
    /// The joiner's quote, base64.
    pub quote: String,
    /// Its collateral (QuoteCollateralV3 JSON), where the platform issues
    /// it (simulation).
    #[serde(default)]
    pub collateral: Option<serde_json::Value>,
}

/// What a joiner gets.
#[derive(Serialize)]
pub struct Admitted {
    /// The root key, RSA-OAEP-SHA256 encrypted to the joiner's key, base64.
    pub wrapped_root_key: String,
    /// What was verified of the joiner (also in the audit log's entry).
    pub joiner: minikms_verifier::Claims,
}

/// Open challenges.
pub struct Desk {
    open: Nonces,
}

impl Default for Desk {
    fn default() -> Self {
        Self {
            open: Nonces::new(OPEN_CHALLENGES, CHALLENGES_PER_ADDRESS),
        }
    }
}

impl Desk {
    /// A fresh challenge for a joiner at `from`.
    pub fn challenge(&self, platform: &dyn Platform, from: Source) -> Result<[u8; 32], Error> {
        self.open.issue(platform, from)
    }

    /// Verifies a joiner and answers it the root key, or says why not.
    pub fn admit(
        &self,
        platform: &dyn Platform,
        recovery: &Recovery,
        req: JoinRequest,
    ) -> Result<Admitted, Error> {
        let refused = |why: String| Error::Forbidden(format!("join refused: {why}"));
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut nonce = [0u8; 32];
        hex::decode_to_slice(&req.nonce, &mut nonce)
            .map_err(|_| Error::invalid("nonce: 64 hex digits, from sys/join/challenge"))?;
        if !self.open.take(&nonce) {
            return Err(refused(
                "unknown, expired or already used challenge: ask sys/join/challenge for a new one"
                    .into(),
            ));
        }
        let der = b64
            .decode(&req.public_key)
            .map_err(|_| Error::invalid("public_key: base64 of an RSA SubjectPublicKeyInfo"))?;
        let key = PublicEncryptingKey::from_der(&der)
            .map_err(|_| Error::invalid("public_key: not an RSA public key"))?;
        if key.key_size_bits() < MIN_RSA_BITS {
            return Err(Error::invalid(format!(
                "public_key: at least {MIN_RSA_BITS} bits"
            )));
        }
        let quote = b64
            .decode(&req.quote)
            .map_err(|_| Error::invalid("quote: base64"))?;
        let collateral = req
            .collateral
            .map(|c| serde_json::to_vec(&c))
            .transpose()
            .map_err(|_| Error::invalid("collateral: JSON"))?;
        let options = minikms_verifier::VerifyOptions {
            at: now(),
            collateral: collateral.as_deref(),
            offline: collateral.is_none(),
        };
        let claims =
            minikms_verifier::verify_quote(&quote, None, &options, &policy(platform, true))
                .map_err(|e| refused(format!("the joiner's evidence: {e}")))?;
        same_mode(platform, &claims).map_err(refused)?;
        if claims.report_data != hex::encode(binding(&nonce, &der)) {
            return Err(refused(
                "the evidence does not bind this challenge and public key (made for another request?)"
                    .into(),
            ));
        }
        let oaep = OaepPublicEncryptingKey::new(key)
            .map_err(|_| Error::invalid("public_key: not an RSA public key"))?;
        let mut out = vec![0u8; oaep.ciphertext_size()];
        let wrapped = oaep
            .encrypt(
                &OAEP_SHA256_MGF1SHA256,
                recovery.root().expose(),
                &mut out,
                None,
            )
            .map_err(|_| Error::failed("wrapping the root key"))?;
        tracing::info!(
            "join: root key given to MRENCLAVE {} (SVN {:?})",
            claims.mrenclave.as_deref().unwrap_or("-"),
            claims.isv_svn
        );
        Ok(Admitted {
            wrapped_root_key: b64.encode(wrapped),
            joiner: claims,
        })
    }
}
