//! ACL policies in Vault's HCL path form, and the decision a set of them
//! makes for one request.
//!
//! ```hcl
//! path "transit/encrypt/app-*" { capabilities = ["update"] }
//! path "transit/keys/+/config" { capabilities = ["update", "read"] }
//! ```
//!
//! Parsing reads HCL 1 as Vault does ([`super::hcl1`]), or uses
//! `serde_json` for Vault's JSON form (`{"path": {"PATTERN":
//! {"capabilities": [..]}}}`), then accepts what Vault's policies hold:
//! `path` blocks with `capabilities` (or the older `policy = "write"`),
//! the parameter constraints ([`super::params`]) and `comment`. A policy
//! never silently means less than it says: a rule that Vault would answer
//! only wrapped (`min_wrapping_ttl`), after MFA or a control group's
//! approval grants nothing here (none of them exist here), and any other
//! attribute is refused.
//!
//! Matching follows Vault: a pattern is an exact path, may end in `*`
//! (prefix glob), and may have `+` segments (any one segment). Of all the
//! patterns that match a path (across every policy of the token), only the
//! most specific one applies, ranked as Vault ranks them (see
//! [`priority`]); rules with that same pattern in several policies are
//! merged, and `deny` among them wins over everything. No matching rule
//! means no access (deny by default).
//!
//! `sudo` is accepted and kept, as Vault writes it; no route here is
//! root-protected, so it grants nothing beyond the other capabilities.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::hcl1::{self, Node};
use super::params::{self, Params};
use crate::error::Error;

/// What a request asks to do, as Vault maps HTTP methods to capabilities
/// (the request classifier decides it: `crate::services::classify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// GET.
    Read,
    /// LIST, or GET with `?list=true`.
    List,
    /// POST and PUT: `create` for a new transit key, `update` otherwise.
    Write,
    /// DELETE.
    Delete,
}

/// Longest policy text accepted.
pub const MAX_POLICY: usize = 64 * 1024;

/// One capability, as a bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    Create = 1,
    Read = 2,
    Update = 4,
    Delete = 8,
    List = 16,
    Sudo = 32,
    Deny = 64,
    /// Vault's `PATCH`: accepted, as Vault's policies use it; no route
    /// here takes `PATCH`, so it grants nothing yet.
    Patch = 128,
}

impl Cap {
    fn parse(s: &str) -> Option<Cap> {
        Some(match s {
            "create" => Cap::Create,
            "read" => Cap::Read,
            "update" => Cap::Update,
            "delete" => Cap::Delete,
            "list" => Cap::List,
            "sudo" => Cap::Sudo,
            "deny" => Cap::Deny,
            "patch" => Cap::Patch,
            _ => return None,
        })
    }
}

/// The names of the capabilities in `bits`, in order (`deny` if none), as
/// `sys/capabilities-self` answers them.
pub fn cap_names(bits: u8) -> Vec<&'static str> {
    let names: Vec<&'static str> = [
        ("create", Cap::Create),
        ("delete", Cap::Delete),
        ("list", Cap::List),
        ("patch", Cap::Patch),
        ("read", Cap::Read),
        ("sudo", Cap::Sudo),
        ("update", Cap::Update),
    ]
    .into_iter()
    .filter(|(_, c)| bits & *c as u8 != 0)
    .map(|(n, _)| n)
    .collect();
    if names.is_empty() || bits & Cap::Deny as u8 != 0 {
        vec!["deny"]
    } else {
        names
    }
}

/// One `path` block.
#[derive(Debug, Clone)]
pub struct Rule {
    pub pattern: String,
    /// [`Cap`] bits.
    pub caps: u8,
    /// Its parameter constraints (none: any request body).
    pub params: Params,
}

/// A parsed policy: its rules in the order written.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

