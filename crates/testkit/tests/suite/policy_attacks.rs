//! Parameter constraints (`allowed_parameters`, `denied_parameters`)
//! against what the route acts on, through the real server: values spelt
//! another way (`"1"`, a form's `exportable=t`), policies that write
//! `"true"` for `true`, fields inside `batch_input` items, and parameters
//! given in the path (`hmac/NAME/ALG`, `sign/NAME/ALG`,
//! `export/TYPE/NAME/VERSION`). Each refusal is a 403 that changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minikms_testkit::{https, Server};
use serde_json::{json, Value};

use crate::common::{call, dev_server, ok};

const ROOT: &str = "s.policy-attacks-root";
const P: &str = "aGVsbG8="; // "hello"

/// `POST path` as `token`, with a form body.
async fn form(server: &Server, token: &str, path: &str, fields: &str) -> https::Response {
    https::send_raw(
        server.addr,
        "POST",
        path,
        &[
            ("X-Vault-Token", token),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        fields.as_bytes().to_vec(),
    )
    .await
}

/// A token with only policy `name`, whose JSON text is `policy`.
async fn token_with(server: &Server, name: &str, policy: Value) -> String {
    ok(
        server,
        ROOT,
        "PUT",
        &format!("/v1/sys/policies/acl/{name}"),
        Some(json!({ "policy": policy.to_string() })),
    )
    .await;
    let made = ok(
        server,
        ROOT,
        "POST",
        "/v1/auth/token/create",
        Some(json!({ "policies": [name], "no_default_policy": true })),
    )
    .await;
    made["auth"]["client_token"].as_str().unwrap().to_string()
}

fn status_of(r: &https::Response, what: &str, want: u16) {
    assert_eq!(
        r.status,
        want,
        "{what}: {}",
        String::from_utf8_lossy(&r.raw)
    );
}

#[tokio::test]
async fn a_denied_boolean_is_denied_however_it_is_spelt() {
    let server = dev_server(ROOT);
    let s = &server;
    // As in the issue: `[true]` in the policy, and `["true"]`.
    for (policy, denied) in [("deny-bool", json!(true)), ("deny-text", json!("true"))] {
        let tok = token_with(
            s,
            policy,
            json!({"path": {"transit/keys/*": {
                "capabilities": ["create", "update", "read"],
                "denied_parameters": {"exportable": [denied]},
            }}}),
        )
        .await;
        let path = format!("/v1/transit/keys/{policy}");
        for body in [
            json!({"exportable": true}),
            json!({"exportable": "1"}),
            json!({"exportable": "true"}),
            json!({"exportable": "t"}),
            json!({"exportable": "True"}),
        ] {
            let r = call(s, &tok, "POST", &path, Some(body.clone())).await;
            status_of(&r, &format!("{policy} {body}"), 403);
        }
        for fields in ["exportable=1", "exportable=true", "exportable=T"] {
            let r = form(s, &tok, &path, fields).await;
            status_of(&r, &format!("{policy} form {fields}"), 403);
        }
        // Refused: nothing was made.
        let r = call(s, ROOT, "GET", &path, None).await;
        status_of(&r, "after the refusals", 404);
        // Not exportable is allowed, however spelt, and so is no value.
        let r = form(s, &tok, &path, "exportable=0").await;
        status_of(&r, &format!("{policy} form exportable=0"), 200);
        let r = call(s, &tok, "POST", &path, Some(json!({"exportable": "false"}))).await;
        status_of(&r, &format!("{policy} \"false\""), 200);
        let read = ok(s, ROOT, "GET", &path, None).await;
        assert_eq!(read["data"]["exportable"], false, "{read}");
    }
    // A value the field cannot take is the route's 400, policy or not.
    let tok = token_with(
        s,
        "deny-bool2",
        json!({"path": {"transit/keys/*": {
            "capabilities": ["create", "update"],
            "denied_parameters": {"exportable": [true]},
        }}}),
    )
    .await;
    let r = call(
        s,
        &tok,
        "POST",
        "/v1/transit/keys/odd",
        Some(json!({"exportable": "yes"})),
    )
    .await;
    status_of(&r, "exportable=yes", 400);
    assert!(r.body["errors"][0]
        .as_str()
        .unwrap()
        .contains("invalid request body"));
}

#[tokio::test]
async fn batch_items_and_path_parameters_are_parameters_too() {
    let server = dev_server(ROOT);
    let s = &server;
    for (name, kind) in [("k", "aes256-gcm96"), ("ec", "ecdsa-p256")] {
        ok(
            s,
            ROOT,
            "POST",
            &format!("/v1/transit/keys/{name}"),
            Some(json!({ "type": kind })),
        )
        .await;
        ok(
            s,
            ROOT,
            "POST",
            &format!("/v1/transit/keys/{name}/rotate"),
            None,
        )
        .await;
    }
    let tok = token_with(
        s,
        "no-old",
        json!({"path": {
            "transit/encrypt/*": {
                "capabilities": ["update"],
                "denied_parameters": {"key_version": [1]},
            },
            "transit/hmac/*": {
                "capabilities": ["update"],
                "denied_parameters": {"algorithm": ["sha2-224"]},
            },
            "transit/sign/*": {
                "capabilities": ["update"],
                "denied_parameters": {"hash_algorithm": ["sha2-224"]},
            },
            "transit/export/*": {
                "capabilities": ["read"],
                "denied_parameters": {"version": ["1"]},
            },
        }}),
    )
    .await;

    // Batch items: each item's fields are checked, typed as the route reads them.
    for body in [
        json!({"plaintext": P, "key_version": "1"}),
        json!({"batch_input": [{"plaintext": P, "key_version": 1}]}),
        json!({"batch_input": [{"plaintext": P}, {"plaintext": P, "key_version": "1"}]}),
    ] {
        let r = call(s, &tok, "POST", "/v1/transit/encrypt/k", Some(body.clone())).await;
        status_of(&r, &format!("encrypt {body}"), 403);
    }
    let r = call(
        s,
        &tok,
        "POST",
        "/v1/transit/encrypt/k",
        Some(json!({"batch_input": [{"plaintext": P}, {"plaintext": P, "key_version": 2}]})),
    )
    .await;
    status_of(&r, "encrypt with version 2", 200);
    for item in r.body["data"]["batch_results"].as_array().unwrap() {
        assert!(
            item["ciphertext"]
                .as_str()
                .unwrap()
                .starts_with("vault:v2:"),
            "{item}"
        );
    }

    // The path's algorithm is the algorithm the route uses.
    for (path, body) in [
        ("/v1/transit/hmac/k/sha2-224", json!({"input": P})),
        (
            "/v1/transit/hmac/k/sha2-224",
            json!({"input": P, "algorithm": "sha2-256"}),
        ),
        (
            "/v1/transit/hmac/k",
            json!({"input": P, "algorithm": "sha2-224"}),
        ),
        ("/v1/transit/sign/ec/sha2-224", json!({"input": P})),
    ] {
        let r = call(s, &tok, "POST", path, Some(body.clone())).await;
        status_of(&r, &format!("{path} {body}"), 403);
    }
    // The path's value wins over the body's, as in the route.
    let r = call(
        s,
        &tok,
        "POST",
        "/v1/transit/hmac/k/sha2-256",
        Some(json!({"input": P, "algorithm": "sha2-224"})),
    )
    .await;
    status_of(&r, "hmac sha2-256 in the path", 200);
    let r = call(
        s,
        &tok,
        "POST",
        "/v1/transit/sign/ec/sha2-384",
        Some(json!({"input": P})),
    )
    .await;
    status_of(&r, "sign sha2-384", 200);

    // Export: the version in the path.
    let r = call(s, &tok, "GET", "/v1/transit/export/public-key/ec/1", None).await;
    status_of(&r, "export version 1", 403);
    let r = call(s, &tok, "GET", "/v1/transit/export/public-key/ec/2", None).await;
    status_of(&r, "export version 2", 200);
    assert!(r.body["data"]["keys"]["2"].is_string(), "{}", r.body);
}
