//! How Vault clients send request fields, and the limits on them: numbers
//! and booleans arrive as JSON values or as strings; binary data as
//! base64; batches and key names are bounded.

use base64::Engine;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

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

/// A TTL or period in seconds, in Vault's forms: a JSON number, a numeric
/// string, or a duration like `1h`, `30m`, `1h30m`, `45s`, `2d`. An empty
/// string is no duration: callers that accept one decide what it means.
pub fn parse_ttl(v: &Value) -> Result<u64, Error> {
    let bad = || Error::invalid("invalid ttl: seconds, or a duration like 1h, 30m, 1h30m, 45s");
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) if s.is_empty() => Err(bad()),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().map_err(|_| bad()),
        Value::String(s) => {
            let mut total: u64 = 0;
            let mut num = String::new();
            for c in s.chars() {
                if c.is_ascii_digit() {
                    num.push(c);
                    continue;
                }
                let unit = match c {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    'd' => 86400,
                    _ => return Err(bad()),
                };
                let n: u64 = num.parse().map_err(|_| bad())?;
                num.clear();
                total = n
                    .checked_mul(unit)
                    .and_then(|x| total.checked_add(x))
                    .ok_or_else(bad)?;
            }
            if !num.is_empty() {
                return Err(bad());
            }
            Ok(total)
        }
        _ => Err(bad()),
    }
}

/// Vault's warning for the fields of a request its route does not know
/// (`known`), if any: the names sorted, each once.
pub fn unrecognized_warning<'a>(
    names: impl IntoIterator<Item = &'a str>,
    known: &[&str],
) -> Option<String> {
    let unknown: std::collections::BTreeSet<&str> =
        names.into_iter().filter(|n| !known.contains(n)).collect();
    if unknown.is_empty() {
        return None;
    }
    let names: Vec<&str> = unknown.into_iter().collect();
    Some(format!(
        "Endpoint ignored these unrecognized parameters: [{}]",
        names.join(" ")
    ))
}

/// Zeroizes every string in `v` (bodies carry plaintext and secrets).
pub fn wipe_value(v: Value) {
    match v {
        Value::String(mut s) => s.zeroize(),
        Value::Array(items) => items.into_iter().for_each(wipe_value),
        Value::Object(map) => map.into_iter().for_each(|(mut k, v)| {
            k.zeroize();
            wipe_value(v);
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn ttls_in_vaults_forms() {
        for (v, secs) in [
            (json!(3600), 3600),
            (json!("3600"), 3600),
            (json!("1h"), 3600),
            (json!("30m"), 1800),
            (json!("90s"), 90),
            (json!("1h30m"), 5400),
            (json!("2d"), 172_800),
            (json!("0s"), 0),
        ] {
            assert_eq!(parse_ttl(&v).unwrap(), secs, "{v}");
        }
        for v in [
            json!(""),
            json!(-1),
            json!(1.5),
            json!("1y"),
            json!("h"),
            json!("1h30"),
            json!(true),
            json!("99999999999999999999d"),
        ] {
            assert!(parse_ttl(&v).is_err(), "{v}");
        }
    }
}
