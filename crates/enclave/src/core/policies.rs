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

/// A policy's text, as Vault answers it (under both its names).
#[derive(Serialize)]
pub struct PolicyText {
    pub name: String,
    pub rules: String,
    pub policy: String,
}

pub fn read(state: &State, name: &str) -> Result<PolicyText, Error> {
    let name = policy_name(name)?;
    let text = if name == "root" {
        Some(String::new())
    } else {
        state.policy_text(&name)
    };
    let text = text.ok_or_else(|| Error::not_found("no such policy"))?;
    Ok(PolicyText {
        name,
        rules: text.clone(),
        policy: text,
    })
}

#[derive(Default, Deserialize)]
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
