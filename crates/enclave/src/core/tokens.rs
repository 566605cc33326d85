//! Tokens other than root: create, lookup, revoke, in Vault's shapes. How
//! tokens are kept and checked is `crate::state::tokens`.
//!
//! - TTL: default and maximum [`MAX_TTL`] (Vault's default 768h; a
//!   longer one is capped, with Vault's warning); a child never outlives
//!   its creator.
//! - The root token cannot be revoked: nothing could make a new one.
//! - A token may give a child only policies it has itself (plus `default`);
//!   root may give any. Without `policies` the child gets its creator's.
//!   Making tokens needs `update` on `auth/token/create`; a token with a use
//!   limit makes none (as Vault: children would escape the limit).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::input::{lenient_bool, lenient_u64, parse_ttl};
use super::keys::random;
use super::policies::policy_name;
use crate::clock::{now, rfc3339};
use crate::error::Error;
use crate::state::tokens::{accessor, token_hash, Identity, TokenRecord};
use crate::state::State;

/// Longest (and default) token lifetime: 768h, Vault's default.
pub const MAX_TTL: u64 = 768 * 3600;
const MAX_POLICIES: usize = 64;
const MAX_META: usize = 64;
const MAX_TEXT: usize = 512;

/// A new random token: `hvs.` and base64url of 32 random bytes.
pub fn new_token() -> Result<Zeroizing<String>, Error> {
    let raw = random(32)?;
    Ok(Zeroizing::new(format!(
        "hvs.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_slice())
    )))
}

/// `auth/token/create`'s body. Unknown fields are ignored, as is
/// `no_parent` (every token here has a parent); fields that would change
/// what a token is are refused.
#[derive(Default, Deserialize, Serialize)]
pub struct CreateRequest {
    policies: Option<Vec<String>>,
    ttl: Option<Value>,
    #[serde(default, deserialize_with = "lenient_u64")]
    num_uses: Option<u64>,
    display_name: Option<String>,
    meta: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    no_default_policy: Option<bool>,
    /// Vault's default: renewable.
    #[serde(default, deserialize_with = "lenient_bool")]
    renewable: Option<bool>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    /// A token the (root) caller chose: see [`chosen_id`].
    id: Option<Zeroizing<String>>,
    role_name: Option<Value>,
    period: Option<Value>,
    explicit_max_ttl: Option<Value>,
    entity_alias: Option<Value>,
}

/// A token just made: the token itself (shown once), its accessor and
/// record.
pub struct Created {
    pub token: Zeroizing<String>,
    /// Whether the caller chose the token (`id`): it is warned, as Vault
    /// warns.
    pub chosen: bool,
    /// The ttl asked for, when it was over [`MAX_TTL`] and capped to it.
    pub capped_from: Option<u64>,
    pub accessor: String,
    pub record: TokenRecord,
}

/// Makes and stores a child of `creator`, shown once.
pub fn create(state: &State, creator: &Identity, req: CreateRequest) -> Result<Created, Error> {
    make(state, creator, req, false)
}

/// Makes and stores a token without a parent (`create-orphan`): only the
/// root token may (Vault asks for `sudo`), since revoking its creator no
/// longer revokes it.
pub fn create_orphan(
    state: &State,
    creator: &Identity,
    req: CreateRequest,
) -> Result<Created, Error> {
    if !creator.is_root() {
        return Err(Error::Forbidden(
            "only the root token may make orphan tokens".into(),
        ));
    }
    make(state, creator, req, true)
}

/// Whether `giver` may hand out `policies` (to a child token, or to the
/// tokens a role's logins get): root may give any; any other token only
/// policies it holds itself, plus `default` (every token has it). 403
/// `refusal: NAME is not` otherwise: a grant must never widen a token.
pub fn grantable<'a>(
    giver: &Identity,
    policies: impl IntoIterator<Item = &'a String>,
    refusal: &str,
) -> Result<(), Error> {
    if giver.is_root() {
        return Ok(());
    }
    let have: BTreeSet<String> = giver.policies().into_iter().collect();
    match policies
        .into_iter()
        .find(|p| *p != "default" && !have.contains(*p))
    {
        Some(extra) => Err(Error::Forbidden(format!("{refusal}: {extra} is not"))),
        None => Ok(()),
    }
}

