//! Tokens other than root: `auth/token/create`, `lookup`, `lookup-self`,
//! `lookup-accessor`, `revoke`, `revoke-self`, `revoke-accessor`, in
//! Vault's shapes.
//!
//! A token is `hvs.` and base64url of 32 random bytes, shown once at
//! creation. Only its SHA-256 is kept, sealed, in the store's `tokens` table
//! under its accessor ([`auth::accessor`] of that hash), with its policies,
//! expiry and remaining uses.
//!
//! - TTL: default and maximum [`MAX_TTL`] (Vault's default 768h); a child
//!   never outlives its creator. Expired tokens are refused and purged when
//!   next presented. Time comes from the host's clock: an enclave has no
//!   trusted time, so a host that moves the clock back extends token
//!   lifetimes (it cannot make or read tokens).
//! - `num_uses`: each request the token's policies allow uses one. The
//!   decrement is written (sealed, fsynced) before the request goes on, so
//!   a crash cannot give a use back; the last use revokes the token, and
//!   that request still runs. Refused requests use nothing.
//! - Revoking a token revokes the tokens it made, and theirs (as Vault).
//!   The root token cannot be revoked: nothing could make a new one.
//! - A token may give a child only policies it has itself (plus `default`);
//!   root may give any. Without `policies` the child gets its creator's.
//!   Making tokens needs `update` on `auth/token/create`; a token with a use
//!   limit makes none (as Vault: children would escape the limit).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::{self, Authed, Identity, Op};
use super::{
    acl, blocking, envelope, hex_decode, hex_encode, json_body, lenient_bool, lenient_u64,
    no_content, store_fail, Fail, Inner, Transit,
};
use crate::api::AppState;
use crate::store::group::{Change, GroupCommit};
use crate::store::Table;
use zeroize::Zeroizing;

/// Longest (and default) token lifetime: 768h, Vault's default.
pub const MAX_TTL: u64 = 768 * 3600;
/// Most live tokens at once (every token is in the store's sealed index).
pub const MAX_TOKENS: usize = 10_000;
const MAX_POLICIES: usize = 64;
const MAX_META: usize = 64;
const MAX_TEXT: usize = 512;

