//! The JSON side of KV secrets: a secret's data as text (the form it is
//! sealed in), JSON merge patch (RFC 7386, Vault's `PATCH`), subkeys, and
//! Go's duration text. Every value tree made from a secret is wiped when
//! dropped ([`Tree`]).

use std::io::Write;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::core::input::wipe_value;
use crate::error::Error;

/// A JSON tree that holds a secret's values: its strings are zeroized
/// when it goes.
pub struct Tree(pub Value);

impl Drop for Tree {
    fn drop(&mut self) {
        wipe_value(std::mem::take(&mut self.0));
    }
}

/// Counts what would be written.
struct Count(usize);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as JSON text, in a buffer of the exact size (measured first), so
/// that no reallocation leaves a copy behind.
pub fn text(value: &Value) -> Result<Zeroizing<String>, Error> {
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_err(|_| Error::failed("secret data"))?;
    let mut out = Zeroizing::new(Vec::with_capacity(count.0));
    serde_json::to_writer(&mut *out, value).map_err(|_| Error::failed("secret data"))?;
    let text =
        String::from_utf8(std::mem::take(&mut *out)).map_err(|_| Error::failed("secret data"))?;
    Ok(Zeroizing::new(text))
}

/// A stored data text as a tree.
pub fn tree(text: &str) -> Result<Tree, Error> {
    serde_json::from_str(text)
        .map(Tree)
        .map_err(|_| Error::failed("secret data"))
}

/// Applies merge patch `patch` to `target` (RFC 7386): `null` removes a
/// field, objects merge, anything else replaces. What is replaced or
/// removed is wiped.
pub fn merge(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        wipe_value(std::mem::replace(target, patch));
        return;
    };
    if !target.is_object() {
        wipe_value(std::mem::replace(target, Value::Object(Map::new())));
    }
    let Value::Object(fields) = target else {
        return;
    };
    for (name, value) in patch {
        if value.is_null() {
            if let Some(old) = fields.remove(&name) {
                wipe_value(old);
            }
        } else {
            merge(fields.entry(name).or_insert(Value::Null), value);
        }
    }
}

/// The keys of `data` without their values (`null` leaves), down to
/// `depth` levels (0: all), as Vault's `subkeys` answers.
pub fn subkeys(data: &Value, depth: u64) -> Value {
    match data {
        Value::Object(fields) if depth != 1 => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), subkeys(v, depth.saturating_sub(1))))
                .collect(),
        ),
        Value::Object(fields) => {
            Value::Object(fields.keys().map(|k| (k.clone(), Value::Null)).collect())
        }
        _ => Value::Null,
    }
}

/// Seconds as Go writes a duration (`0s`, `45s`, `30m0s`, `1h0m0s`), as
/// Vault answers `delete_version_after`.
pub fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_as_rfc_7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge(&mut target, json!({"a": "z", "c": {"f": null}, "n": [1]}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}, "n": [1]}));
    }

    #[test]
    fn subkeys_to_a_depth() {
        let data = json!({"x": {"y": {"z": 1}}, "p": "q"});
        assert_eq!(
            subkeys(&data, 0),
            json!({"x": {"y": {"z": null}}, "p": null})
        );
        assert_eq!(subkeys(&data, 2), json!({"x": {"y": null}, "p": null}));
    }

    #[test]
    fn durations_as_go_writes_them() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(45), "45s");
        assert_eq!(go_duration(1800), "30m0s");
        assert_eq!(go_duration(3600), "1h0m0s");
    }
}
