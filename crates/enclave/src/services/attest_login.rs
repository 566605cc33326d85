//! The attested login (`auth/attest/nonce`, `auth/attest/login`): a
//! workload in a TEE proves what it runs and a fresh key of its own, and
//! gets a token bound to that key.
//!
//! 1. `POST auth/attest/nonce` gives a fresh single-use nonce, valid
//!    [`NONCE_LIFETIME`], kept in this enclave's memory (a login goes to
//!    the replica that gave its nonce).
//! 2. The workload makes an RSA key (at least 2048 bits) and evidence whose
//!    report data is [`minikms_api::release::report_data`]: SHA-256(nonce ‖
//!    SubjectPublicKeyInfo DER) then 32 zero bytes, and posts role, nonce,
//!    key and evidence to `POST auth/attest/login`.
//! 3. The evidence is verified ([`super::bound`]: the verifier crate, the
//!    code `minikms verify` runs) under the role's policy, its report data
//!    against the nonce and key, its measurements against the role's lists.
//! 4. The answer is an ordinary token with the role's policies and TTL,
//!    bound to the key: the guard refuses it on any connection whose TLS
//!    client certificate does not hold that key.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::bound::{verify_bound_evidence, Asker, BoundEvidence, Verified};
use super::nonces::Nonces;
use super::source::Source;
use crate::clock::now;
use crate::core::attest_roles::{self, Role};
use crate::core::tokens::new_token;
use crate::error::Error;
use crate::platform::Platform;
use crate::state::tokens::{accessor, token_hash, TokenRecord};
use crate::state::State;

pub use super::nonces::NONCE_LIFETIME;

/// Open nonces at most, and from one address (workloads behind one NAT
/// logging in at once); [`Nonces`] says what is dropped beyond.
const OPEN_NONCES: usize = 1024;
const NONCES_PER_ADDRESS: usize = 64;

const LOGIN: Asker = Asker {
    what: "login",
    nonce_route: "auth/attest/nonce",
    simulation_hint: "the role does not accept it (set \"allow_simulation\": true in \
                      auth/attest/role/NAME to accept evidence that proves nothing)",
    debug_hint: "the role does not accept it (set \"allow_debug\": true in \
                 auth/attest/role/NAME to accept a debug enclave)",
};

/// `POST auth/attest/login`'s body.
#[derive(Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub role: String,
    /// From `auth/attest/nonce`, hex.
    pub nonce: String,
    /// The workload's RSA public key, base64 of SubjectPublicKeyInfo DER.
    pub public_key: String,
    /// Its quote, base64.
    pub quote: String,
    /// Its collateral (QuoteCollateralV3 JSON), where the platform issues
    /// it (simulation); without it the TCB status is not evaluated.
    #[serde(default)]
    pub collateral: Option<serde_json::Value>,
}

/// A login's outcome: the token (shown once), and what was verified.
pub struct LoggedIn {
    pub token: Zeroizing<String>,
    pub accessor: String,
    pub record: TokenRecord,
    pub claims: minikms_verifier::Claims,
}

/// Open nonces.
pub struct Desk {
    open: Nonces,
}

impl Default for Desk {
    fn default() -> Self {
        Self {
            open: Nonces::new(OPEN_NONCES, NONCES_PER_ADDRESS),
        }
    }
}

impl Desk {
    /// A fresh nonce for a workload at `from`.
    pub fn nonce(&self, platform: &dyn Platform, from: Source) -> Result<[u8; 32], Error> {
        self.open.issue(platform, from)
    }

    /// Verifies a workload and makes its token, or says why not (403 with
    /// the reason; 400 for a malformed request).
    pub fn login(&self, state: &State, req: LoginRequest) -> Result<LoggedIn, Error> {
        let name = attest_roles::role_name(&req.role)?;
        let role: Role = match attest_roles::read(state, &name) {
            Ok(role) => role,
            Err(Error::NotFound(m)) => return Err(LOGIN.refused(m)),
            Err(e) => return Err(e),
        };
        let sent = BoundEvidence::new(&req.nonce, &req.public_key, &req.quote, req.collateral);
        let Verified {
            claims,
            public_key_der: der,
            ..
        } = verify_bound_evidence(LOGIN, &self.open, sent, &role.policy())?;
        role.admits(&claims)?;
        let key_sha256 = hex::encode(minikms_api::claims::sha256(&der));
        let token = new_token()?;
        let hash = token_hash(&token);
        let accessor = accessor(&hash);
        let now = now();
        let mut policies = role.policies.clone();
        if !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
            policies.sort();
        }
        let record = TokenRecord {
            token_sha256: hex::encode(hash),
            policies,
            display_name: format!("attest-{name}"),
            meta: token_meta(&name, &claims, &key_sha256, &der),
            creation_time: now,
            creation_ttl: role.ttl,
            expire_time: Some(now.saturating_add(role.ttl)),
            num_uses: 0,
            parent: String::new(),
            // Log in again instead: fresh evidence.
            renewable: false,
            bound_key: Some(key_sha256),
        };
        state.insert_login_token(&accessor, &record)?;
        tracing::info!(
            "attested login: role {name}, MRENCLAVE {}, MRSIGNER {}, platform {}",
            claims.mrenclave.as_deref().unwrap_or("-"),
            claims.mrsigner.as_deref().unwrap_or("-"),
            claims.platform
        );
        Ok(LoggedIn {
            token,
            accessor,
            record,
            claims,
        })
    }
}

/// What the login of the token `rec` verified, for the audit entries of
/// releases made with it (`None`: not a login token).
pub fn attested_of(rec: &TokenRecord) -> Option<minikms_audit::Attested> {
    rec.bound_key.as_ref()?;
    let get = |k: &str| rec.meta.get(k).cloned();
    Some(minikms_audit::Attested {
        role: get("role")?,
        platform: get("platform")?,
        mrenclave: get("mrenclave"),
        mrsigner: get("mrsigner"),
        isv_svn: get("isv_svn").and_then(|s| s.parse().ok()),
        tcb_status: get("tcb_status")?,
        debug: get("debug")? == "true",
        simulation: get("simulation")? == "true",
        key_sha256: get("key_sha256")?,
    })
}

/// What the token records of its login (shown by `lookup`, and by the
/// audit entries of requests made with it).
fn token_meta(
    role: &str,
    claims: &minikms_verifier::Claims,
    key_sha256: &str,
    public_key: &[u8],
) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    // Public: what secrets for this token are wrapped to.
    meta.insert(
        "public_key".into(),
        base64::engine::general_purpose::STANDARD.encode(public_key),
    );
    meta.insert("role".into(), role.to_string());
    meta.insert("platform".into(), claims.platform.to_string());
    meta.insert("tcb_status".into(), claims.tcb_status.to_string());
    meta.insert("debug".into(), claims.debug.to_string());
    meta.insert("simulation".into(), claims.simulation.to_string());
    meta.insert("key_sha256".into(), key_sha256.to_string());
    let optional = [
        ("mrenclave", claims.mrenclave.clone()),
        ("mrsigner", claims.mrsigner.clone()),
        ("isv_prod_id", claims.isv_prod_id.map(|n| n.to_string())),
        ("isv_svn", claims.isv_svn.map(|n| n.to_string())),
        ("mrtd", claims.td.as_ref().map(|t| t.mr_td.clone())),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            meta.insert(k.into(), v);
        }
    }
    meta
}