/// A token as stored (sealed), by accessor. Holds the token's hash only.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub token_sha256: String,
    pub policies: Vec<String>,
    pub display_name: String,
    pub meta: BTreeMap<String, String>,
    /// Unix seconds.
    pub creation_time: u64,
    pub creation_ttl: u64,
    /// Unix seconds; `None`: never (only for a parent-less record, which
    /// [`Transit::create_token`] does not make).
    pub expire_time: Option<u64>,
    /// Uses left; 0 is unlimited.
    pub num_uses: u64,
    /// The creator's accessor.
    pub parent: String,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Inner {
    /// The live record for `accessor`, purging it if expired.
    fn live_token(&mut self, store: &GroupCommit, accessor: &str, now: u64) -> Option<TokenRecord> {
        let rec = self.tokens.get(accessor)?.clone();
        if rec.expire_time.is_some_and(|t| t <= now) {
            if let Err(e) = self.revoke_tree(store, accessor) {
                tracing::warn!("purging an expired token failed: {}", e.message());
            }
            return None;
        }
        Some(rec)
    }

    /// Removes `accessor` and every token made from it, in one durable write.
    fn revoke_tree(&mut self, store: &GroupCommit, accessor: &str) -> Result<(), Fail> {
        let mut gone: BTreeSet<String> = BTreeSet::from([accessor.to_string()]);
        loop {
            let more: Vec<String> = self
                .tokens
                .iter()
                .filter(|(a, r)| gone.contains(&r.parent) && !gone.contains(*a))
                .map(|(a, _)| a.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            gone.extend(more);
        }
        let changes: Vec<Change> = gone
            .iter()
            .filter(|a| self.tokens.contains_key(*a))
            .map(|a| (Table::Tokens, a.clone(), None))
            .collect();
        if !changes.is_empty() {
            store.write(changes).map_err(store_fail)?;
        }
        for a in &gone {
            self.tokens.remove(a);
        }
        Ok(())
    }

    fn write_token(
        &mut self,
        store: &GroupCommit,
        accessor: &str,
        rec: &TokenRecord,
    ) -> Result<(), Fail> {
        let bytes = serde_json::to_vec(rec).map_err(|_| Fail::internal("token serialisation"))?;
        store
            .write(vec![(
                Table::Tokens,
                accessor.to_string(),
                Some(Zeroizing::new(bytes)),
            )])
            .map_err(store_fail)?;
        self.tokens.insert(accessor.to_string(), rec.clone());
        Ok(())
    }

    fn is_root(&self, hash: &[u8; 32]) -> bool {
        self.root_hash.is_some_and(|root| {
            aws_lc_rs::constant_time::verify_slices_are_equal(hash, &root).is_ok()
        })
    }

    /// Whether live token `rec`, presented as `hash`, may do `op` on `path`.
    fn allows(&self, rec: &TokenRecord, hash: &[u8; 32], path: &str, op: Op) -> Result<(), Fail> {
        let mut stored = [0u8; 32];
        hex_decode(&rec.token_sha256, &mut stored).ok_or_else(Fail::denied)?;
        aws_lc_rs::constant_time::verify_slices_are_equal(hash, &stored)
            .map_err(|_| Fail::denied())?;
        let needed = match op {
            Op::Read => acl::Cap::Read,
            Op::List => acl::Cap::List,
            Op::Delete => acl::Cap::Delete,
            Op::Write => match new_key_name(path) {
                Some(name) if !self.keys.contains_key(name) => acl::Cap::Create,
                _ => acl::Cap::Update,
            },
        };
        match self.caps(&rec.policies, path) {
            Some(caps) if caps & needed as u8 == 0 => Err(Fail::denied()),
            _ => Ok(()),
        }
    }

    /// Capability bits `policies` give on `path`; `None` means root (all).
    fn caps(&self, policies: &[String], path: &str) -> Option<u8> {
        if policies.iter().any(|p| p == "root") {
            return None;
        }
        let parsed = policies.iter().filter_map(|p| self.policies.get(p));
        Some(acl::capabilities(parsed.map(|p| &p.parsed), path))
    }
}

impl Transit {
    /// The decision for one request: the token (`credential`) must be root
    /// or a live token whose policies grant `op` on `path`. An allowed
    /// request uses one of a limited token's uses, durably, before it goes
    /// on.
    pub(crate) fn authorize(
        &self,
        credential: &auth::Credential,
        path: &str,
        op: Op,
    ) -> Result<Identity, Fail> {
        let mut inner = self.lock();
        let (hash, accessor) = (&credential.hash, credential.accessor.clone());
        if inner.is_root(hash) {
            return Ok(Identity::root(accessor));
        }
        let mut rec = inner
            .live_token(&self.store, &accessor, now())
            .ok_or_else(Fail::denied)?;
        inner.allows(&rec, hash, path, op)?;
        let limited = rec.num_uses > 0;
        if limited {
            rec.num_uses -= 1;
            if rec.num_uses == 0 {
                inner.revoke_tree(&self.store, &accessor)?;
            } else {
                inner.write_token(&self.store, &accessor, &rec)?;
            }
        }
        Ok(Identity {
            accessor,
            record: Some(rec),
            limited,
        })
    }

    /// [`Self::authorize`] without waiting or writing, for the I/O thread:
    /// `None` when the decision needs the store (a limited token's use, an
    /// expired token to purge) or the lock stays held (a token writer holds
    /// it across an fsync); the caller then runs `authorize` on a blocking
    /// thread. Same decision, same code.
    pub(crate) fn authorize_in_memory(
        &self,
        credential: &auth::Credential,
        path: &str,
        op: Op,
    ) -> Option<Result<Identity, Fail>> {
        let inner = self.try_lock_briefly()?;
        let (hash, accessor) = (&credential.hash, credential.accessor.clone());
        if inner.is_root(hash) {
            return Some(Ok(Identity::root(accessor)));
        }
        let Some(rec) = inner.tokens.get(&*accessor) else {
            return Some(Err(Fail::denied()));
        };
        if rec.num_uses > 0 || rec.expire_time.is_some_and(|t| t <= now()) {
            return None;
        }
        Some(inner.allows(rec, hash, path, op).map(|()| Identity {
            accessor,
            record: Some(rec.clone()),
            limited: false,
        }))
    }

    /// Makes and stores a child of `creator`; returns the token and its record.
    fn create_token(
        &self,
        creator: &Identity,
        req: CreateRequest,
    ) -> Result<(zeroize::Zeroizing<String>, String, TokenRecord), Fail> {
        if creator.limited {
            // As Vault: a use limit would be escaped through children.
            return Err(Fail::bad(
                "restricted use token cannot generate child tokens",
            ));
        }
        for (what, given) in [
            ("id", req.id.is_some()),
            ("role_name", req.role_name.is_some()),
            ("period", req.period.is_some()),
            ("explicit_max_ttl", req.explicit_max_ttl.is_some()),
            ("entity_alias", req.entity_alias.is_some()),
        ] {
            if given {
                return Err(Fail::bad(format!("{what} is not supported")));
            }
        }
        if let Some(t) = req.token_type.as_deref() {
            if !matches!(t, "" | "service" | "default") {
                return Err(Fail::bad("only service tokens are supported"));
            }
        }
        let ttl = match &req.ttl {
            None => MAX_TTL,
            Some(v) => parse_ttl(v)?,
        };
        if ttl == 0 || ttl > MAX_TTL {
            return Err(Fail::bad(format!("ttl must be 1s to {}h", MAX_TTL / 3600)));
        }
        let mut policies: BTreeSet<String> = match req.policies {
            None => creator.policies().into_iter().collect(),
            Some(list) => {
                if list.len() > MAX_POLICIES {
                    return Err(Fail::bad(format!("at most {MAX_POLICIES} policies")));
                }
                let mut set = BTreeSet::new();
                for p in list {
                    set.insert(policy_name(&p)?);
                }
                set
            }
        };
        if !req.no_default_policy.unwrap_or(false) && !policies.contains("root") {
            policies.insert("default".into());
        }
        if !creator.is_root() {
            let have: BTreeSet<String> = creator.policies().into_iter().collect();
            if let Some(extra) = policies
                .iter()
                .find(|p| *p != "default" && !have.contains(*p))
            {
                return Err(Fail::new(
                    StatusCode::FORBIDDEN,
                    format!("child policies must be subset of parent: {extra} is not"),
                ));
            }
        }
        let meta = req.meta.unwrap_or_default();
        if meta.len() > MAX_META
            || meta
                .iter()
                .any(|(k, v)| k.len() > MAX_TEXT || v.len() > MAX_TEXT)
        {
            return Err(Fail::bad(format!(
                "meta: at most {MAX_META} entries of at most {MAX_TEXT} characters"
            )));
        }
        let display = req.display_name.unwrap_or_default();
        if display.len() > 128 || display.chars().any(char::is_control) {
            return Err(Fail::bad("display_name: at most 128 printable characters"));
        }
        let display_name = if display.is_empty() {
            "token".to_string()
        } else {
            format!("token-{display}")
        };

        let token = auth::new_token()?;
        let hash = auth::token_hash(&token);
        let accessor = auth::accessor(&hash);
        let now = now();
        let mut expire = now.saturating_add(ttl);
        if let Some(parent_expiry) = creator.record.as_ref().and_then(|r| r.expire_time) {
            expire = expire.min(parent_expiry);
        }
        let rec = TokenRecord {
            token_sha256: hex_encode(&hash),
            policies: policies.into_iter().collect(),
            display_name,
            meta,
            creation_time: now,
            creation_ttl: expire.saturating_sub(now),
            expire_time: Some(expire),
            num_uses: req.num_uses.unwrap_or(0),
            parent: creator.accessor.to_string(),
        };
        let mut inner = self.lock();
        if inner.tokens.len() >= MAX_TOKENS {
            let expired: Vec<String> = inner
                .tokens
                .iter()
                .filter(|(_, r)| r.expire_time.is_some_and(|t| t <= now))
                .map(|(a, _)| a.clone())
                .collect();
            for a in expired {
                inner.revoke_tree(&self.store, &a)?;
            }
            if inner.tokens.len() >= MAX_TOKENS {
                return Err(Fail::bad(format!(
                    "too many tokens (limit {MAX_TOKENS}); revoke some first"
                )));
            }
        }
        // A creator revoked meanwhile makes no children.
        if !creator.is_root() && !inner.tokens.contains_key(&*creator.accessor) {
            return Err(Fail::denied());
        }
        inner.write_token(&self.store, &accessor, &rec)?;
        Ok((token, accessor, rec))
    }

    /// Looks a token up by accessor: root or a live record.
    fn describe(&self, accessor: &str) -> Option<Value> {
        let mut inner = self.lock();
        if let Some(root) = inner.root_hash {
            if auth::accessor(&root) == accessor {
                return Some(root_view(accessor));
            }
        }
        let rec = inner.live_token(&self.store, accessor, now())?;
        Some(view(accessor, &rec))
    }

    fn revoke(&self, accessor: &str) -> Result<(), Fail> {
        let mut inner = self.lock();
        if inner
            .root_hash
            .is_some_and(|r| auth::accessor(&r) == accessor)
        {
            return Err(Fail::bad("the root token cannot be revoked"));
        }
        if inner.live_token(&self.store, accessor, now()).is_none() {
            return Err(Fail::bad("invalid token or accessor"));
        }
        inner.revoke_tree(&self.store, accessor)
    }
}

/// `transit/keys/NAME` for a POST: the key a write would create.
fn new_key_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix("transit/keys/")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// Policy names: lower-cased (as Vault), 1 to 128 of `[a-z0-9_.-]`.
pub fn policy_name(name: &str) -> Result<String, Fail> {
    let name = name.trim().to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(Fail::bad(
            "invalid policy name: 1 to 128 characters of a-z 0-9 _ . -",
        ))
    }
}

