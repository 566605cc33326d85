//! Secure key release, the workload's side: log in with evidence, then
//! ask for secrets wrapped to the workload's attested key.
//!
//! ```no_run
//! # async fn example() -> Result<(), minikms_client::error::Error> {
//! use minikms_client::attested_tls::Attestation;
//! use minikms_client::connection::ServerUrl;
//! use minikms_client::login::Session;
//! use minikms_client::workload::SimulatedWorkload;
//!
//! let mut attestation = Attestation::default();
//! attestation.policy.allow_simulation = true; // proves nothing: tests only
//! let url = ServerUrl::parse("https://127.0.0.1:9001")?;
//! let me = SimulatedWorkload::from_signed_file("workload.signed".as_ref(), None)?;
//! let mut session = Session::login(&url, attestation, "app", &me).await?;
//! let released = session.release_key("app").await?;
//! println!("version {} ({} bytes)", released.version, released.material.len());
//! # Ok(())
//! # }
//! ```
//!
//! 1. A fresh [`WorkloadKey`], and one connection to the server that
//!    presents it as the TLS client certificate (the server's enclave is
//!    attested in the handshake, as for every call).
//! 2. `POST /v1/auth/attest/nonce`; evidence from the [`Workload`] whose
//!    report data is [`minikms_api::release::report_data`]`(nonce, key)`;
//!    `POST /v1/auth/attest/login` with role, nonce, key and evidence.
//! 3. The token (bound to the key) is used on this connection only.

use base64::Engine;
use serde_json::json;
use zeroize::Zeroizing;

use crate::attested_tls::Attestation;
use crate::client::Client;
use crate::connection::ServerUrl;
use crate::error::Error;
use crate::workload::{Workload, WorkloadKey};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A logged-in workload: its connection, key and token.
pub struct Session {
    client: Client,
    key: WorkloadKey,
    answer: serde_json::Value,
}

/// Key material released to the workload.
pub struct Released {
    /// The key's version.
    pub version: u64,
    /// The material, as export gives it: raw bytes for symmetric keys
    /// (32 for aes256-gcm96), the PEM text for asymmetric ones.
    pub material: Zeroizing<Vec<u8>>,
}

impl Session {
    /// Logs in to `url` under `role` with evidence from `workload`.
    pub async fn login(
        url: &ServerUrl,
        attestation: Attestation,
        role: &str,
        workload: &dyn Workload,
    ) -> Result<Self, Error> {
        let key = WorkloadKey::generate()?;
        let mut client = Client::open_as(url, attestation, &key).await?;
        let nonce_answer = client.api("POST", "auth/attest/nonce", None).await?;
        let nonce_hex = nonce_answer["data"]["nonce"]
            .as_str()
            .ok_or_else(|| Error::Protocol("the server sent no nonce".into()))?
            .to_string();
        let nonce = hex::decode(&nonce_hex)
            .map_err(|_| Error::Protocol("the server's nonce is not hex".into()))?;
        let report_data = minikms_api::release::report_data(&nonce, key.public_key_der());
        let evidence = workload.evidence(&report_data)?;
        let mut body = json!({
            "role": role,
            "nonce": nonce_hex,
            "public_key": B64.encode(key.public_key_der()),
            "quote": B64.encode(&evidence.quote),
        });
        if let Some(collateral) = evidence.collateral {
            body["collateral"] = collateral;
        }
        let answer = client.api("POST", "auth/attest/login", Some(&body)).await?;
        let token = answer["auth"]["client_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Protocol("the login answer has no client_token".into()))?;
        client.set_token(Some(token.to_string()));
        Ok(Self {
            client,
            key,
            answer,
        })
    }

    /// The login answer (Vault's `auth` block with `client_token`, and the
    /// verified claims in `data`).
    pub fn answer(&self) -> &serde_json::Value {
        &self.answer
    }

    /// The connection, with the bound token, for calls of one's own.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The workload's key (to open what was released to it).
    pub fn key(&self) -> &WorkloadKey {
        &self.key
    }

    /// The latest version of key `name`, released to this workload
    /// (`GET transit/export/encryption-key/NAME/latest?recipient=attested`)
    /// and unwrapped here.
    pub async fn release_key(&mut self, name: &str) -> Result<Released, Error> {
        crate::import::check_name(name)?;
        let path = format!("transit/export/encryption-key/{name}/latest?recipient=attested");
        let answer = self.client.api("GET", &path, None).await?;
        let keys = answer["data"]["keys"]
            .as_object()
            .ok_or_else(|| Error::Protocol("the release answer has no keys".into()))?;
        let (version, wrapped) = keys
            .iter()
            .filter_map(|(v, k)| Some((v.parse::<u64>().ok()?, k.as_str()?)))
            .max_by_key(|(v, _)| *v)
            .ok_or_else(|| Error::Protocol("the release answer has no key version".into()))?;
        let blob = B64
            .decode(wrapped)
            .map_err(|_| Error::Protocol("the released key is not base64".into()))?;
        Ok(Released {
            version,
            material: self.key.unwrap(&blob)?,
        })
    }
}