fn make(
    state: &State,
    creator: &Identity,
    req: CreateRequest,
    orphan: bool,
) -> Result<Created, Error> {
    if creator.limited {
        // As Vault: a use limit would be escaped through children.
        return Err(Error::invalid(
            "restricted use token cannot generate child tokens",
        ));
    }
    if creator.bound_key().is_some() {
        // A child would not be bound: the binding would be escaped.
        return Err(Error::invalid(
            "a token bound to an attested key cannot generate child tokens",
        ));
    }
    // `bao token create` always sends period, explicit_max_ttl and ttl as
    // "0s" and entity_alias as "": an unset value is no ask.
    for (what, given) in [
        ("role_name", given(&req.role_name)),
        ("period", given(&req.period)),
        ("explicit_max_ttl", given(&req.explicit_max_ttl)),
        ("entity_alias", given(&req.entity_alias)),
    ] {
        if given {
            return Err(Error::invalid(format!("{what} is not supported")));
        }
    }
    if let Some(t) = req.token_type.as_deref() {
        if !matches!(t, "" | "service" | "default") {
            return Err(Error::invalid("only service tokens are supported"));
        }
    }
    let asked = match &req.ttl {
        Some(v) if given(&Some(v.clone())) => parse_ttl(v)?,
        _ => MAX_TTL,
    };
    if asked == 0 {
        return Err(Error::invalid(format!(
            "ttl must be 1s to {}h",
            MAX_TTL / 3600
        )));
    }
    // As Vault: a longer ttl is capped, with a warning, not refused.
    let ttl = asked.min(MAX_TTL);
    let mut policies: BTreeSet<String> = match req.policies {
        None => creator.policies().into_iter().collect(),
        Some(list) => {
            if list.len() > MAX_POLICIES {
                return Err(Error::invalid(format!("at most {MAX_POLICIES} policies")));
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
    grantable(
        creator,
        &policies,
        "child policies must be subset of parent",
    )?;
    let meta = req.meta.unwrap_or_default();
    if meta.len() > MAX_META
        || meta
            .iter()
            .any(|(k, v)| k.len() > MAX_TEXT || v.len() > MAX_TEXT)
    {
        return Err(Error::invalid(format!(
            "meta: at most {MAX_META} entries of at most {MAX_TEXT} characters"
        )));
    }
    let display = req.display_name.unwrap_or_default();
    if display.len() > 128 || display.chars().any(char::is_control) {
        return Err(Error::invalid(
            "display_name: at most 128 printable characters",
        ));
    }
    let display_name = if display.is_empty() {
        "token".to_string()
    } else {
        format!("token-{display}")
    };

    let (token, chosen) = match chosen_id(creator, req.id)? {
        Some(id) => (id, true),
        None => (new_token()?, false),
    };
    let hash = token_hash(&token);
    let accessor = accessor(&hash);
    let now = now();
    let mut expire = now.saturating_add(ttl);
    if let Some(parent_expiry) = creator.record.as_ref().and_then(|r| r.expire_time) {
        expire = expire.min(parent_expiry);
    }
    let rec = TokenRecord {
        token_sha256: hex::encode(hash),
        policies: policies.into_iter().collect(),
        display_name,
        meta,
        creation_time: now,
        creation_ttl: expire.saturating_sub(now),
        expire_time: Some(expire),
        num_uses: req.num_uses.unwrap_or(0),
        parent: if orphan {
            String::new()
        } else {
            creator.accessor.to_string()
        },
        renewable: req.renewable.unwrap_or(true),
        bound_key: None,
    };
    state.insert_token(creator, &accessor, &rec)?;
    Ok(Created {
        token,
        chosen,
        capped_from: (asked > ttl).then_some(asked),
        accessor,
        record: rec,
    })
}

/// Shortest token a caller may choose: 12 characters, so that no short
/// word is ever a token.
const MIN_CHOSEN_ID: usize = 12;
/// Longest token a caller may choose.
const MAX_CHOSEN_ID: usize = 128;

/// The token a create asks for with `id` (Vault's caller-chosen token),
/// checked: the root token only (as Vault: root or sudo), 12 to 128
/// printable ASCII characters with no spaces and no `.` (so never one of
/// Vault's prefixed forms, `hvs.`, `s.` ...). A duplicate is refused when
/// stored. `None`: none asked for (absent or empty).
fn chosen_id(
    creator: &Identity,
    id: Option<Zeroizing<String>>,
) -> Result<Option<Zeroizing<String>>, Error> {
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    if !creator.is_root() {
        return Err(Error::invalid(
            "root or sudo privileges required to specify token id",
        ));
    }
    if !(MIN_CHOSEN_ID..=MAX_CHOSEN_ID).contains(&id.len())
        || !id.bytes().all(|b| b.is_ascii_graphic() && b != b'.')
    {
        return Err(Error::invalid(format!(
            "invalid token id: {MIN_CHOSEN_ID} to {MAX_CHOSEN_ID} printable ASCII characters, without spaces or '.'"
        )));
    }
    Ok(Some(id))
}

/// Whether a create field asks for something: not absent, null, "", 0 or
/// a zero duration ("0s", "0h").
fn given(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => {
            !(s.is_empty() || matches!(parse_ttl(&Value::String(s.clone())), Ok(0)))
        }
        Some(Value::Number(n)) => n.as_u64() != Some(0),
        Some(_) => true,
    }
}

/// A token as `lookup` describes it (Vault's shape). `id` is always
/// empty: unlike Vault, minikms never shows a token after creating it.
#[derive(Serialize)]
pub struct TokenView {
    pub accessor: String,
    pub id: &'static str,
    pub issue_time: String,
    pub creation_time: u64,
    pub creation_ttl: u64,
    pub display_name: String,
    pub entity_id: &'static str,
    pub expire_time: Option<String>,
    pub explicit_max_ttl: u64,
    pub meta: Option<BTreeMap<String, String>>,
    pub num_uses: u64,
    pub orphan: bool,
    pub path: &'static str,
    pub policies: Vec<String>,
    pub renewable: bool,
    pub ttl: u64,
    #[serde(rename = "type")]
    pub token_type: &'static str,
}

/// The description of token `accessor` (`None`: the root token).
pub fn view(accessor: &str, rec: Option<&TokenRecord>) -> TokenView {
    let id = "";
    let Some(rec) = rec else {
        return TokenView {
            accessor: accessor.to_string(),
            id,
            issue_time: rfc3339(0),
            creation_time: 0,
            creation_ttl: 0,
            display_name: "root".into(),
            entity_id: "",
            expire_time: None,
            explicit_max_ttl: 0,
            meta: None,
            num_uses: 0,
            orphan: true,
            path: "auth/token/root",
            policies: vec!["root".into()],
            renewable: false,
            ttl: 0,
            token_type: "service",
        };
    };
    TokenView {
        accessor: accessor.to_string(),
        id,
        issue_time: rfc3339(rec.creation_time),
        creation_time: rec.creation_time,
        creation_ttl: rec.creation_ttl,
        display_name: rec.display_name.clone(),
        entity_id: "",
        expire_time: rec.expire_time.map(rfc3339),
        explicit_max_ttl: 0,
        meta: (!rec.meta.is_empty()).then(|| rec.meta.clone()),
        num_uses: rec.num_uses,
        orphan: rec.parent.is_empty(),
        path: "auth/token/create",
        policies: rec.policies.clone(),
        renewable: rec.renewable,
        ttl: rec.expire_time.map_or(0, |t| t.saturating_sub(now())),
        token_type: "service",
    }
}

/// Looks up the token `accessor` (`what` names how it was given, for the
/// error).
pub fn lookup(state: &State, accessor: &str, what: &str) -> Result<TokenView, Error> {
    match state.lookup_token(accessor) {
        Some(rec) => Ok(view(accessor, rec.as_ref())),
        // As Vault: an unknown token is a 403 "bad token".
        None if what == "token" => Err(Error::Forbidden("bad token".into())),
        None => Err(Error::invalid(format!("invalid {what}"))),
    }
}

#[derive(Default, Deserialize, Serialize)]
pub struct RenewRequest {
    token: Option<Zeroizing<String>>,
    accessor: Option<String>,
    increment: Option<Value>,
}

/// Renews a token: the one in the request (`token` or `accessor`), else
/// `own` (renew-self). Never past [`MAX_TTL`] from its creation, nor past
/// its parent's expiry. Its accessor and record as now stored.
pub fn renew(
    state: &State,
    own: Option<&Identity>,
    req: RenewRequest,
) -> Result<(String, TokenRecord), Error> {
    let accessor = match (own, req.token, req.accessor) {
        (Some(identity), _, _) => {
            if identity.is_root() {
                return Err(Error::invalid("lease is not renewable"));
            }
            identity.accessor.to_string()
        }
        (None, Some(token), _) => accessor_of_token(TokenBody { token: Some(token) })?,
        (None, None, Some(a)) => accessor_field(AccessorBody { accessor: Some(a) })?,
        (None, None, None) => return Err(Error::invalid("missing token")),
    };
    let increment = match &req.increment {
        Some(v) if given(&Some(v.clone())) => Some(parse_ttl(v)?),
        _ => None,
    };
    let rec = state.renew_token(&accessor, increment, |rec| {
        rec.creation_time.saturating_add(MAX_TTL)
    })?;
    Ok((accessor, rec))
}

/// Revokes the presenting token and its children (a last use may already
/// have revoked it).
pub fn revoke_self(state: &State, identity: &Identity) -> Result<(), Error> {
    if identity.is_root() {
        return Err(Error::invalid("the root token cannot be revoked"));
    }
    state.revoke_self(&identity.accessor)
}

#[derive(Default, Deserialize, Serialize)]
pub struct TokenBody {
    token: Option<zeroize::Zeroizing<String>>,
}

#[derive(Default, Deserialize, Serialize)]
pub struct AccessorBody {
    accessor: Option<String>,
}

/// The accessor of the token in `body`.
pub fn accessor_of_token(body: TokenBody) -> Result<String, Error> {
    let token = body
        .token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::invalid("missing token"))?;
    Ok(accessor(&token_hash(token.trim())))
}

/// The accessor in `body`.
pub fn accessor_field(body: AccessorBody) -> Result<String, Error> {
    body.accessor
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::invalid("missing accessor"))
}

/// The warning a ttl capped to [`MAX_TTL`] comes with: Vault's words, with
/// durations as Go prints them.
pub fn capped_warning(asked: u64) -> String {
    format!(
        "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
        go_duration(asked),
        go_duration(MAX_TTL)
    )
}

/// Seconds as Go's `time.Duration` prints them (`768h0m0s`, `1m30s`, `5s`).
fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_ttls_are_warned_of_in_vault_s_words() {
        assert_eq!(
            capped_warning(1000 * 3600),
            "TTL of \"1000h0m0s\" exceeded the effective max_ttl of \"768h0m0s\"; \
             TTL value is capped accordingly"
        );
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(5), "5s");
        assert_eq!(go_duration(3600 + 1), "1h0m1s");
    }
}