/// A TTL: seconds (number or numeric string) or a duration like `1h`,
/// `30m`, `1h30m`, `45s`, `2d`.
pub fn parse_ttl(v: &Value) -> Result<u64, Fail> {
    let bad = || Fail::bad("invalid ttl: seconds, or a duration like 1h, 30m, 1h30m, 45s");
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) if s.is_empty() => Ok(MAX_TTL),
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

/// Unix seconds as RFC 3339 UTC (Vault's `expire_time`).
fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn view(accessor: &str, rec: &TokenRecord) -> Value {
    let now = now();
    json!({
        "accessor": accessor,
        "creation_time": rec.creation_time,
        "creation_ttl": rec.creation_ttl,
        "display_name": rec.display_name,
        "entity_id": "",
        "expire_time": rec.expire_time.map(rfc3339),
        "explicit_max_ttl": 0,
        "meta": if rec.meta.is_empty() { Value::Null } else { json!(rec.meta) },
        "num_uses": rec.num_uses,
        "orphan": false,
        "path": "auth/token/create",
        "policies": rec.policies,
        "renewable": false,
        "ttl": rec.expire_time.map_or(0, |t| t.saturating_sub(now)),
        "type": "service",
    })
}

fn root_view(accessor: &str) -> Value {
    json!({
        "accessor": accessor,
        "creation_time": 0,
        "creation_ttl": 0,
        "display_name": "root",
        "entity_id": "",
        "expire_time": null,
        "explicit_max_ttl": 0,
        "meta": null,
        "num_uses": 0,
        "orphan": true,
        "path": "auth/token/root",
        "policies": ["root"],
        "renewable": false,
        "ttl": 0,
        "type": "service",
    })
}