/// Parses a policy's text; the error says what is wrong and where.
pub fn parse(text: &str) -> Result<Policy, Error> {
    if text.len() > MAX_POLICY {
        return Err(Error::invalid(format!(
            "policy is longer than {MAX_POLICY} bytes"
        )));
    }
    if text.trim().is_empty() {
        return Err(Error::invalid("policy is empty"));
    }
    let blocks = if text.trim_start().starts_with('{') {
        json_blocks(text)?
    } else {
        hcl_blocks(text)?
    };
    let mut rules: Vec<Rule> = Vec::new();
    for (pattern, attrs) in blocks {
        check_pattern(&pattern)?;
        let mut caps: Option<u8> = None;
        let mut params = Params::default();
        // Vault's older form, `policy = "read"`: added to the capabilities.
        let mut old_form = 0u8;
        for (key, value) in attrs {
            if params::ATTRIBUTES.contains(&key.as_str()) {
                params.set(&key, &value, &pattern)?;
                continue;
            }
            match key.as_str() {
                "capabilities" => {}
                "policy" => {
                    old_form |= policy_form(&pattern, &value)?;
                    continue;
                }
                // Said for people; and no response here is ever wrapped,
                // so a longest wrapping TTL never applies.
                "comment" | "max_wrapping_ttl" => continue,
                // What Vault would let through only wrapped, after MFA or
                // a control group's approval: minikms has none of them, so
                // the rule grants nothing (it loads, and denies).
                "min_wrapping_ttl" | "mfa_methods" | "control_group" => {
                    old_form |= Cap::Deny as u8;
                    continue;
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "path {pattern:?}: unsupported attribute {key:?} (supported: capabilities, \
                         policy, allowed_parameters, denied_parameters, required_parameters, \
                         comment, and Vault's wrapping, MFA and control-group ones, which deny)"
                    )))
                }
            }
            if caps.is_some() {
                return Err(Error::invalid(format!(
                    "path {pattern:?}: capabilities given twice"
                )));
            }
            let items = value
                .as_array()
                .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "path {pattern:?}: capabilities must be a list of strings"
                    ))
                })?;
            let mut bits = 0u8;
            for s in items {
                let cap = Cap::parse(s).ok_or_else(|| {
                    Error::invalid(format!(
                        "path {pattern:?}: unknown capability {s:?} (known: create, read, \
                         update, patch, delete, list, sudo, deny)"
                    ))
                })?;
                bits |= cap as u8;
            }
            caps = Some(bits);
        }
        let caps = match (caps, old_form) {
            (None, 0) => {
                return Err(Error::invalid(format!(
                    "path {pattern:?}: no capabilities attribute"
                )))
            }
            (caps, old_form) => caps.unwrap_or(0) | old_form,
        };
        // The same pattern twice in one policy: Vault merges them.
        match rules.iter_mut().find(|r| r.pattern == pattern) {
            Some(r) => {
                r.caps |= caps;
                r.params.merge(&params);
            }
            None => rules.push(Rule {
                pattern,
                caps,
                params,
            }),
        }
    }
    if rules.is_empty() {
        return Err(Error::invalid("policy has no path blocks"));
    }
    Ok(Policy { rules })
}

/// The capabilities of Vault's older `policy = "..."` form, as Vault maps
/// them.
fn policy_form(pattern: &str, value: &Value) -> Result<u8, Error> {
    let read = Cap::Read as u8 | Cap::List as u8;
    let write = read | Cap::Create as u8 | Cap::Update as u8 | Cap::Delete as u8;
    Ok(match value.as_str() {
        Some("deny") => Cap::Deny as u8,
        Some("read") => read,
        Some("write") => write,
        Some("sudo") => write | Cap::Sudo as u8,
        _ => {
            return Err(Error::invalid(format!(
                "path {pattern:?}: policy must be \"deny\", \"read\", \"write\" or \"sudo\""
            )))
        }
    })
}

/// A path block: its pattern and its attributes as JSON values.
type Block = (String, Vec<(String, Value)>);

