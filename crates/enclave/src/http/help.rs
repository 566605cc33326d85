//! Vault's path help (`GET /v1/transit/...?help=1`, what `bao path-help`
//! sends) for the Transit routes, answered in one place: the accept loop
//! hands every request to [`rewrite`] first, which sends a help request
//! to the one route `sys/internal/help/PATH` (routing matches paths, not
//! queries, and a Transit route may take no GET at all). That route is
//! behind the audit layer and the guard like any other: Vault gives help
//! to any valid token, and the built-in `default` policy allows it here.

use axum::extract::Path;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

/// The route help requests go to.
const HELP_ROUTE: &str = "/v1/sys/internal/help/";

/// Sends a Transit path's help request (`?help=` a true value, as Go's
/// `ParseBool` reads it) to [`HELP_ROUTE`]; leaves every other request as
/// it is.
pub fn rewrite<B>(request: &mut axum::http::Request<B>) {
    let uri = request.uri();
    let (Some(path), Some(query)) = (uri.path().strip_prefix("/v1/"), uri.query()) else {
        return;
    };
    if !(path == "transit" || path.starts_with("transit/")) {
        return;
    }
    let asks_help = form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "help" && matches!(&*v, "1" | "t" | "T" | "true" | "True" | "TRUE"));
    if !asks_help {
        return;
    }
    if let Ok(help) = format!("{HELP_ROUTE}{path}").parse::<Uri>() {
        *request.uri_mut() = help;
    }
}

/// What each Transit route does, by its first segment after `transit/`.
const ROUTES: &[(&str, &str, &str)] = &[
    ("keys", "^keys/(?P<name>...)(/(config|rotate|trim|import|import_version))?$", "Managed named encryption keys: create (POST), read (GET), list (LIST), delete (DELETE), and their config, rotation, trimming and import."),
    ("encrypt", "^encrypt/(?P<name>...)$", "Encrypt a plaintext (base64) with the named key, creating it if missing (upsert); batch_input for several."),
    ("decrypt", "^decrypt/(?P<name>...)$", "Decrypt a ciphertext (vault:vN:...) with the named key; batch_input for several."),
    ("rewrap", "^rewrap/(?P<name>...)$", "Re-encrypt a ciphertext under the key's latest version, without showing the plaintext."),
    ("datakey", "^datakey/(?P<plaintext>plaintext|wrapped)/(?P<name>...)$", "Make a data key, wrapped under the named key (and in clear, for plaintext)."),
    ("random", "^random(/(?P<source>...))?(/(?P<urlbytes>...))?$", "Random bytes (format hex or base64)."),
    ("hash", "^hash(/(?P<urlalgorithm>...))?$", "Hash the input (SHA-2, SHA-3)."),
    ("hmac", "^hmac/(?P<name>...)(/(?P<urlalgorithm>...))?$", "An HMAC of the input with the named key."),
    ("sign", "^sign/(?P<name>...)(/(?P<urlalgorithm>...))?$", "Sign the input with the named key."),
    ("verify", "^verify/(?P<name>...)(/(?P<urlalgorithm>...))?$", "Verify a signature or an HMAC with the named key."),
    ("export", "^export/(?P<type>...)/(?P<name>...)(/(?P<version>...))?$", "Export an exportable key."),
    ("backup", "^backup/(?P<name>...)$", "Back up a key (exportable, with allow_plaintext_backup)."),
    ("restore", "^restore(/(?P<name>...))?$", "Restore a key from its backup."),
    ("wrapping_key", "^wrapping_key$", "The RSA public key that wraps keys brought in by import."),
    ("cache-config", "^cache-config$", "The key cache's size: always 0, every key is in memory."),
    ("config", "^config/keys$", "The engine's configuration (disable_upsert)."),
];

/// `GET /v1/sys/internal/help/transit/...`: Vault's help document (not in
/// the envelope, as Vault answers it), or 404 for a path under no route.
pub async fn help(Path(path): Path<String>) -> Result<Response, Error> {
    let rest = path.strip_prefix("transit").unwrap_or(&path);
    let rest = rest.trim_start_matches('/');
    let first = rest.split('/').next().unwrap_or_default();
    let (route, what) = if rest.is_empty() {
        (
            "^.*$",
            "The Transit secrets engine: cryptography as a service, its keys kept in the enclave.",
        )
    } else {
        let (_, route, what) = ROUTES
            .iter()
            .find(|(name, _, _)| *name == first)
            .ok_or_else(|| Error::NotFound(format!("unsupported path: no help for {path:?}")))?;
        (*route, *what)
    };
    let text = format!(
        "Request:        {rest}\nMatching Route: {route}\n\n{what}\n\n## DESCRIPTION\n\n\
         The parameters and answers are Vault's; minikms's differences are in its docs/transit.md."
    );
    Ok(axum::Json(json!({
        "help": text,
        "openapi": {
            "openapi": "3.0.2",
            "info": { "title": "minikms", "version": env!("CARGO_PKG_VERSION") },
            "paths": {},
        },
        "see_also": null,
    }))
    .into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rewritten(uri: &str) -> String {
        let mut req = axum::http::Request::builder().uri(uri).body(()).unwrap();
        rewrite(&mut req);
        req.uri().to_string()
    }

    #[test]
    fn only_transit_help_requests_are_sent_to_the_help_route() {
        assert_eq!(
            rewritten("/v1/transit/encrypt/k?help=1"),
            "/v1/sys/internal/help/transit/encrypt/k"
        );
        assert_eq!(
            rewritten("/v1/transit/keys?help=%74rue"),
            "/v1/sys/internal/help/transit/keys"
        );
        for same in [
            "/v1/transit/keys?list=true",
            "/v1/transit/keys/k?help=0",
            "/v1/sys/policy?help=1",
            "/v1/transitx/keys?help=1",
            "/v1/transit/keys",
        ] {
            assert_eq!(rewritten(same), same);
        }
    }
}