/// `auth/token/create`'s body. Unknown fields are ignored, as are
/// `no_parent` (every token here has a parent) and `renewable` (no token
/// is); fields that would change what a token is are refused.
#[derive(Default, Deserialize)]
pub struct CreateRequest {
    policies: Option<Vec<String>>,
    ttl: Option<Value>,
    #[serde(default, deserialize_with = "lenient_u64")]
    num_uses: Option<u64>,
    display_name: Option<String>,
    meta: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    no_default_policy: Option<bool>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    id: Option<Value>,
    role_name: Option<Value>,
    period: Option<Value>,
    explicit_max_ttl: Option<Value>,
    entity_alias: Option<Value>,
}

/// `POST /v1/auth/token/create`: Vault's `auth` block, token shown once.
pub async fn create(
    State(state): State<AppState>,
    authed: Authed,
    body: Body,
) -> Result<Response, Fail> {
    let req: CreateRequest = json_body(body).await?;
    let (token, accessor, rec) = blocking(&state.transit, move |t| {
        t.create_token(authed.identity(), req)
    })
    .await?;
    let auth = json!({
        "client_token": token.as_str(),
        "accessor": accessor,
        "policies": rec.policies,
        "token_policies": rec.policies,
        "identity_policies": null,
        "metadata": if rec.meta.is_empty() { Value::Null } else { json!(rec.meta) },
        "lease_duration": rec.creation_ttl,
        "renewable": false,
        "entity_id": "",
        "token_type": "service",
        "orphan": false,
        "mfa_requirement": null,
        "num_uses": rec.num_uses,
    });
    Ok(super::envelope_with_fields(Value::Null, &[("auth", auth)]))
}

