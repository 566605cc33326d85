//! The plan: the key to measure with (made before the clock starts), and
//! the request every worker sends, checked once.

use std::sync::Arc;

use base64::Engine;
use hyper::body::Bytes;
use serde_json::{json, Value};

use super::config::{Config, Op};
use crate::attested_tls::AttestedVerifier;
use crate::client::Client;
use crate::connection::{Prepared, ServerUrl};
use crate::error::Error;

/// Everything a worker needs, shared.
pub(super) struct Plan {
    pub(super) op: Op,
    /// The server, then any other replicas: worker N uses `urls[N % len]`.
    pub(super) urls: Vec<ServerUrl>,
    pub(super) verifier: Arc<AttestedVerifier>,
    pub(super) token: Option<String>,
    /// For create-key, whose path varies: each request's path is `path`
    /// and a fresh name.
    pub(super) method: &'static str,
    pub(super) path: String,
    pub(super) body: Option<Bytes>,
    /// `method path body` checked once, for every op but create-key and
    /// attest (which send their own requests).
    pub(super) prepared: Prepared,
    /// Unique per run, for the names create-key makes.
    pub(super) run_id: String,
    pub(super) new_connections: bool,
    /// Items per request.
    pub(super) items: u64,
}

/// Makes the key (over `client`) and the request every worker sends.
pub(super) async fn prepare(
    client: &mut Client,
    config: &Config,
    run_id: String,
    payload: &[u8],
) -> Result<Plan, Error> {
    let input = base64::engine::general_purpose::STANDARD.encode(payload);
    let key_type = config.key_type().unwrap_or_default();
    let key = format!("bench-{run_id}");
    // One item, or a batch of copies of it.
    let shape = |item: Value| -> Value {
        match config.batch {
            None => item,
            Some(n) => json!({ "batch_input": vec![item; n] }),
        }
    };
    let (method, path, body) = match config.op {
        Op::Health => ("GET", "/".to_string(), None),
        Op::GenerateAesKey => ("GET", "/generate-aes-key".to_string(), None),
        Op::GenerateRsaKeyPair => ("GET", "/generate-rsa-key-pair".to_string(), None),
        Op::Attest => ("GET", "/attestation".to_string(), None),
        Op::CreateKey => (
            "POST",
            "/v1/transit/keys/".to_string(),
            Some(json!({ "type": key_type })),
        ),
        Op::Encrypt => {
            create_key(client, &key, &key_type).await?;
            let body = shape(json!({ "plaintext": input }));
            ("POST", format!("/v1/transit/encrypt/{key}"), Some(body))
        }
        Op::Decrypt => {
            create_key(client, &key, &key_type).await?;
            let path = format!("/v1/transit/encrypt/{key}");
            let answer = client
                .request("POST", &path, Some(&json!({ "plaintext": input })))
                .await?
                .ok_json()?;
            let ciphertext = answer["data"]["ciphertext"]
                .as_str()
                .ok_or_else(|| Error::Protocol("encrypt answered without a ciphertext".into()))?;
            let body = shape(json!({ "ciphertext": ciphertext }));
            ("POST", format!("/v1/transit/decrypt/{key}"), Some(body))
        }
        Op::Sign => {
            create_key(client, &key, &key_type).await?;
            let body = shape(json!({ "input": input }));
            ("POST", format!("/v1/transit/sign/{key}"), Some(body))
        }
        Op::Verify => {
            create_key(client, &key, &key_type).await?;
            let path = format!("/v1/transit/sign/{key}");
            let answer = client
                .request("POST", &path, Some(&json!({ "input": input })))
                .await?
                .ok_json()?;
            let signature = answer["data"]["signature"]
                .as_str()
                .ok_or_else(|| Error::Protocol("sign answered without a signature".into()))?;
            let body = shape(json!({ "input": input, "signature": signature }));
            ("POST", format!("/v1/transit/verify/{key}"), Some(body))
        }
        Op::KvPut => (
            "POST",
            format!("/v1/secret/data/{key}"),
            Some(json!({ "data": { "value": input } })),
        ),
        Op::KvGet => {
            let path = format!("/v1/secret/data/{key}");
            let put = json!({ "data": { "value": input } });
            client
                .request("POST", &path, Some(&put))
                .await?
                .ok_json()
                .map_err(|e| e.context("cannot write the secret to measure with"))?;
            ("GET", path, None)
        }
        Op::Datakey => {
            create_key(client, &key, &key_type).await?;
            (
                "POST",
                format!("/v1/transit/datakey/plaintext/{key}"),
                Some(json!({})),
            )
        }
    };
    let body = match body {
        Some(v) => Some(Bytes::from(
            serde_json::to_vec(&v).map_err(|e| Error::System(e.to_string()))?,
        )),
        None => None,
    };
    let token = client.token().map(str::to_string);
    let prepared = client
        .connection()
        .prepare(method, &path, token.as_deref(), body.clone())?;
    Ok(Plan {
        op: config.op,
        urls: vec![client.url().clone()],
        verifier: client.verifier().clone(),
        token,
        method,
        path,
        body,
        prepared,
        run_id,
        new_connections: config.new_connections,
        items: config.items_per_request(),
    })
}

async fn create_key(client: &mut Client, name: &str, key_type: &str) -> Result<(), Error> {
    let path = format!("/v1/transit/keys/{name}");
    let body = json!({ "type": key_type });
    let response = client.request("POST", &path, Some(&body)).await?;
    response
        .ok_json()
        .map(|_| ())
        .map_err(|e| e.context(format!("cannot create the {key_type} key to measure with")))
}
