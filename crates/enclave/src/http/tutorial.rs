//! The tutorial's one-shot generators: fresh key material, made here and
//! returned to the caller over TLS, never stored and never logged.

use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use serde::Serialize;
use zeroize::Zeroizing;

use super::app::AppState;
use super::secret;
use crate::error::Error;
use crate::services::rsa_pool;

/// `GET /generate-aes-key`: 32 random bytes (an AES-256 key), base64.
pub async fn aes_key(State(state): State<AppState>) -> Result<Response, Error> {
    let mut key = Zeroizing::new([0u8; 32]);
    state
        .platform
        .fill_random(key.as_mut())
        .map_err(|e| Error::platform("AES key generation", e))?;
    let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.as_ref()));
    #[derive(Serialize)]
    struct AesKey<'a> {
        aes_key: &'a str,
        encoding: &'static str,
    }
    // Borrowed fields, not a `serde_json::Value`, which would copy the key.
    Ok(secret::json(&AesKey {
        aes_key: encoded.as_str(),
        encoding: "base64",
    }))
}

/// `GET /generate-rsa-key-pair`: a fresh RSA-2048 pair (e = 65537).
/// Private key: PKCS#8 PEM (`BEGIN PRIVATE KEY`); public key: SubjectPublicKeyInfo
/// PEM (`BEGIN PUBLIC KEY`). Taken from the pool of pairs made ahead of
/// demand ([`super::rsa_pool`]) when one is ready, else made now.
pub async fn rsa_key_pair(State(state): State<AppState>) -> Result<Response, Error> {
    let pair = match state.rsa_pool.take() {
        Some(pair) => pair,
        // Key generation takes tens of milliseconds: keep it off the I/O
        // threads, and take turns.
        None => {
            let _turn = state.expensive_turn().await?;
            tokio::task::spawn_blocking(rsa_pool::generate)
                .await
                .map_err(|e| Error::internal("RSA key generation", e))??
        }
    };
    // Fields in the order the `serde_json::Value` used to write them.
    #[derive(Serialize)]
    struct Pair<'a> {
        encoding: &'static str,
        private_key: &'a str,
        public_key: &'a str,
    }
    Ok(secret::json(&Pair {
        encoding: "plaintext",
        private_key: pair.private.as_str(),
        public_key: &pair.public,
    }))
}
