//! [`Client`]: one attested connection to a minikms server, and what can be
//! done over it. Opening it verifies the server's enclave in the TLS
//! handshake (attested TLS): a server whose evidence does not meet the
//! [`Attestation`] is refused before anything is sent.
//!
//! ```no_run
//! # async fn example() -> Result<(), minikms_client::error::Error> {
//! use minikms_client::attested_tls::Attestation;
//! use minikms_client::client::Client;
//! use minikms_client::connection::ServerUrl;
//!
//! let mut attestation = Attestation::default();
//! attestation.policy.allow_simulation = true; // proves nothing: tests only
//! let url = ServerUrl::parse("https://127.0.0.1:9001")?;
//! let mut client = Client::open(&url, attestation).await?;
//! let key = client.generate_aes_key().await?;
//! println!("{}", key["aes_key"]);
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use minikms_verifier::{verify_evidence, Binding, CertificateClaims, Claims, HeldClaims};

use crate::attested_tls::{unix_now, Attestation, AttestedVerifier};
use crate::connection::{Connection, Response, ServerUrl};
use crate::error::Error;
use crate::import::{self, ImportOptions, Imported, TargetKey};
use crate::trust::{self, TrustedCa};

/// Longest nonce `/attestation` takes, in bytes.
pub const MAX_NONCE: usize = 64;

/// The methods [`Client::api`] sends.
pub const API_METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "LIST"];

/// An attested connection to a minikms server, with the token for `/v1`
/// routes.
pub struct Client {
    verifier: Arc<AttestedVerifier>,
    conn: Connection,
    token: Option<String>,
}

impl Client {
    /// Connects to `url` and verifies its enclave against `attestation`.
    pub async fn open(url: &ServerUrl, attestation: Attestation) -> Result<Self, Error> {
        Self::connect(url, AttestedVerifier::new(attestation)).await
    }

    /// As [`Client::open`], presenting a workload's attested key as the
    /// TLS client certificate (see [`crate::login`]).
    pub async fn open_as(
        url: &ServerUrl,
        attestation: Attestation,
        key: &crate::workload::WorkloadKey,
    ) -> Result<Self, Error> {
        let verifier = AttestedVerifier::new(attestation);
        let conn = Connection::open_as(url, &verifier, Some(key.tls_identity())).await?;
        Ok(Self {
            verifier,
            conn,
            token: None,
        })
    }

    /// As [`Client::open`], with a verifier that may be shared by many
    /// connections.
    pub async fn connect(url: &ServerUrl, verifier: Arc<AttestedVerifier>) -> Result<Self, Error> {
        let conn = Connection::open(url, &verifier).await?;
        Ok(Self {
            verifier,
            conn,
            token: None,
        })
    }