/// The path blocks of a policy in HCL 1 ([`super::hcl1`], the syntax
/// Vault reads), and the top-level `name` Vault also takes (ignored: a
/// policy's name is the one it is written under).
fn hcl_blocks(text: &str) -> Result<Vec<Block>, Error> {
    let mut blocks = Vec::new();
    for item in hcl1::parse(text)? {
        let (first, rest) = match item.keys.split_first() {
            Some((first, rest)) => (first.as_str(), rest),
            None => ("", &[][..]),
        };
        match (first, rest, &item.value) {
            ("path", [pattern], Node::Object(attrs)) => {
                let mut list = Vec::new();
                for attr in attrs {
                    match attr.keys.as_slice() {
                        [key] => list.push((key.clone(), attr.value.to_json())),
                        _ => {
                            return Err(Error::invalid(format!(
                                "path {pattern:?}: unsupported block {:?}",
                                attr.keys.join(" ")
                            )))
                        }
                    }
                }
                blocks.push((pattern.clone(), list));
            }
            ("path", _, _) => {
                return Err(Error::invalid(
                    "a path block needs exactly one label: path \"PATTERN\" { .. }",
                ))
            }
            ("name", [], Node::Str(_)) => {}
            (key, [], _) => {
                return Err(Error::invalid(format!(
                    "unsupported top-level attribute {key:?}: a policy holds only path blocks"
                )))
            }
            (key, _, _) => {
                return Err(Error::invalid(format!(
                    "unsupported block {key:?}: a policy holds only path blocks"
                )))
            }
        }
    }
    Ok(blocks)
}

/// The path blocks of a policy in Vault's JSON form:
/// `{"path": {"PATTERN": {"capabilities": [..]}, ..}}` (or `"path"` a list
/// of such objects).
fn json_blocks(text: &str) -> Result<Vec<Block>, Error> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        Error::invalid(format!(
            "policy is not valid JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let bad =
        || Error::invalid("a JSON policy is {\"path\": {\"PATTERN\": {\"capabilities\": [..]}}}");
    let top = doc.as_object().ok_or_else(bad)?;
    if let Some(other) = top.keys().find(|k| *k != "path") {
        return Err(Error::invalid(format!(
            "unsupported top-level key {other:?}: a policy holds only path blocks"
        )));
    }
    let paths: Vec<&Map<String, Value>> = match top.get("path") {
        None => Vec::new(),
        Some(Value::Object(m)) => vec![m],
        Some(Value::Array(list)) => list
            .iter()
            .map(Value::as_object)
            .collect::<Option<_>>()
            .ok_or_else(bad)?,
        Some(_) => return Err(bad()),
    };
    let mut blocks = Vec::new();
    for paths in paths {
        for (pattern, attrs) in paths {
            let attrs = attrs.as_object().ok_or_else(bad)?;
            blocks.push((
                pattern.clone(),
                attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ));
        }
    }
    Ok(blocks)
}

fn check_pattern(p: &str) -> Result<(), Error> {
    if p.is_empty() || p.len() > 512 {
        return Err(Error::invalid(
            "a path pattern must have 1 to 512 characters",
        ));
    }
    if p.starts_with('/') {
        return Err(Error::invalid(format!(
            "path {p:?}: patterns have no leading slash and no v1/ (e.g. \"transit/keys/*\")"
        )));
    }
    if let Some(i) = p.find('*') {
        if i != p.len() - 1 {
            return Err(Error::invalid(format!(
                "path {p:?}: '*' is allowed only at the end"
            )));
        }
    }
    for seg in p.trim_end_matches('*').split('/') {
        if seg.contains('+') && seg != "+" {
            return Err(Error::invalid(format!(
                "path {p:?}: '+' must be a whole path segment (e.g. \"transit/keys/+/config\")"
            )));
        }
    }
    if p.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "path {p:?}: control characters are not allowed"
        )));
    }
    Ok(())
}

