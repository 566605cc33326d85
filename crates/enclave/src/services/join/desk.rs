//! The peer's side of a join: challenges, and the decision to hand the
//! root key to a joiner ([`super`] says how).

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{policy, same_mode};
use crate::error::Error;
use crate::platform::Platform;
use crate::services::bound::{verify_bound_evidence, Asker, BoundEvidence, Verified};
use crate::services::nonces::Nonces;
use crate::services::source::Source;
use crate::store::recovery::Recovery;

/// Open challenges at most, and from one address (a few replicas joining
/// at once from behind one NAT); [`Nonces`] says what is dropped beyond.
const OPEN_CHALLENGES: usize = 64;
const CHALLENGES_PER_ADDRESS: usize = 8;

const JOIN: Asker = Asker {
    what: "join",
    nonce_route: "sys/join/challenge",
    simulation_hint: "a simulated enclave and a hardware one cannot share a root key",
    debug_hint: "a debug enclave and a production one cannot share a root key",
};

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
        let sent = BoundEvidence::new(&req.nonce, &req.public_key, &req.quote, req.collateral);
        let joiner: Verified =
            verify_bound_evidence(JOIN, &self.open, sent, &policy(platform, true))?;
        let (claims, public_key) = (joiner.claims, joiner.public_key);
        same_mode(platform, &claims).map_err(|why| JOIN.refused(why))?;
        let oaep = OaepPublicEncryptingKey::new(public_key)
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
            wrapped_root_key: base64::engine::general_purpose::STANDARD.encode(wrapped),
            joiner: claims,
        })
    }
}