    /// Sends `token` (in `X-Vault-Token`) with the `/v1` calls that follow;
    /// `None` or an empty token sends none.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token.filter(|t| !t.is_empty());
    }

    /// As [`Client::set_token`], by value.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.set_token(token);
        self
    }

    /// The token sent with `/v1` calls.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// What the server's certificate proved in the handshake.
    pub fn claims(&self) -> &CertificateClaims {
        self.conn.claims()
    }

    /// The server.
    pub fn url(&self) -> &ServerUrl {
        self.conn.url()
    }

    /// What this client accepts.
    pub fn attestation(&self) -> &Attestation {
        self.verifier.attestation()
    }

    /// The verifier, to open more connections with the same policy.
    pub fn verifier(&self) -> &Arc<AttestedVerifier> {
        &self.verifier
    }

    /// The connection, for requests of one's own.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Sends one request with this client's token; the answer as it came.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, Error> {
        self.conn
            .request(method, path, self.token.as_deref(), body)
            .await
    }

    /// `GET /`: the service, its version and the enclave's identity.
    pub async fn status(&mut self) -> Result<serde_json::Value, Error> {
        self.get("/").await
    }

    /// `GET /generate-aes-key`: a fresh AES-256 key (base64), not stored.
    pub async fn generate_aes_key(&mut self) -> Result<serde_json::Value, Error> {
        self.get("/generate-aes-key").await
    }

    /// `GET /generate-rsa-key-pair`: a fresh RSA-2048 key pair (PEM), not
    /// stored.
    pub async fn generate_rsa_key_pair(&mut self) -> Result<serde_json::Value, Error> {
        self.get("/generate-rsa-key-pair").await
    }

    async fn get(&mut self, path: &str) -> Result<serde_json::Value, Error> {
        self.conn.request("GET", path, None, None).await?.ok_json()
    }

    /// Fresh evidence for `nonce` (at most [`MAX_NONCE`] bytes; `None`: 32
    /// random bytes), verified under this client's attestation, and checked
    /// to commit to the nonce and to this connection's server key.
    pub async fn attest(&mut self, nonce: Option<&[u8]>) -> Result<Claims, Error> {
        let nonce = match nonce {
            Some(n) if n.len() > MAX_NONCE => {
                return Err(Error::Input(format!(
                    "a nonce of {} bytes; at most {MAX_NONCE}",
                    n.len()
                )))
            }
            Some(n) => n.to_vec(),
            None => crate::random::bytes(32)?,
        };
        let nonce_hex = hex::encode(&nonce);
        let path = format!("/attestation?nonce={nonce_hex}");
        let response = self.conn.request("GET", &path, None, None).await?;
        if response.status != 200 {
            response.ok_json()?;
            return Err(Error::Protocol("the server sent no evidence".into()));
        }
        let attestation = self.verifier.attestation();
        let options = attestation.options(unix_now());
        let claims = verify_evidence(&response.body, &options, &attestation.policy)?;
        check_fresh_and_bound(&claims, &nonce_hex, self.conn.server_key_sha256())?;
        Ok(claims)
    }

    /// Any `/v1` call (Vault's API): `method` is one of [`API_METHODS`]
    /// (any case), `path` is under `/v1/` (a leading `/` or `v1/` is
    /// dropped). The server's JSON answer (`{}` for 204).
    pub async fn api(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, Error> {
        let method = api_method(method)?;
        let path = format!(
            "/v1/{}",
            path.trim_start_matches('/').trim_start_matches("v1/")
        );
        self.request(&method, &path, body).await?.ok_json()
    }

    /// Bring your own key: wraps `key` (from [`import::read_key`]) for the
    /// attested enclave's wrapping key and imports it as the managed key
    /// `name`. The name is checked before anything is sent.
    pub async fn import(
        &mut self,
        name: &str,
        key: &TargetKey,
        options: ImportOptions,
    ) -> Result<Imported, Error> {
        import::check_name(name)?;
        let wrapping = self
            .request("GET", "/v1/transit/wrapping_key", None)
            .await?
            .ok_json()?;
        let public_pem = wrapping["data"]["public_key"]
            .as_str()
            .ok_or_else(|| Error::Protocol("the server sent no wrapping key".into()))?;
        let ciphertext = import::wrap(public_pem, &key.bytes)?;
        let (path, body) = import::request(name, key, ciphertext, options);
        self.request("POST", &path, Some(&body)).await?.ok_json()?;
        Ok(Imported {
            name: name.to_string(),
            key_type: key.key_type.clone(),
            new_version: options.new_version,
        })
    }

    /// The enclave's CA, checked against this connection's evidence (see
    /// [`crate::trust`]); [`TrustedCa::save`] writes it for ordinary TLS
    /// clients.
    pub fn trust_ca(&self) -> Result<TrustedCa, Error> {
        trust::verified_ca(&self.conn)
    }
}

/// `method` as [`Client::api`] sends it (upper case), or an error if it
/// is not one of [`API_METHODS`].
pub fn api_method(method: &str) -> Result<String, Error> {
    let upper = method.to_ascii_uppercase();
    if API_METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(Error::Input(format!(
            "unknown method {method:?}: GET, POST, PUT, DELETE or LIST"
        )))
    }
}

/// The evidence must commit to our nonce and to the key of the server we
/// are talking to (not one relayed from elsewhere).
fn check_fresh_and_bound(
    claims: &Claims,
    nonce_hex: &str,
    server_key_sha256: &str,
) -> Result<(), Error> {
    let unbound = |message: &str| Err(Error::Unbound(message.into()));
    let Some(held) = claims
        .held_data
        .as_ref()
        .filter(|h| h.binding == Binding::Valid)
    else {
        return unbound("the evidence does not commit to its claims");
    };
    let HeldClaims::Cbor {
        pubkey_hash, nonce, ..
    } = &held.claims
    else {
        return unbound("the evidence's claims are not a CBOR map");
    };
    if nonce.as_deref() != Some(nonce_hex) {
        return unbound("the evidence is not for our nonce (replayed?)");
    }
    if pubkey_hash.as_deref() != Some(server_key_sha256) {
        return unbound("the evidence binds another TLS key than this connection's (relayed?)");
    }
    Ok(())
}
