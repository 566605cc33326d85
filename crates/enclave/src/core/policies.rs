//! ACL policies by name (`sys/policy`, `sys/policies/acl`). `root` is
//! everything and cannot be written or deleted; `default` may be rewritten
//! but not deleted. A policy that does not parse is refused with the
//! reason, and nothing is stored.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::state::policies::NamedPolicy;
use crate::state::State;

/// Policy names: lower-cased (as Vault), 1 to 128 of `[a-z0-9_.-]`.
pub fn policy_name(name: &str) -> Result<String, Error> {
    let name = name.trim().to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(Error::invalid(
            "invalid policy name: 1 to 128 characters of a-z 0-9 _ . -",
        ))
    }
}

/// Every policy name, `root` and `default` included.
pub fn list(state: &State) -> Vec<String> {
    state.policy_names()
}

/// A policy as Vault's `sys/policies/acl/NAME` answers it (`sys/policy/NAME`
/// names `policy` `rules`). `version` is 1 for every written policy and 0
/// for `root`: the store keeps no history, and minikms has no
/// check-and-set on policies (`cas_required` is always false);
/// `modified` is when this server saw the policy written or read it from
/// the store; `root` has none.
#[derive(Serialize)]
pub struct PolicyInfo {
    pub name: String,
    pub policy: String,
    pub version: u64,
    pub cas_required: bool,
    pub allow_slashes_in_identity_templates: bool,
    pub allow_wildcards_in_identity_templates: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

pub fn read(state: &State, name: &str) -> Result<PolicyInfo, Error> {
    let name = policy_name(name)?;
    let (text, seen) = if name == "root" {
        (String::new(), None)
    } else {
        let (text, seen) = state
            .policy_text_seen(&name)
            .ok_or_else(|| Error::not_found("no such policy"))?;
        (text, Some(seen))
    };
    Ok(PolicyInfo {
        version: u64::from(seen.is_some()),
        modified: seen.map(crate::clock::rfc3339),
        name,
        policy: text,
        cas_required: false,
        allow_slashes_in_identity_templates: false,
        allow_wildcards_in_identity_templates: false,
    })
}

#[derive(Default, Deserialize, Serialize)]
pub struct WriteRequest {
    policy: Option<String>,
    /// Vault's older name for `policy`.
    rules: Option<String>,
}

/// Checks the name; the rest waits for the body.
pub fn writable_name(name: &str) -> Result<String, Error> {
    let name = policy_name(name)?;
    if name == "root" {
        return Err(Error::invalid("cannot update root policy"));
    }
    Ok(name)
}

/// Stores policy `name` (a name from [`writable_name`]).
pub fn write(state: &State, name: String, req: WriteRequest) -> Result<(), Error> {
    let text = req
        .policy
        .or(req.rules)
        .ok_or_else(|| Error::invalid("missing policy"))?;
    let policy = NamedPolicy::parse(text)
        .map_err(|e| Error::invalid(format!("failed to parse policy: {e}")))?;
    state.put_policy(name, policy)
}

/// Deletes policy `name` (no error if there is none, as Vault).
pub fn delete(state: &State, name: &str) -> Result<(), Error> {
    let name = policy_name(name)?;
    if name == "root" || name == "default" {
        return Err(Error::invalid(format!("cannot delete {name} policy")));
    }
    state.delete_policy(&name)
}
