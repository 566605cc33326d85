//! ACL policies by name: `sys/policy` and `sys/policies/acl` (hvac's
//! `client.sys.*_policy` and `*_acl_policy`), stored sealed in the store's
//! `policies` table. `root` (everything) is built in and cannot be written
//! or deleted; `default` is built in ([`acl::DEFAULT_POLICY`]), may be
//! rewritten, and cannot be deleted. A policy that does not parse is
//! refused with 400 and the reason, and nothing is stored.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::auth::Authed;
use super::tokens::policy_name;
use super::{
    acl, blocking, envelope, envelope_with_fields, json_body, no_content, store_fail, Fail, Transit,
};
use crate::api::AppState;
use crate::store::Table;
use zeroize::Zeroizing;

/// Most stored policies.
pub const MAX_STORED: usize = 1000;

/// A policy as kept in memory: its text (as written) and its rules.
pub struct NamedPolicy {
    pub text: String,
    pub parsed: acl::Policy,
}

impl NamedPolicy {
    pub fn parse(text: String) -> Result<Self, String> {
        let parsed = acl::parse(&text)?;
        Ok(Self { text, parsed })
    }
}

impl Transit {
    fn policy_names(&self) -> Vec<String> {
        let inner = self.lock();
        let mut names: Vec<String> = inner.policies.keys().cloned().collect();
        names.push("root".into());
        names.sort();
        names
    }

    fn policy_text(&self, name: &str) -> Option<String> {
        self.lock().policies.get(name).map(|p| p.text.clone())
    }

    fn put_policy(&self, name: String, policy: NamedPolicy) -> Result<(), Fail> {
        let mut inner = self.lock();
        if !inner.policies.contains_key(&name) && inner.policies.len() >= MAX_STORED {
            return Err(Fail::bad(format!("too many policies (limit {MAX_STORED})")));
        }
        // Under the lock: policy writes are rare, and a request must never
        // see a policy that is not on disk.
        self.store
            .write(vec![(
                Table::Policies,
                name.clone(),
                Some(Zeroizing::new(policy.text.as_bytes().to_vec())),
            )])
            .map_err(store_fail)?;
        inner.policies.insert(name, policy);
        Ok(())
    }

    fn delete_policy(&self, name: &str) -> Result<(), Fail> {
        let mut inner = self.lock();
        if inner.policies.contains_key(name) {
            self.store
                .write(vec![(Table::Policies, name.to_string(), None)])
                .map_err(store_fail)?;
            inner.policies.remove(name);
        }
        Ok(())
    }
}

/// `GET /v1/sys/policy` (Vault's old list) or `LIST`/`?list=true` on either
/// prefix: every policy name, `root` and `default` included.
pub async fn list(
    State(state): State<AppState>,
    _: Authed,
    method: Method,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let is_list = method.as_str() == "LIST"
        || (method == Method::GET && query.get("list").is_some_and(|v| v == "true"));
    if !is_list && method != Method::GET {
        return Err(Fail::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET, LIST or GET with ?list=true",
        ));
    }
    let names = state.transit.policy_names();
    // Vault's `GET sys/policy` also has the names at the top level.
    Ok(envelope_with_fields(
        json!({ "keys": names, "policies": names }),
        &[("keys", json!(names)), ("policies", json!(names))],
    ))
}

/// `GET /v1/sys/policy/:name`, `GET /v1/sys/policies/acl/:name`.
pub async fn read(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
) -> Result<Response, Fail> {
    let name = policy_name(&name)?;
    let text = if name == "root" {
        Some(String::new())
    } else {
        state.transit.policy_text(&name)
    };
    let text = text.ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "no such policy"))?;
    Ok(envelope(
        json!({ "name": name, "rules": text, "policy": text }),
    ))
}

#[derive(Default, Deserialize)]
pub struct WriteRequest {
    policy: Option<String>,
    /// Vault's older name for `policy`.
    rules: Option<String>,
}

/// `PUT`/`POST /v1/sys/policy/:name` and `/v1/sys/policies/acl/:name`
/// `{"policy": "<HCL>"}`: 204.
pub async fn write(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, Fail> {
    let name = policy_name(&name)?;
    let req: WriteRequest = json_body(body).await?;
    if name == "root" {
        return Err(Fail::bad("cannot update root policy"));
    }
    let text = req
        .policy
        .or(req.rules)
        .ok_or_else(|| Fail::bad("missing policy"))?;
    let policy =
        NamedPolicy::parse(text).map_err(|e| Fail::bad(format!("failed to parse policy: {e}")))?;
    blocking(&state.transit, move |t| t.put_policy(name, policy)).await?;
    Ok(no_content())
}

/// `DELETE /v1/sys/policy/:name`, `/v1/sys/policies/acl/:name`: 204 (also
/// when there was no such policy, as Vault).
pub async fn delete(
    State(state): State<AppState>,
    _: Authed,
    Path(name): Path<String>,
) -> Result<Response, Fail> {
    let name = policy_name(&name)?;
    if name == "root" || name == "default" {
        return Err(Fail::bad(format!("cannot delete {name} policy")));
    }
    blocking(&state.transit, move |t| t.delete_policy(&name)).await?;
    Ok(no_content())
}