/// Whether `pattern` matches `path` (both without a leading slash).
pub fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, glob) = match pattern.strip_suffix('*') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    if !pattern.contains('+') {
        return if glob {
            path.starts_with(pattern)
        } else {
            path == pattern
        };
    }
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    if segs.len() < pat.len() || (!glob && segs.len() != pat.len()) {
        return false;
    }
    let last = pat.len() - 1;
    for (i, (p, s)) in pat.iter().zip(segs.iter()).enumerate() {
        if *p == "+" {
            if s.is_empty() {
                return false;
            }
            continue;
        }
        let ok = if glob && i == last {
            s.starts_with(p)
        } else {
            p == s
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Vault's ranking of two patterns that both match a path: `Greater` when
/// `a` is the more specific. In order: a later first wildcard (`+` or `*`)
/// wins; no trailing `*` wins over one; fewer `+` segments win; longer
/// wins; then the lexicographically greater.
pub fn priority(a: &str, b: &str) -> Ordering {
    let first_wild = |p: &str| p.find(['+', '*']).unwrap_or(usize::MAX);
    let pluses = |p: &str| p.split('/').filter(|s| *s == "+").count();
    first_wild(a)
        .cmp(&first_wild(b))
        .then_with(|| b.ends_with('*').cmp(&a.ends_with('*')))
        .then_with(|| pluses(b).cmp(&pluses(a)))
        .then_with(|| a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

/// The capabilities `policies` give on `path`: those of the most specific
/// matching pattern (merged over the policies that have it), 0 if `deny`
/// is among them or nothing matches.
#[cfg(test)]
pub fn capabilities<'a>(policies: impl IntoIterator<Item = &'a Policy>, path: &str) -> u8 {
    permissions(policies, path).0
}

/// [`capabilities`], and the parameter constraints of that same most
/// specific pattern (merged as its capabilities are).
pub fn permissions<'a>(policies: impl IntoIterator<Item = &'a Policy>, path: &str) -> (u8, Params) {
    let mut best: Option<&str> = None;
    let mut merged: BTreeMap<&str, (u8, Params)> = BTreeMap::new();
    for policy in policies {
        for rule in &policy.rules {
            if matches(&rule.pattern, path) {
                let entry = merged.entry(rule.pattern.as_str()).or_default();
                entry.0 |= rule.caps;
                entry.1.merge(&rule.params);
            }
        }
    }
    for pattern in merged.keys() {
        match best {
            Some(b) if priority(pattern, b) != Ordering::Greater => {}
            _ => best = Some(pattern),
        }
    }
    match best.and_then(|b| merged.remove(b)) {
        Some((caps, params)) if caps & Cap::Deny as u8 == 0 => (caps, params),
        _ => (0, Params::default()),
    }
}

/// Vault's built-in `default` policy, the part that applies here: a token
/// may look itself up and revoke itself.
pub const DEFAULT_POLICY: &str = r#"# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to find the mount of a path
path "sys/internal/ui/mounts/*" {
    capabilities = ["read"]
}

# Allow a token to read a path's help (`?help=1`), as Vault allows any
path "sys/internal/help/*" {
    capabilities = ["read"]
}
"#;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_in_vault() {
        assert!(matches("transit/encrypt/app-*", "transit/encrypt/app-1"));
        assert!(!matches("transit/encrypt/app-*", "transit/encrypt/db-1"));
        assert!(matches("transit/keys/*", "transit/keys/"));
        assert!(!matches("transit/keys/*", "transit/keys"));
        assert!(matches("transit/keys/+/config", "transit/keys/k/config"));
        assert!(!matches("transit/keys/+/config", "transit/keys/k/rotate"));
        assert!(!matches("transit/keys/+/config", "transit/keys/a/b/config"));
        assert!(matches("transit/+/app*", "transit/encrypt/app1/x"));
        assert!(matches("transit/hash", "transit/hash"));
        assert!(!matches("transit/hash", "transit/hash/sha2-512"));
    }

    #[test]
    fn the_most_specific_rule_applies_and_deny_wins_within_it() {
        let p = parse(
            r#"
            path "transit/*" { capabilities = ["read"] }
            path "transit/keys/secret-*" { capabilities = ["deny"] }
            path "transit/keys/+" { capabilities = ["update"] }
            "#,
        )
        .unwrap();
        let q = parse(r#"path "transit/keys/+" { capabilities = ["deny"] }"#).unwrap();
        assert_eq!(capabilities([&p], "transit/keys/secret-1"), 0);
        assert_eq!(capabilities([&p], "transit/keys/k"), Cap::Update as u8);
        assert_eq!(capabilities([&p], "transit/hash"), Cap::Read as u8);
        assert_eq!(capabilities([&p, &q], "transit/keys/k"), 0);
        assert_eq!(capabilities([&p], "sys/policy/x"), 0);
    }

    #[test]
    fn json_policies_and_constraints_parse() {
        let hcl = parse(
            "path \"transit/keys/*\" {\n  capabilities = [\"create\"]\n  \
             allowed_parameters = { \"type\" = [\"ed25519\"], exportable = [] }\n  \
             required_parameters = [\"type\"]\n}",
        )
        .unwrap();
        let json = parse(
            r#"{"path": {"transit/keys/*": {"capabilities": ["create"],
                "allowed_parameters": {"type": ["ed25519"], "exportable": []},
                "required_parameters": ["type"]}}}"#,
        )
        .unwrap();
        for p in [&hcl, &json] {
            let (caps, params) = permissions([p], "transit/keys/k");
            assert_eq!(caps, Cap::Create as u8);
            let ok = serde_json::json!({"type": "ed25519"});
            let no = serde_json::json!({"type": "hmac"});
            assert!(params.allows(ok.as_object().unwrap()));
            assert!(!params.allows(no.as_object().unwrap()));
        }
        for (text, want) in [
            (
                r#"{"path": {"a": {"capabilities": "read"}}}"#,
                "list of strings",
            ),
            (r#"{"paths": {}}"#, "top-level key"),
            (r#"{"path": "#, "not valid JSON"),
            ("path \"a\" {\n capabilities = [var.x]\n}", "no variables"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn vault_s_hcl1_forms_mean_what_vault_reads_in_them() {
        let p = parse(
            r#"name = "ignored"
            path "a/*" { capabilities = ["read"] comment = "x", allowed_parameters = { "k" = [] } }
            path "b/*" { policy = "write" }
            path "c/*" { policy = "sudo", capabilities = ["deny"] }
            path "d/*" { capabilities = ["read", "patch"] min_wrapping_ttl = "1s" }
            path "e/*" { capabilities = ["read"] max_wrapping_ttl = "90s" }"#,
        )
        .unwrap();
        let read_list = Cap::Read as u8 | Cap::List as u8;
        let write = read_list | Cap::Create as u8 | Cap::Update as u8 | Cap::Delete as u8;
        assert_eq!(capabilities([&p], "a/x"), Cap::Read as u8);
        assert_eq!(capabilities([&p], "b/x"), write);
        assert_eq!(capabilities([&p], "c/x"), 0);
        assert_eq!(capabilities([&p], "d/x"), 0, "min_wrapping_ttl must deny");
        assert_eq!(capabilities([&p], "e/x"), Cap::Read as u8);
        let (_, params) = permissions([&p], "a/x");
        let body = serde_json::json!({"other": 1});
        assert!(!params.allows(body.as_object().unwrap()));
        assert_eq!(cap_names(Cap::Patch as u8), vec!["patch"]);
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        for (text, want) in [
            ("", "empty"),
            ("path \"a\" {", "not valid HCL"),
            (
                "path \"a\" { capabilities = [\"fly\"] }",
                "unknown capability \"fly\"",
            ),
            ("path \"a\" { policy = \"fly\" }", "policy must be"),
            (
                "path \"a\" { max_lease_ttl = \"1h\" }",
                "unsupported attribute",
            ),
            ("key \"a\" { capabilities = [] }", "unsupported block"),
            ("path \"a*b\" { capabilities = [] }", "only at the end"),
            (
                "path \"a/x+/b\" { capabilities = [] }",
                "whole path segment",
            ),
            ("path \"a\" { }", "no capabilities"),
            ("path \"a\" { capabilities = \"read\" }", "list of strings"),
            ("x = 1", "top-level attribute"),
            (
                "path \"a\" {\n capabilities = [\"read\"]\n allowed_parameters = [\"x\"]\n}",
                "allowed_parameters",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        parse(DEFAULT_POLICY).unwrap();
    }
}
