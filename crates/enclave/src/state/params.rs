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
//! Vault's globs in values are not supported (such a value only matches
//! itself).
//!
//! Values are compared as the route will act on them, never as spelt:
//! the request's fields come here already parsed by the route's own
//! request type (`crate::http::body`: a boolean field is a JSON bool
//! whether it came as `true`, `"1"` or a form's `t`), and a policy's
//! value is read with the same rules for that type ([`parse_bool`] for
//! booleans, integers as numbers, strings as written). Each item of a
//! `batch_input` is checked too, as the request with the item's fields
//! added (they are parameters the route acts on).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::error::Error;

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
    pub fn set(&mut self, attr: &str, value: &Value, pattern: &str) -> Result<(), Error> {
        if attr == "required_parameters" {
            let names = value
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_str()).collect::<Option<Vec<_>>>())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "path {pattern:?}: required_parameters must be a list of strings"
                    ))
                })?;
            self.required
                .extend(names.into_iter().map(str::to_ascii_lowercase));
            return Ok(());
        }
        let bad = || {
            Error::invalid(format!(
                "path {pattern:?}: {attr} must map parameter names to lists of values"
            ))
        };
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

    /// Whether a request with these fields (as its route parsed them: see
    /// the module's doc) may go ahead: its top-level fields, and each
    /// `batch_input` item with the top-level fields under it.
    pub fn allows(&self, fields: &Map<String, Value>) -> bool {
        if self.is_empty() {
            return true;
        }
        let given: BTreeMap<String, &Value> = fields
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        if !self.allows_one(&given) {
            return false;
        }
        let Some(batch) = fields.get("batch_input") else {
            return true;
        };
        let Value::Array(items) = batch else {
            // Not a batch the route would run: refused rather than unchecked.
            return false;
        };
        items.iter().all(|item| {
            let Value::Object(item) = item else {
                return false;
            };
            let mut merged = given.clone();
            merged.remove("batch_input");
            merged.extend(item.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
            self.allows_one(&merged)
        })
    }

    /// [`Params::allows`] for one set of fields (names lower-cased).
    fn allows_one(&self, given: &BTreeMap<String, &Value>) -> bool {
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

/// Whether the request's `value` (as its route parsed it) is the policy's
/// `allowed`, read as a value of the same type: a boolean field matches
/// `true`, `"true"`, `"1"`, `"t"`...; a number matches `1` and `"1"`; a
/// string matches its spelling (`"1"` matches `1`). A policy value that
/// does not parse as the field's type matches nothing.
fn same(value: &Value, allowed: &Value) -> bool {
    let spelt = match allowed {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(allowed.to_string()),
        _ => None,
    };
    match value {
        Value::Bool(b) => spelt.as_deref().and_then(parse_bool) == Some(*b),
        Value::Number(n) => spelt.is_some_and(|s| match (n.as_u64(), s.parse::<u64>()) {
            (Some(n), Ok(a)) => n == a,
            _ => n.as_f64().is_some_and(|n| s.parse::<f64>() == Ok(n)),
        }),
        Value::String(s) => spelt.as_deref() == Some(s.as_str()),
        _ => value == allowed,
    }
}

/// A boolean as Vault reads one (Go's `strconv.ParseBool`): the one
/// reading for the routes (`crate::core::input::lenient_bool`) and for the
/// constraints, so that the two cannot disagree.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
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
    fn values_compare_by_the_fields_type_not_their_spelling() {
        // The request's values come parsed: a boolean field is a bool.
        for policy in [json!(true), json!("true"), json!("1"), json!("t")] {
            let p = params(json!({}), json!({"exportable": [policy]}), json!([]));
            assert!(!p.allows(&fields(json!({"exportable": true}))));
            assert!(p.allows(&fields(json!({"exportable": false}))));
        }
        let p = params(json!({}), json!({"exportable": ["yes"]}), json!([]));
        assert!(p.allows(&fields(json!({"exportable": true}))), "not a bool");
        let p = params(json!({"key_version": [1, "2"]}), json!({}), json!([]));
        assert!(p.allows(&fields(json!({"key_version": 2}))));
        assert!(!p.allows(&fields(json!({"key_version": 3}))));
        let p = params(json!({"salt_length": [32]}), json!({}), json!([]));
        assert!(p.allows(&fields(json!({"salt_length": "32"}))));
        assert!(!p.allows(&fields(json!({"salt_length": "auto"}))));
    }

    #[test]
    fn each_batch_item_is_checked_with_the_request_around_it() {
        let p = params(
            json!({"batch_input": [], "plaintext": [], "context": ["YQ=="]}),
            json!({"key_version": [1]}),
            json!(["context"]),
        );
        let ok =
            json!({"context": "YQ==", "batch_input": [{"plaintext": "x"}, {"plaintext": "y"}]});
        assert!(p.allows(&fields(ok)));
        for bad in [
            json!({"batch_input": [{"plaintext": "x", "context": "YQ=="}, {"plaintext": "y"}]}),
            json!({"context": "YQ==", "batch_input": [{"plaintext": "x", "context": "Yg=="}]}),
            json!({"context": "YQ==", "batch_input": [{"plaintext": "x", "key_version": 1}]}),
            json!({"context": "YQ==", "batch_input": [{"plaintext": "x", "nonce": "n"}]}),
            json!({"context": "YQ==", "batch_input": ["x"]}),
            json!({"context": "YQ==", "batch_input": "x"}),
        ] {
            assert!(!p.allows(&fields(bad.clone())), "{bad}");
        }
    }

    #[test]
    fn booleans_read_as_go_reads_them() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for no in ["", "yes", "tRUE", " true", "2"] {
            assert_eq!(parse_bool(no), None, "{no}");
        }
    }

    #[test]
    fn malformed_constraints_are_refused() {
        let mut p = Params::default();
        assert!(p.set("allowed_parameters", &json!(["type"]), "p").is_err());
        assert!(p.set("denied_parameters", &json!({"a": "b"}), "p").is_err());
        assert!(p.set("required_parameters", &json!("a"), "p").is_err());
    }
}
