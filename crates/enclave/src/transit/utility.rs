//! Random bytes and hashes: no key involved.

use aws_lc_rs::digest;
use axum::body::Body;
use axum::extract::Path;
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::auth::Authed;
use super::keys::{random as random_bytes, B64};
use super::{b64_field, envelope, json_body, lenient_u64, Fail};

/// Most random bytes per request (Vault's limit too).
pub const MAX_RANDOM: u64 = 128 * 1024;

#[derive(Default, Deserialize)]
pub struct RandomRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    bytes: Option<u64>,
    format: Option<String>,
    source: Option<String>,
}

fn encode(bytes: &[u8], format: Option<&str>, default: &str) -> Result<String, Fail> {
    match format.filter(|f| !f.is_empty()).unwrap_or(default) {
        "base64" => Ok(B64.encode(bytes)),
        "hex" => Ok(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        other => Err(Fail::bad(format!(
            "unsupported encoding format {other}; must be hex or base64"
        ))),
    }
}

async fn do_random(
    path_source: Option<String>,
    path_bytes: Option<String>,
    body: Body,
) -> Result<Response, Fail> {
    let req: RandomRequest = json_body(body).await?;
    let source = path_source
        .or(req.source)
        .unwrap_or_else(|| "platform".into());
    if !matches!(source.as_str(), "" | "platform" | "seal" | "all") {
        return Err(Fail::bad(format!("unsupported entropy source {source}")));
    }
    let n = match path_bytes {
        Some(b) => b
            .parse::<u64>()
            .map_err(|_| Fail::bad("invalid number of bytes"))?,
        None => req.bytes.unwrap_or(32),
    };
    if n == 0 || n > MAX_RANDOM {
        return Err(Fail::bad(format!(
            "the number of bytes must be 1 to {MAX_RANDOM}"
        )));
    }
    let bytes = random_bytes(usize::try_from(n).map_err(|_| Fail::bad("too many bytes"))?)?;
    let out = encode(&bytes, req.format.as_deref(), "base64")?;
    Ok(envelope(json!({ "random_bytes": out })))
}

/// `POST /v1/transit/random`.
pub async fn random(_: Authed, body: Body) -> Result<Response, Fail> {
    do_random(None, None, body).await
}

/// `POST /v1/transit/random/:bytes` or `/random/:source`.
pub async fn random_a(_: Authed, Path(a): Path<String>, body: Body) -> Result<Response, Fail> {
    if a.bytes().all(|b| b.is_ascii_digit()) {
        do_random(None, Some(a), body).await
    } else {
        do_random(Some(a), None, body).await
    }
}

/// `POST /v1/transit/random/:source/:bytes`.
pub async fn random_ab(
    _: Authed,
    Path((source, bytes)): Path<(String, String)>,
    body: Body,
) -> Result<Response, Fail> {
    do_random(Some(source), Some(bytes), body).await
}

#[derive(Default, Deserialize)]
pub struct HashRequest {
    input: Option<String>,
    algorithm: Option<String>,
    format: Option<String>,
}

async fn do_hash(path_alg: Option<String>, body: Body) -> Result<Response, Fail> {
    let req: HashRequest = json_body(body).await?;
    if req.input.is_none() {
        return Err(Fail::bad("missing input"));
    }
    let input = b64_field(req.input.as_deref(), "input")?;
    let alg_name = path_alg
        .or(req.algorithm)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "sha2-256".into());
    let alg: &'static digest::Algorithm = match alg_name.as_str() {
        "sha2-224" => &digest::SHA224,
        "sha2-256" => &digest::SHA256,
        "sha2-384" => &digest::SHA384,
        "sha2-512" => &digest::SHA512,
        "sha3-256" => &digest::SHA3_256,
        "sha3-384" => &digest::SHA3_384,
        "sha3-512" => &digest::SHA3_512,
        other => return Err(Fail::bad(format!("unsupported algorithm {other}"))),
    };
    let sum = digest::digest(alg, &input);
    let out = encode(sum.as_ref(), req.format.as_deref(), "hex")?;
    Ok(envelope(json!({ "sum": out })))
}

/// `POST /v1/transit/hash`.
pub async fn hash(_: Authed, body: Body) -> Result<Response, Fail> {
    do_hash(None, body).await
}

/// `POST /v1/transit/hash/:algorithm`.
pub async fn hash_alg(_: Authed, Path(alg): Path<String>, body: Body) -> Result<Response, Fail> {
    do_hash(Some(alg), body).await
}
