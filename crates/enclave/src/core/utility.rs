//! Random bytes and hashes: no key involved.

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::input::{b64_field, lenient_u64};
use super::keys::{random as random_bytes, B64};
use super::sigalg::Hash;
use crate::error::Error;

/// Most random bytes per request (Vault's limit too).
pub const MAX_RANDOM: u64 = 128 * 1024;

#[derive(Default, Deserialize, Serialize)]
pub struct RandomRequest {
    #[serde(default, deserialize_with = "lenient_u64")]
    bytes: Option<u64>,
    format: Option<String>,
    source: Option<String>,
}

fn encode(bytes: &[u8], format: Option<&str>, default: &str) -> Result<String, Error> {
    match format.filter(|f| !f.is_empty()).unwrap_or(default) {
        "base64" => Ok(B64.encode(bytes)),
        "hex" => Ok(hex::encode(bytes)),
        other => Err(Error::invalid(format!(
            "unsupported encoding format {other}; must be hex or base64"
        ))),
    }
}

/// Random bytes as Vault's `random` answers them.
#[derive(Serialize)]
pub struct RandomBytes {
    pub random_bytes: String,
}

/// `bytes` random bytes (from the path, else the request, else 32),
/// base64 or hex.
pub fn random(
    path_source: Option<String>,
    path_bytes: Option<String>,
    req: RandomRequest,
) -> Result<RandomBytes, Error> {
    let source = path_source
        .or(req.source)
        .unwrap_or_else(|| "platform".into());
    if !matches!(source.as_str(), "" | "platform" | "seal" | "all") {
        return Err(Error::invalid(format!(
            "unsupported entropy source {source}"
        )));
    }
    let n = match path_bytes {
        Some(b) => b
            .parse::<u64>()
            .map_err(|_| Error::invalid("invalid number of bytes"))?,
        None => req.bytes.unwrap_or(32),
    };
    if n == 0 || n > MAX_RANDOM {
        return Err(Error::invalid(format!(
            "the number of bytes must be 1 to {MAX_RANDOM}"
        )));
    }
    let bytes = random_bytes(usize::try_from(n).map_err(|_| Error::invalid("too many bytes"))?)?;
    let out = encode(&bytes, req.format.as_deref(), "base64")?;
    Ok(RandomBytes { random_bytes: out })
}

#[derive(Default, Deserialize, Serialize)]
pub struct HashRequest {
    /// The caller's data, wiped with the request.
    input: Option<Zeroizing<String>>,
    algorithm: Option<String>,
    format: Option<String>,
}

/// A digest as Vault's `hash` answers it.
#[derive(Serialize)]
pub struct Sum {
    pub sum: String,
}

/// The digest of the input with the algorithm from the path, else the
/// request, else SHA-256; hex or base64.
pub fn hash(path_alg: Option<String>, req: HashRequest) -> Result<Sum, Error> {
    if req.input.is_none() {
        return Err(Error::invalid("missing input"));
    }
    let input = b64_field(req.input.as_ref().map(|i| i.as_str()), "input")?;
    let alg_name = path_alg
        .or(req.algorithm)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "sha2-256".into());
    // Vault's `hash` takes the SHA-2 and SHA-3 families only.
    let alg = match Hash::parse(&alg_name) {
        Ok(Hash::Sha1 | Hash::None) | Err(_) => {
            return Err(Error::invalid(format!("unsupported algorithm {alg_name}")))
        }
        Ok(h) => h,
    };
    let sum = alg.digest_of(&input)?;
    let out = encode(&sum, req.format.as_deref(), "hex")?;
    Ok(Sum { sum: out })
}
