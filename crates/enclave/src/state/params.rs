//! Vault's parameter constraints in a policy's path block:
//! `allowed_parameters`, `denied_parameters`, `required_parameters`, and
//! the check of a request body's top-level fields against them.
//!
//! ```hcl
//! path "transit/keys/*" {
//!   capabilities       = ["create", "update"]
//!   allowed_parameters = { "type" = ["ed25519", "ecdsa-p256"], "exportable" = [] }
//!   denied_parameters  = { "allow_plaintext_backup" = [] }
//! }
//! ```
//!
//! As Vault: parameter names are compared lower-cased; an empty value list
//! means any value; `*` names every parameter; a parameter denied (with
//! that value) refuses the request; once anything is allowed, a parameter
//! not allowed refuses it; every required parameter must be present.
//! Values are compared as JSON values (a form field's string `"true"`
//! matches the policy's `true`); Vault's globs in values are not
//! supported (such a value only matches itself).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// One path block's constraints (or several merged, as Vault merges the
/// blocks of a path across a token's policies).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    allowed: BTreeMap<String, Vec<Value>>,
    denied: BTreeMap<String, Vec<Value>>,
    required: BTreeSet<String>,
}

/// The attributes a path block may carry besides `capabilities`.
pub const ATTRIBUTES: [&str; 3] = [
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
];

impl Params {
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty() && self.denied.is_empty() && self.required.is_empty()
    }

    /// Reads one of [`ATTRIBUTES`] of the block for `pattern`.
    pub fn set(&mut self, attr: &str, value: &Value, pattern: &str) -> Result<(), String> {
        if attr == "required_parameters" {
            let names = value
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_str()).collect::<Option<Vec<_>>>())
                .ok_or_else(|| {
                    format!("path {pattern:?}: required_parameters must be a list of strings")
                })?;
            self.required
                .extend(names.into_iter().map(str::to_ascii_lowercase));
            return Ok(());
        }
        let bad =
            || format!("path {pattern:?}: {attr} must map parameter names to lists of values");
        let map = value.as_object().ok_or_else(bad)?;
        let target = if attr == "allowed_parameters" {
            &mut self.allowed
        } else {
            &mut self.denied
        };
        for (name, values) in map {
            let values = values.as_array().ok_or_else(bad)?;
            merge_values(target, name.to_ascii_lowercase(), values.clone());
        }
        Ok(())
    }

    /// Adds `other`'s constraints to these.
    pub fn merge(&mut self, other: &Params) {
        for (target, from) in [
            (&mut self.allowed, &other.allowed),
            (&mut self.denied, &other.denied),
        ] {
            for (name, values) in from {
                merge_values(target, name.clone(), values.clone());
            }
        }
        self.required.extend(other.required.iter().cloned());
    }

    /// Whether a request with these top-level fields may go ahead.
    pub fn allows(&self, fields: &Map<String, Value>) -> bool {
        let given: BTreeMap<String, &Value> = fields
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        if self.required.iter().any(|r| !given.contains_key(r)) {
            return false;
        }
        if self.allowed.is_empty() && self.denied.is_empty() {
            return true;
        }
        if self.denied.contains_key("*") && !given.is_empty() {
            return false;
        }
        given.iter().all(|(name, value)| {
            if let Some(denied) = self.denied.get(name) {
                if listed(value, denied) {
                    return false;
                }
            }
            match self.allowed.get(name).or_else(|| self.allowed.get("*")) {
                Some(allowed) => listed(value, allowed),
                None => self.allowed.is_empty(),
            }
        })
    }
}

/// Vault's merge of two value lists for a name: an empty list (any value)
/// absorbs the other; otherwise their union.
fn merge_values(target: &mut BTreeMap<String, Vec<Value>>, name: String, values: Vec<Value>) {
    match target.get_mut(&name) {
        None => {
            target.insert(name, values);
        }
        Some(existing) if existing.is_empty() => {}
        Some(existing) if values.is_empty() => existing.clear(),
        Some(existing) => {
            for v in values {
                if !existing.contains(&v) {
                    existing.push(v);
                }
            }
        }
    }
}

/// Whether `value` is in `list` (an empty list holds every value). A
/// list value (Vault's batch fields) is in it if each of its items is.
fn listed(value: &Value, list: &[Value]) -> bool {
    if list.is_empty() {
        return true;
    }
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().all(|i| listed(i, list)),
        _ => list.iter().any(|allowed| same(value, allowed)),
    }
}

/// JSON equality, with strings matching the numbers and booleans they
/// spell (form fields arrive as strings).
fn same(value: &Value, allowed: &Value) -> bool {
    match (value, allowed) {
        (Value::String(s), Value::Number(_) | Value::Bool(_)) => {
            s.as_str() == allowed.to_string().as_str()
        }
        _ => value == allowed,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(allowed: Value, denied: Value, required: Value) -> Params {
        let mut p = Params::default();
        p.set("allowed_parameters", &allowed, "p").unwrap();
        p.set("denied_parameters", &denied, "p").unwrap();
        p.set("required_parameters", &required, "p").unwrap();
        p
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn constraints_decide_as_vault_does() {
        let p = params(
            json!({"type": ["ed25519"], "exportable": []}),
            json!({}),
            json!([]),
        );
        assert!(p.allows(&fields(json!({"type": "ed25519", "exportable": true}))));
        assert!(p.allows(&fields(json!({}))));
        assert!(!p.allows(&fields(json!({"type": "aes256-gcm96"}))));
        assert!(!p.allows(&fields(json!({"derived": true}))), "not allowed");

        let p = params(json!({}), json!({"exportable": ["true"]}), json!(["type"]));
        assert!(p.allows(&fields(json!({"type": "x", "derived": true}))));
        assert!(!p.allows(&fields(json!({"type": "x", "exportable": "true"}))));
        assert!(p.allows(&fields(json!({"type": "x", "exportable": false}))));
        assert!(!p.allows(&fields(json!({"exportable": false}))), "required");

        let p = params(json!({"*": []}), json!({"Deletion_Allowed": []}), json!([]));
        assert!(p.allows(&fields(json!({"anything": 1}))));
        assert!(!p.allows(&fields(json!({"DELETION_ALLOWED": false}))));

        let p = params(json!({}), json!({"*": []}), json!([]));
        assert!(p.allows(&fields(json!({}))));
        assert!(!p.allows(&fields(json!({"a": 1}))));
    }

    #[test]
    fn merged_blocks_widen_as_in_vault() {
        let mut a = params(json!({"type": ["a"], "x": []}), json!({}), json!(["x"]));
        let b = params(json!({"type": ["b"]}), json!({}), json!([]));
        a.merge(&b);
        assert!(a.allows(&fields(json!({"x": 1, "type": "b"}))));
        let c = params(json!({"type": []}), json!({}), json!([]));
        a.merge(&c);
        assert!(a.allows(&fields(json!({"x": 1, "type": "zzz"}))));
    }

    #[test]
    fn malformed_constraints_are_refused() {
        let mut p = Params::default();
        assert!(p.set("allowed_parameters", &json!(["type"]), "p").is_err());
        assert!(p.set("denied_parameters", &json!({"a": "b"}), "p").is_err());
        assert!(p.set("required_parameters", &json!("a"), "p").is_err());
    }
}
