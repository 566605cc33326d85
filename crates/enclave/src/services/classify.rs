//! The one request classifier. A `/v1` request's method, path and query
//! are decoded here, once, into what it is: its operation (verb and
//! route), mount, key name and the capability it needs. The guard decides
//! on this answer, the audit entry records it, and handlers that care
//! (listing) read it too, so no two of them can read a request
//! differently (a percent-encoded `?list=%74rue` is a list request for all
//! of them).

use std::borrow::Cow;

use crate::state::acl::Access;

/// Longest key name recorded (longer path segments are cut).
pub const MAX_KEY: usize = 256;

// Handlers act on the name decoded here: a cut one must never be a valid
// name (so never another key than the one the path names).
const _: () = assert!(minikms_api::key_name::MAX < MAX_KEY);
// The same for KV secret paths (`{*path}`: the rest of the path).
const _: () = assert!(crate::core::kv::MAX_PATH < MAX_KEY);

/// What a `/v1` request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The capability class it needs (Vault's mapping of methods).
    pub access: Access,
    /// The verb of its operation: `read`, `update`, `delete` or `list`.
    pub verb: &'static str,
    /// Its route: the pattern it matched, without `/v1/`
    /// (`transit/encrypt/{name}`).
    pub route: String,
    /// The mount the route belongs to: `transit`, `secret`, `auth/token`,
    /// `auth/attest` or `sys`.
    pub mount: &'static str,
    /// The key (or policy) name in the path, decoded, cut to [`MAX_KEY`]:
    /// the name the audit entry records and the handlers act on (a name
    /// that long is refused as a key name anyway).
    pub key: Option<String>,
    /// The path policies are checked against: decoded, without `/v1/`;
    /// list requests end in `/`, as in Vault (`transit/keys/*` grants
    /// listing `transit/keys`). `None` if the path does not decode (bad
    /// percent-encoding, not UTF-8): the guard refuses such a request.
    pub policy_path: Option<String>,
    /// Whether the route needs a token: all but the open routes
    /// ([`OPEN_ROUTES`]), whose callers prove themselves otherwise or need
    /// not. Open requests are rate-limited per address
    /// ([`super::throttle`]).
    pub needs_token: bool,
    /// For an open route: whether its success deserves an audit entry of
    /// its own (it initialises, makes a token, or hands out the root key);
    /// its refusals, and the successes of the others, are counted per
    /// address instead ([`super::audit`]'s `unauthenticated` entries).
    pub recorded_alone: bool,
}

/// The `/v1` routes that need no token (`crate::http::routes` serves them
/// without the guard), each with the verbs whose success is recorded in an
/// entry of its own.
pub const OPEN_ROUTES: &[(&str, &[&str])] = &[
    // The first init makes the root token.
    ("sys/init", &["update"]),
    ("sys/seal-status", &[]),
    // Vault answers it to anyone (`bao status` asks it before any login).
    ("sys/leader", &[]),
    // An open store's unseal does nothing (a sealed one is served apart).
    ("sys/unseal", &[]),
    ("sys/join/challenge", &[]),
    // The root key leaves, wrapped to a verified peer.
    ("sys/join", &["update"]),
    ("auth/attest/nonce", &[]),
    // A token is made for a verified workload.
    ("auth/attest/login", &["update"]),
];

/// Classifies a request: `method`, its raw (percent-encoded) `path` and
/// `query`, and the route `pattern` it matched (`/v1/transit/keys/{name}`).
pub fn classify(method: &str, path: &str, query: Option<&str>, pattern: &str) -> Classified {
    let list = method == "LIST" || (matches!(method, "GET" | "HEAD") && lists(query));
    let (access, verb) = if list {
        (Access::List, "list")
    } else {
        match method {
            "GET" | "HEAD" => (Access::Read, "read"),
            "DELETE" => (Access::Delete, "delete"),
            "POST" | "PUT" => (Access::Write, "update"),
            // No route of ours; writing is the strictest ask.
            _ => (Access::Write, "update"),
        }
    };
    let raw = path.strip_prefix("/v1/").unwrap_or(path);
    let policy_path = decode(raw).map(|p| {
        let mut p = p.into_owned();
        if access == Access::List && !p.ends_with('/') {
            p.push('/');
        }
        p
    });
    let route = pattern.strip_prefix("/v1/").unwrap_or(pattern);
    let open = OPEN_ROUTES.iter().find(|(r, _)| *r == route);
    Classified {
        needs_token: open.is_none(),
        recorded_alone: open.is_some_and(|(_, verbs)| verbs.contains(&verb)),
        access,
        verb,
        route: route.to_string(),
        mount: mount(route),
        key: key_name(route, raw),
        policy_path,
    }
}

/// Whether the decoded query asks for a list: `list=` a true value as
/// Vault reads it (Go's `ParseBool`: `1`, `t`, `T`, `true`, `True`,
/// `TRUE`; hvac's `client.list` sends `True`).
fn lists(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "list" && matches!(&*v, "1" | "t" | "T" | "true" | "True" | "TRUE"))
    })
}

fn decode(raw: &str) -> Option<Cow<'_, str>> {
    percent_encoding::percent_decode_str(raw).decode_utf8().ok()
}

fn mount(route: &str) -> &'static str {
    if route.starts_with("transit/") {
        "transit"
    } else if route.starts_with("auth/token/") {
        "auth/token"
    } else if route.starts_with("auth/attest/") {
        "auth/attest"
    } else if route.starts_with("secret/") {
        "secret"
    } else {
        "sys"
    }
}

