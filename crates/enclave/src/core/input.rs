//! How Vault clients send request fields, and the limits on them: numbers
//! and booleans arrive as JSON values or as strings; binary data as
//! base64; batches and key names are bounded.

use base64::Engine;
use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

use super::keys::B64;
use crate::error::Error;
use crate::state::params::parse_bool;

/// Checks a key name from the path ([`minikms_api::key_name`]).
pub fn check_name(name: &str) -> Result<(), Error> {
    if minikms_api::key_name::is_valid(name) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid key name: {}",
            minikms_api::key_name::RULE
        )))
    }
}

/// A number that may arrive as a JSON number, a numeric string, or null.
pub fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        U(u64),
        S(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::U(n)) => Ok(Some(n)),
        Some(N::S(s)) if s.is_empty() => Ok(None),
        Some(N::S(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a non-negative integer")),
    }
}

/// A string that may arrive as a JSON string or number (Vault's
/// `salt_length` is either), or null.
pub fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        S(String),
        I(i64),
    }
    Ok(Option::<S>::deserialize(d)?.map(|s| match s {
        S::S(s) => s,
        S::I(n) => n.to_string(),
    }))
}

/// A boolean that may arrive as a JSON bool, a string as Vault reads one
/// (`"true"`, `"1"`, `"t"`...: [`parse_bool`], which the policies'
/// parameter constraints read with too), or null.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        B(bool),
        S(String),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(None),
        Some(B::B(b)) => Ok(Some(b)),
        Some(B::S(s)) if s.is_empty() => Ok(None),
        Some(B::S(s)) => parse_bool(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected a boolean")),
    }
}

/// Base64 from the client; `None`/empty is empty.
pub fn b64_field(value: Option<&str>, what: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    match value {
        None | Some("") => Ok(Zeroizing::new(Vec::new())),
        // Standard base64, or URL-safe (hvac's examples use it).
        Some(s) => B64
            .decode(s)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
            .map(Zeroizing::new)
            .map_err(|_| Error::invalid(format!("failed to base64-decode {what}"))),
    }
}