/// `GET /v1/auth/token/lookup-self`.
pub async fn lookup_self(authed: Authed) -> Response {
    let id = authed.identity();
    match &id.record {
        None => envelope(root_view(&id.accessor)),
        Some(rec) => envelope(view(&id.accessor, rec)),
    }
}

#[derive(Default, Deserialize)]
pub struct TokenBody {
    token: Option<zeroize::Zeroizing<String>>,
}

#[derive(Default, Deserialize)]
pub struct AccessorBody {
    accessor: Option<String>,
}

fn accessor_of_token(body: TokenBody) -> Result<String, Fail> {
    let token = body
        .token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Fail::bad("missing token"))?;
    Ok(auth::accessor(&auth::token_hash(token.trim())))
}

fn accessor_field(body: AccessorBody) -> Result<String, Fail> {
    body.accessor
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Fail::bad("missing accessor"))
}

async fn lookup_by(state: &AppState, accessor: String, what: &str) -> Result<Response, Fail> {
    let what = what.to_string();
    let view = blocking(&state.transit, move |t| {
        t.describe(&accessor)
            .ok_or_else(|| Fail::bad(format!("invalid {what}")))
    })
    .await?;
    Ok(envelope(view))
}

/// `POST /v1/auth/token/lookup` `{token}`.
pub async fn lookup(
    State(state): State<AppState>,
    _: Authed,
    body: Body,
) -> Result<Response, Fail> {
    let accessor = accessor_of_token(json_body(body).await?)?;
    lookup_by(&state, accessor, "token").await
}

/// `POST /v1/auth/token/lookup-accessor` `{accessor}`.
pub async fn lookup_accessor(
    State(state): State<AppState>,
    _: Authed,
    body: Body,
) -> Result<Response, Fail> {
    let accessor = accessor_field(json_body(body).await?)?;
    lookup_by(&state, accessor, "accessor").await
}

async fn revoke_by(state: &AppState, accessor: String) -> Result<Response, Fail> {
    blocking(&state.transit, move |t| t.revoke(&accessor)).await?;
    Ok(no_content())
}

/// `POST /v1/auth/token/revoke` `{token}`: 204.
pub async fn revoke(
    State(state): State<AppState>,
    _: Authed,
    body: Body,
) -> Result<Response, Fail> {
    let accessor = accessor_of_token(json_body(body).await?)?;
    revoke_by(&state, accessor).await
}

/// `POST /v1/auth/token/revoke-accessor` `{accessor}`: 204.
pub async fn revoke_accessor(
    State(state): State<AppState>,
    _: Authed,
    body: Body,
) -> Result<Response, Fail> {
    let accessor = accessor_field(json_body(body).await?)?;
    revoke_by(&state, accessor).await
}

/// `POST /v1/auth/token/revoke-self`: 204 (a last use already revoked it).
pub async fn revoke_self(State(state): State<AppState>, authed: Authed) -> Result<Response, Fail> {
    let id = authed.identity();
    if id.is_root() {
        return Err(Fail::bad("the root token cannot be revoked"));
    }
    let accessor = id.accessor.clone();
    blocking(&state.transit, move |t| {
        let mut inner = t.lock();
        inner.revoke_tree(&t.store, &accessor)
    })
    .await?;
    Ok(no_content())
}