/// The path segment where the route says `{name}` (or the rest of the
/// path where it says `{*path}`: a KV secret's path), decoded, cut to
/// [`MAX_KEY`] characters (`None` if it does not decode).
fn key_name(route: &str, raw_path: &str) -> Option<String> {
    if let Some(at) = route.split('/').position(|s| s == "{*path}") {
        let rest = raw_path.splitn(at + 1, '/').nth(at)?;
        return Some(decode(rest)?.chars().take(MAX_KEY).collect());
    }
    let at = route.split('/').position(|s| s == "{name}")?;
    let name = decode(raw_path.split('/').nth(at)?)?;
    Some(name.chars().take(MAX_KEY).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn op(method: &str, path: &str, query: Option<&str>, pattern: &str) -> Classified {
        classify(method, path, query, pattern)
    }

    #[test]
    fn operations_name_the_verb_route_and_capability() {
        let c = op(
            "POST",
            "/v1/transit/encrypt/app",
            None,
            "/v1/transit/encrypt/{name}",
        );
        assert_eq!(
            (c.verb, c.route.as_str(), c.access, c.mount),
            ("update", "transit/encrypt/{name}", Access::Write, "transit")
        );
        assert_eq!(c.key.as_deref(), Some("app"));
        assert_eq!(c.policy_path.as_deref(), Some("transit/encrypt/app"));
        let c = op("GET", "/v1/transit/keys/k", None, "/v1/transit/keys/{name}");
        assert_eq!((c.verb, c.access), ("read", Access::Read));
        let c = op(
            "DELETE",
            "/v1/transit/keys/k",
            None,
            "/v1/transit/keys/{name}",
        );
        assert_eq!((c.verb, c.access), ("delete", Access::Delete));
        let c = op("LIST", "/v1/transit/keys", None, "/v1/transit/keys");
        assert_eq!((c.verb, c.access), ("list", Access::List));
        assert_eq!(c.policy_path.as_deref(), Some("transit/keys/"));
        let c = op("GET", "/v1/sys/policy", None, "/v1/sys/policy");
        assert_eq!((c.mount, c.key), ("sys", None));
        let c = op(
            "POST",
            "/v1/auth/attest/role/app",
            None,
            "/v1/auth/attest/role/{name}",
        );
        assert_eq!((c.mount, c.key.as_deref()), ("auth/attest", Some("app")));
        assert_eq!(c.policy_path.as_deref(), Some("auth/attest/role/app"));
        let c = op("LIST", "/v1/auth/attest/role", None, "/v1/auth/attest/role");
        assert_eq!(c.policy_path.as_deref(), Some("auth/attest/role/"));
    }

    /// The open routes need no token; only the successes that matter of
    /// them are recorded alone.
    #[test]
    fn open_routes_need_no_token() {
        let c = op("POST", "/v1/sys/init", None, "/v1/sys/init");
        assert_eq!((c.needs_token, c.recorded_alone), (false, true));
        let c = op("GET", "/v1/sys/init", None, "/v1/sys/init");
        assert_eq!((c.needs_token, c.recorded_alone), (false, false));
        let c = op(
            "POST",
            "/v1/sys/join/challenge",
            None,
            "/v1/sys/join/challenge",
        );
        assert_eq!((c.needs_token, c.recorded_alone), (false, false));
        let c = op(
            "POST",
            "/v1/auth/attest/login",
            None,
            "/v1/auth/attest/login",
        );
        assert_eq!((c.needs_token, c.recorded_alone), (false, true));
        let c = op("GET", "/v1/transit/keys/k", None, "/v1/transit/keys/{name}");
        assert_eq!((c.needs_token, c.recorded_alone), (true, false));
    }

    /// The query is decoded as the handlers decode it: every spelling of
    /// `list=true` is a list, for the guard and the audit alike.
    #[test]
    fn every_spelling_of_list_is_a_list() {
        for query in [
            "list=true",
            "list=1",
            "list=%74rue",
            "%6cist=true",
            "a=b&list=true",
            "list=True",
        ] {
            let c = op("GET", "/v1/transit/keys", Some(query), "/v1/transit/keys");
            assert_eq!((c.verb, c.access), ("list", Access::List), "{query}");
        }
        for query in ["list=false", "listx=true", "a=list"] {
            let c = op("GET", "/v1/transit/keys", Some(query), "/v1/transit/keys");
            assert_eq!(c.access, Access::Read, "{query}");
        }
    }

    #[test]
    fn names_are_decoded_from_their_segment() {
        let c = op(
            "POST",
            "/v1/transit/datakey/wrapped/k%31",
            None,
            "/v1/transit/datakey/{kind}/{name}",
        );
        assert_eq!(c.key.as_deref(), Some("k1"));
        assert_eq!(c.policy_path.as_deref(), Some("transit/datakey/wrapped/k1"));
        let c = op(
            "POST",
            "/v1/transit/keys/k2/rotate",
            None,
            "/v1/transit/keys/{name}/rotate",
        );
        assert_eq!(c.key.as_deref(), Some("k2"));
        let long = format!("/v1/transit/keys/{}", "a".repeat(1000));
        let c = op("GET", &long, None, "/v1/transit/keys/{name}");
        assert_eq!(c.key.unwrap().len(), MAX_KEY);
        let c = op(
            "GET",
            "/v1/transit/keys/%ff",
            None,
            "/v1/transit/keys/{name}",
        );
        assert_eq!((c.policy_path, c.key), (None, None));
    }
}
