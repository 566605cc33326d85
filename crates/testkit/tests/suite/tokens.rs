//! Tokens and ACL policies, end to end against the real server: named allow
//! and deny cases for every route family, TTL expiry, use limits, revoking,
//! no escalation through child tokens, bad policies, and a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use minikms_testkit::{https, walk, Server};
use serde_json::{json, Value};

use crate::common::{call, dev_server, ok};

const ROOT: &str = "s.test-root-token";

async fn put_policy(addr: SocketAddr, name: &str, text: &str) {
    ok(
        addr,
        ROOT,
        "PUT",
        &format!("/v1/sys/policy/{name}"),
        json!({ "policy": text }),
    )
    .await;
}

/// A token with `policies`, made by root; returns (token, accessor).
async fn token(addr: SocketAddr, policies: &[&str], extra: Value) -> (String, String) {
    let mut body = json!({ "policies": policies });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = ok(addr, ROOT, "POST", "/v1/auth/token/create", body).await;
    let auth = &r["auth"];
    (
        auth["client_token"].as_str().unwrap().to_string(),
        auth["accessor"].as_str().unwrap().to_string(),
    )
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn latest_version(addr: SocketAddr, key: &str) -> u64 {
    let r = call(addr, ROOT, "GET", &format!("/v1/transit/keys/{key}"), None).await;
    r.body["data"]["latest_version"].as_u64().unwrap()
}

async fn exists(addr: SocketAddr, key: &str) -> bool {
    call(addr, ROOT, "GET", &format!("/v1/transit/keys/{key}"), None)
        .await
        .status
        == 200
}

fn assert_denied(r: &https::Response, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", String::from_utf8_lossy(&r.raw));
    assert_eq!(r.body, json!({"errors": ["permission denied"]}), "{what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_allow_and_deny_each_route_family() {
    let server = dev_server(ROOT);
    let a = server.addr;

    for (name, body) in [
        ("app-1", json!({})),
        ("db-1", json!({})),
        ("rot-1", json!({})),
        ("sig", json!({"type": "ed25519"})),
        ("mac", json!({"type": "hmac"})),
        (
            "exp",
            json!({"exportable": true, "allow_plaintext_backup": true}),
        ),
    ] {
        ok(a, ROOT, "POST", &format!("/v1/transit/keys/{name}"), body).await;
    }
    let pt = b64("attack at dawn");
    let ct = ok(
        a,
        ROOT,
        "POST",
        "/v1/transit/encrypt/app-1",
        json!({ "plaintext": pt }),
    )
    .await["data"]["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    let ct_db = ok(
        a,
        ROOT,
        "POST",
        "/v1/transit/encrypt/db-1",
        json!({ "plaintext": pt }),
    )
    .await["data"]["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    let sig = ok(
        a,
        ROOT,
        "POST",
        "/v1/transit/sign/sig",
        json!({ "input": pt }),
    )
    .await["data"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let backup = ok(a, ROOT, "GET", "/v1/transit/backup/exp", json!(null)).await["data"]["backup"]
        .as_str()
        .unwrap()
        .to_string();

    let policies = [
        (
            "enc-app",
            r#"path "transit/encrypt/app-*" { capabilities = ["update"] }"#,
        ),
        (
            "dec-app",
            r#"path "transit/decrypt/app-*" { capabilities = ["update"] }
               path "transit/rewrap/app-*" { capabilities = ["update"] }
               path "transit/datakey/+/app-*" { capabilities = ["update"] }"#,
        ),
        (
            "keys-admin",
            r#"path "transit/keys/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#,
        ),
        (
            "keys-reader",
            r#"path "transit/keys/*" { capabilities = ["read", "list"] }"#,
        ),
        (
            "keys-updater",
            r#"path "transit/keys/*" { capabilities = ["update"] }"#,
        ),
        (
            "signer",
            r#"path "transit/sign/sig" { capabilities = ["update"] }
               path "transit/hmac/mac" { capabilities = ["update"] }
               path "transit/hmac/mac/+" { capabilities = ["update"] }"#,
        ),
        (
            "verifier",
            r#"path "transit/verify/*" { capabilities = ["update"] }"#,
        ),
        (
            "util",
            r#"path "transit/random" { capabilities = ["update"] }
               path "transit/random/*" { capabilities = ["update"] }
               path "transit/hash*" { capabilities = ["update"] }"#,
        ),
        (
            "backup",
            r#"path "transit/export/*" { capabilities = ["read"] }
               path "transit/backup/*" { capabilities = ["read"] }
               path "transit/restore/*" { capabilities = ["update"] }"#,
        ),
        (
            "import",
            r#"path "transit/wrapping_key" { capabilities = ["read"] }
               path "transit/keys/+/import" { capabilities = ["update"] }"#,
        ),
        (
            "enc-all",
            r#"path "transit/encrypt/*" { capabilities = ["update"] }"#,
        ),
        (
            "deny-db",
            r#"path "transit/encrypt/db-*" { capabilities = ["deny"] }"#,
        ),
        (
            "token-maker",
            r#"path "auth/token/create" { capabilities = ["update"] }
               path "auth/token/lookup" { capabilities = ["update"] }
               path "auth/token/lookup-accessor" { capabilities = ["update"] }
               path "auth/token/revoke-accessor" { capabilities = ["update"] }"#,
        ),
        (
            "policy-admin",
            r#"path "sys/policy/*" { capabilities = ["read", "update", "delete"] }
               path "sys/policies/acl/*" { capabilities = ["read", "list"] }"#,
        ),
    ];
    for (name, text) in policies {
        put_policy(a, name, text).await;
    }
    let mut tokens = std::collections::HashMap::new();
    for (who, policies) in [
        ("enc", vec!["enc-app"]),
        ("dec", vec!["dec-app"]),
        ("admin", vec!["keys-admin"]),
        ("reader", vec!["keys-reader"]),
        ("updater", vec!["keys-updater"]),
        ("signer", vec!["signer"]),
        ("verifier", vec!["verifier"]),
        ("util", vec!["util"]),
        ("backup", vec!["backup"]),
        ("import", vec!["import"]),
        ("enc-but-db", vec!["enc-all", "deny-db"]),
        ("maker", vec!["token-maker", "enc-app"]),
        ("policy", vec!["policy-admin"]),
    ] {
        tokens.insert(who, token(a, &policies, json!({})).await.0);
    }

    // (case, token, method, path, body, allowed)
    let cases: Vec<(&str, &str, &str, String, Value, bool)> = vec![
        // encrypt / decrypt / rewrap / datakey
        (
            "enc: encrypt app-1",
            "enc",
            "POST",
            "/v1/transit/encrypt/app-1".into(),
            json!({"plaintext": pt}),
            true,
        ),
        (
            "enc: encrypt db-1",
            "enc",
            "POST",
            "/v1/transit/encrypt/db-1".into(),
            json!({"plaintext": pt}),
            false,
        ),
        (
            "enc: decrypt app-1",
            "enc",
            "POST",
            "/v1/transit/decrypt/app-1".into(),
            json!({"ciphertext": ct}),
            false,
        ),
        (
            "enc: read key",
            "enc",
            "GET",
            "/v1/transit/keys/app-1".into(),
            json!(null),
            false,
        ),
        (
            "enc: list keys",
            "enc",
            "LIST",
            "/v1/transit/keys".into(),
            json!(null),
            false,
        ),
        (
            "dec: decrypt app-1",
            "dec",
            "POST",
            "/v1/transit/decrypt/app-1".into(),
            json!({"ciphertext": ct}),
            true,
        ),
        (
            "dec: decrypt db-1",
            "dec",
            "POST",
            "/v1/transit/decrypt/db-1".into(),
            json!({"ciphertext": ct_db}),
            false,
        ),
        (
            "dec: rewrap app-1",
            "dec",
            "POST",
            "/v1/transit/rewrap/app-1".into(),
            json!({"ciphertext": ct}),
            true,
        ),
        (
            "dec: datakey app-1",
            "dec",
            "POST",
            "/v1/transit/datakey/plaintext/app-1".into(),
            json!({}),
            true,
        ),
        (
            "dec: datakey db-1",
            "dec",
            "POST",
            "/v1/transit/datakey/wrapped/db-1".into(),
            json!({}),
            false,
        ),
        (
            "dec: encrypt app-1",
            "dec",
            "POST",
            "/v1/transit/encrypt/app-1".into(),
            json!({"plaintext": pt}),
            false,
        ),
        // most specific rule wins; deny in it wins
        (
            "enc-but-db: encrypt app-1",
            "enc-but-db",
            "POST",
            "/v1/transit/encrypt/app-1".into(),
            json!({"plaintext": pt}),
            true,
        ),
        (
            "enc-but-db: encrypt db-1",
            "enc-but-db",
            "POST",
            "/v1/transit/encrypt/db-1".into(),
            json!({"plaintext": pt}),
            false,
        ),
        // keys create / read / list / delete / config / rotate / trim
        (
            "admin: create new-1",
            "admin",
            "POST",
            "/v1/transit/keys/new-1".into(),
            json!({}),
            true,
        ),
        (
            "admin: read new-1",
            "admin",
            "GET",
            "/v1/transit/keys/new-1".into(),
            json!(null),
            true,
        ),
        (
            "admin: list",
            "admin",
            "LIST",
            "/v1/transit/keys".into(),
            json!(null),
            true,
        ),
        (
            "admin: list ?list=true",
            "admin",
            "GET",
            "/v1/transit/keys?list=true".into(),
            json!(null),
            true,
        ),
        (
            "admin: rotate new-1",
            "admin",
            "POST",
            "/v1/transit/keys/new-1/rotate".into(),
            json!({}),
            true,
        ),
        (
            "admin: config new-1",
            "admin",
            "POST",
            "/v1/transit/keys/new-1/config".into(),
            json!({"deletion_allowed": true, "min_decryption_version": 2}),
            true,
        ),
        (
            "admin: trim new-1",
            "admin",
            "POST",
            "/v1/transit/keys/new-1/trim".into(),
            json!({"min_available_version": 2}),
            true,
        ),
        (
            "admin: delete new-1",
            "admin",
            "DELETE",
            "/v1/transit/keys/new-1".into(),
            json!(null),
            true,
        ),
        (
            "admin: encrypt",
            "admin",
            "POST",
            "/v1/transit/encrypt/app-1".into(),
            json!({"plaintext": pt}),
            false,
        ),
        (
            "reader: read app-1",
            "reader",
            "GET",
            "/v1/transit/keys/app-1".into(),
            json!(null),
            true,
        ),
        (
            "reader: list",
            "reader",
            "LIST",
            "/v1/transit/keys".into(),
            json!(null),
            true,
        ),
        (
            "reader: create new-2",
            "reader",
            "POST",
            "/v1/transit/keys/new-2".into(),
            json!({}),
            false,
        ),
        (
            "reader: rotate rot-1",
            "reader",
            "POST",
            "/v1/transit/keys/rot-1/rotate".into(),
            json!({}),
            false,
        ),
        (
            "reader: config rot-1",
            "reader",
            "POST",
            "/v1/transit/keys/rot-1/config".into(),
            json!({"deletion_allowed": true}),
            false,
        ),
        (
            "reader: trim rot-1",
            "reader",
            "POST",
            "/v1/transit/keys/rot-1/trim".into(),
            json!({"min_available_version": 1}),
            false,
        ),
        (
            "reader: delete rot-1",
            "reader",
            "DELETE",
            "/v1/transit/keys/rot-1".into(),
            json!(null),
            false,
        ),
        (
            "updater: create new-3 needs create",
            "updater",
            "POST",
            "/v1/transit/keys/new-3".into(),
            json!({}),
            false,
        ),
        (
            "updater: update existing rot-1",
            "updater",
            "POST",
            "/v1/transit/keys/rot-1".into(),
            json!({}),
            true,
        ),
        (
            "updater: rotate rot-1",
            "updater",
            "POST",
            "/v1/transit/keys/rot-1/rotate".into(),
            json!({}),
            true,
        ),
        (
            "updater: read rot-1",
            "updater",
            "GET",
            "/v1/transit/keys/rot-1".into(),
            json!(null),
            false,
        ),
        // sign / verify / hmac
        (
            "signer: sign sig",
            "signer",
            "POST",
            "/v1/transit/sign/sig".into(),
            json!({"input": pt}),
            true,
        ),
        (
            "signer: hmac mac",
            "signer",
            "POST",
            "/v1/transit/hmac/mac".into(),
            json!({"input": pt}),
            true,
        ),
        (
            "signer: hmac mac sha2-512",
            "signer",
            "POST",
            "/v1/transit/hmac/mac/sha2-512".into(),
            json!({"input": pt}),
            true,
        ),
        (
            "signer: sign sig/sha2-256 not granted",
            "signer",
            "POST",
            "/v1/transit/sign/sig/sha2-256".into(),
            json!({"input": pt}),
            false,
        ),
        (
            "signer: verify",
            "signer",
            "POST",
            "/v1/transit/verify/sig".into(),
            json!({"input": pt, "signature": sig}),
            false,
        ),
        (
            "verifier: verify",
            "verifier",
            "POST",
            "/v1/transit/verify/sig".into(),
            json!({"input": pt, "signature": sig}),
            true,
        ),
        (
            "verifier: sign",
            "verifier",
            "POST",
            "/v1/transit/sign/sig".into(),
            json!({"input": pt}),
            false,
        ),
        // random / hash
        (
            "util: random",
            "util",
            "POST",
            "/v1/transit/random".into(),
            json!({}),
            true,
        ),
        (
            "util: random/16",
            "util",
            "POST",
            "/v1/transit/random/16".into(),
            json!({}),
            true,
        ),
        (
            "util: hash",
            "util",
            "POST",
            "/v1/transit/hash".into(),
            json!({"input": pt}),
            true,
        ),
        (
            "util: hash/sha2-512",
            "util",
            "POST",
            "/v1/transit/hash/sha2-512".into(),
            json!({"input": pt}),
            true,
        ),
        (
            "enc: random",
            "enc",
            "POST",
            "/v1/transit/random".into(),
            json!({}),
            false,
        ),
        (
            "enc: hash",
            "enc",
            "POST",
            "/v1/transit/hash".into(),
            json!({"input": pt}),
            false,
        ),
        // export / backup / restore
        (
            "backup: export",
            "backup",
            "GET",
            "/v1/transit/export/encryption-key/exp".into(),
            json!(null),
            true,
        ),
        (
            "backup: backup",
            "backup",
            "GET",
            "/v1/transit/backup/exp".into(),
            json!(null),
            true,
        ),
        (
            "backup: restore",
            "backup",
            "POST",
            "/v1/transit/restore/exp-copy".into(),
            json!({"backup": backup}),
            true,
        ),
        (
            "backup: restore without a name",
            "backup",
            "POST",
            "/v1/transit/restore".into(),
            json!({"backup": backup, "force": true}),
            false,
        ),
        (
            "enc: export",
            "enc",
            "GET",
            "/v1/transit/export/encryption-key/exp".into(),
            json!(null),
            false,
        ),
        (
            "enc: backup",
            "enc",
            "GET",
            "/v1/transit/backup/exp".into(),
            json!(null),
            false,
        ),
        (
            "enc: restore",
            "enc",
            "POST",
            "/v1/transit/restore/exp-2".into(),
            json!({"backup": backup}),
            false,
        ),
        // import / wrapping_key
        (
            "import: wrapping_key",
            "import",
            "GET",
            "/v1/transit/wrapping_key".into(),
            json!(null),
            true,
        ),
        (
            "enc: wrapping_key",
            "enc",
            "GET",
            "/v1/transit/wrapping_key".into(),
            json!(null),
            false,
        ),
        (
            "enc: import",
            "enc",
            "POST",
            "/v1/transit/keys/imp/import".into(),
            json!({"ciphertext": "AAAA"}),
            false,
        ),
        // tokens
        (
            "enc: lookup-self (default policy)",
            "enc",
            "GET",
            "/v1/auth/token/lookup-self".into(),
            json!(null),
            true,
        ),
        (
            "enc: create token",
            "enc",
            "POST",
            "/v1/auth/token/create".into(),
            json!({"policies": ["enc-app"]}),
            false,
        ),
        (
            "maker: create token",
            "maker",
            "POST",
            "/v1/auth/token/create".into(),
            json!({"policies": ["enc-app"]}),
            true,
        ),
        (
            "enc: lookup-accessor",
            "enc",
            "POST",
            "/v1/auth/token/lookup-accessor".into(),
            json!({"accessor": "00"}),
            false,
        ),
        (
            "enc: revoke-accessor",
            "enc",
            "POST",
            "/v1/auth/token/revoke-accessor".into(),
            json!({"accessor": "00"}),
            false,
        ),
        // policies
        (
            "policy: write",
            "policy",
            "PUT",
            "/v1/sys/policy/p1".into(),
            json!({"policy": "path \"transit/hash\" { capabilities = [\"update\"] }"}),
            true,
        ),
        (
            "policy: read",
            "policy",
            "GET",
            "/v1/sys/policy/p1".into(),
            json!(null),
            true,
        ),
        (
            "policy: list acl",
            "policy",
            "LIST",
            "/v1/sys/policies/acl".into(),
            json!(null),
            true,
        ),
        (
            "policy: read acl",
            "policy",
            "GET",
            "/v1/sys/policies/acl/p1".into(),
            json!(null),
            true,
        ),
        (
            "policy: delete",
            "policy",
            "DELETE",
            "/v1/sys/policy/p1".into(),
            json!(null),
            true,
        ),
        (
            "policy: write acl",
            "policy",
            "PUT",
            "/v1/sys/policies/acl/p2".into(),
            json!({"policy": "path \"a\" { capabilities = [\"read\"] }"}),
            false,
        ),
        (
            "enc: write policy",
            "enc",
            "PUT",
            "/v1/sys/policy/evil".into(),
            json!({"policy": "path \"*\" { capabilities = [\"sudo\", \"update\"] }"}),
            false,
        ),
        (
            "enc: read policy",
            "enc",
            "GET",
            "/v1/sys/policy/enc-app".into(),
            json!(null),
            false,
        ),
        (
            "enc: list policies",
            "enc",
            "GET",
            "/v1/sys/policy".into(),
            json!(null),
            false,
        ),
    ];
    for (case, who, method, path, body, allowed) in cases {
        let body = (!body.is_null()).then_some(body);
        let r = call(a, &tokens[who], method, &path, body).await;
        if allowed {
            assert!(
                (200..300).contains(&r.status),
                "{case}: expected success, got {} {}",
                r.status,
                String::from_utf8_lossy(&r.raw)
            );
        } else {
            assert_denied(&r, case);
        }
    }

    // Denied requests changed nothing.
    assert!(!exists(a, "new-2").await, "reader created new-2");
    assert!(!exists(a, "new-3").await, "updater created new-3");
    assert!(!exists(a, "exp-2").await, "enc restored exp-2");
    assert!(!exists(a, "imp").await, "enc imported imp");
    assert!(exists(a, "rot-1").await, "reader deleted rot-1");
    assert_eq!(
        latest_version(a, "rot-1").await,
        2,
        "only the updater rotated rot-1"
    );
    let r = call(a, ROOT, "GET", "/v1/sys/policy/evil", None).await;
    assert_eq!(r.status, 404, "a denied policy write stored something");
    let r = call(a, ROOT, "GET", "/v1/sys/policies/acl/p2", None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_lifecycle_ttl_uses_revoke_and_no_escalation() {
    let server = dev_server(ROOT);
    let a = server.addr;
    put_policy(
        a,
        "enc-app",
        r#"path "transit/encrypt/app-*" { capabilities = ["update"] }"#,
    )
    .await;
    put_policy(
        a,
        "maker",
        r#"path "auth/token/create" { capabilities = ["update"] }"#,
    )
    .await;
    ok(a, ROOT, "POST", "/v1/transit/keys/app-1", json!({})).await;
    let enc = json!({ "plaintext": b64("x") });

    // The create answer has Vault's auth block.
    let r = ok(
        a,
        ROOT,
        "POST",
        "/v1/auth/token/create",
        json!({"policies": ["enc-app"], "ttl": "1h", "num_uses": 0, "display_name": "app",
               "meta": {"team": "a"}, "no_parent": true}),
    )
    .await;
    let auth = &r["auth"];
    let t = auth["client_token"].as_str().unwrap().to_string();
    assert!(t.starts_with("hvs.") && t.len() > 40, "{t}");
    assert_eq!(auth["policies"], json!(["default", "enc-app"]));
    assert_eq!(auth["token_policies"], json!(["default", "enc-app"]));
    assert_eq!(auth["lease_duration"], 3600);
    assert_eq!(auth["renewable"], true);
    assert_eq!(auth["num_uses"], 0);
    let accessor = auth["accessor"].as_str().unwrap().to_string();
    assert_eq!(accessor.len(), 24);

    // Lookups: self (which shows the token it was asked with, as Vault's
    // `id` does: bao agent reads it), by token, by accessor.
    let me = call(a, &t, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(me.status, 200);
    let d = &me.body["data"];
    assert_eq!(d["accessor"], accessor.as_str());
    assert_eq!(d["policies"], json!(["default", "enc-app"]));
    assert_eq!(d["display_name"], "token-app");
    assert_eq!(d["meta"], json!({"team": "a"}));
    assert!(d["ttl"].as_u64().unwrap() > 3500);
    assert_eq!(d["id"], t.as_str());
    let by_token = ok(
        a,
        ROOT,
        "POST",
        "/v1/auth/token/lookup",
        json!({ "token": t }),
    )
    .await;
    assert_eq!(by_token["data"]["accessor"], accessor.as_str());
    let by_acc = ok(
        a,
        ROOT,
        "POST",
        "/v1/auth/token/lookup-accessor",
        json!({ "accessor": accessor }),
    )
    .await;
    assert_eq!(by_acc["data"]["policies"], json!(["default", "enc-app"]));

    // A child cannot get policies its creator lacks; it can get its own.
    let (maker, _) = token(a, &["maker", "enc-app"], json!({})).await;
    let r = call(
        a,
        &maker,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["enc-app", "maker", "root"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.raw));
    assert!(r.body["errors"][0].as_str().unwrap().contains("root"));
    let r = call(
        a,
        &maker,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["keys-admin"]})),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = call(
        a,
        &maker,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["enc-app"], "ttl": "30m"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    let child = r.body["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(r.body["auth"]["lease_duration"], 1800);
    // Without policies the child gets its creator's.
    let r = call(a, &maker, "POST", "/v1/auth/token/create", Some(json!({}))).await;
    assert_eq!(
        r.body["auth"]["policies"],
        json!(["default", "enc-app", "maker"])
    );
    assert_eq!(
        call(
            a,
            &child,
            "POST",
            "/v1/transit/encrypt/app-1",
            Some(enc.clone())
        )
        .await
        .status,
        200
    );

    // Bad create requests: 400 and no token.
    for (body, want) in [
        (json!({"ttl": "1y"}), "invalid ttl"),
        (json!({"policies": ["bad name!"]}), "invalid policy name"),
        (json!({"id": "my-token"}), "invalid token id"),
        (json!({"id": "hvs.a-long-enough-id"}), "invalid token id"),
        (json!({"id": "has a space in it"}), "invalid token id"),
        (json!({"num_uses": -1}), "invalid request body"),
    ] {
        let r = call(a, ROOT, "POST", "/v1/auth/token/create", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
        let e = r.body["errors"][0].as_str().unwrap();
        assert!(e.contains(want), "{body}: {e}");
    }

    // Revoking the creator revokes its children.
    ok(
        a,
        ROOT,
        "POST",
        "/v1/auth/token/revoke",
        json!({ "token": maker }),
    )
    .await;
    assert_denied(
        &call(a, &maker, "GET", "/v1/auth/token/lookup-self", None).await,
        "revoked maker",
    );
    assert_denied(
        &call(
            a,
            &child,
            "POST",
            "/v1/transit/encrypt/app-1",
            Some(enc.clone()),
        )
        .await,
        "child of a revoked token",
    );

    // revoke-accessor and revoke-self.
    let (t2, acc2) = token(a, &["enc-app"], json!({})).await;
    ok(
        a,
        ROOT,
        "POST",
        "/v1/auth/token/revoke-accessor",
        json!({ "accessor": acc2 }),
    )
    .await;
    assert_denied(
        &call(a, &t2, "GET", "/v1/auth/token/lookup-self", None).await,
        "revoked by accessor",
    );
    let r = call(
        a,
        ROOT,
        "POST",
        "/v1/auth/token/lookup-accessor",
        Some(json!({ "accessor": acc2 })),
    )
    .await;
    assert_eq!(r.status, 400);
    let (t3, _) = token(a, &["enc-app"], json!({})).await;
    let r = call(a, &t3, "POST", "/v1/auth/token/revoke-self", None).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.raw));
    assert_denied(
        &call(a, &t3, "GET", "/v1/auth/token/lookup-self", None).await,
        "revoked itself",
    );
    // Root cannot be revoked.
    let r = call(a, ROOT, "POST", "/v1/auth/token/revoke-self", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        call(a, ROOT, "GET", "/v1/auth/token/lookup-self", None)
            .await
            .status,
        200
    );

    // num_uses: three requests, then the token is gone; as in Vault, a
    // refused request uses one too (a limited token cannot probe the ACL
    // for free).
    let (limited, _) = token(a, &["enc-app"], json!({"num_uses": 3})).await;
    assert_denied(
        &call(
            a,
            &limited,
            "POST",
            "/v1/transit/encrypt/db-1",
            Some(enc.clone()),
        )
        .await,
        "limited token, not allowed",
    );
    let me = call(a, &limited, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(me.body["data"]["num_uses"], 1);
    let r = call(
        a,
        &limited,
        "POST",
        "/v1/transit/encrypt/app-1",
        Some(enc.clone()),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_denied(
        &call(
            a,
            &limited,
            "POST",
            "/v1/transit/encrypt/app-1",
            Some(enc.clone()),
        )
        .await,
        "used up",
    );

    // ttl: refused once expired.
    let (short, _) = token(a, &["enc-app"], json!({"ttl": "2s"})).await;
    assert_eq!(
        call(
            a,
            &short,
            "POST",
            "/v1/transit/encrypt/app-1",
            Some(enc.clone())
        )
        .await
        .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_denied(
        &call(
            a,
            &short,
            "POST",
            "/v1/transit/encrypt/app-1",
            Some(enc.clone()),
        )
        .await,
        "expired",
    );
    // A token with a ttl in seconds, as a number.
    let (_, acc) = token(a, &["enc-app"], json!({"ttl": 90})).await;
    let r = ok(
        a,
        ROOT,
        "POST",
        "/v1/auth/token/lookup-accessor",
        json!({ "accessor": acc }),
    )
    .await;
    assert_eq!(r["data"]["creation_ttl"], 90);
}

/// However the query spells `list=true`, a list request needs the `list`
/// capability: the guard, the audit and the handler read the same decoded
/// query (before, `?list=%74rue` listed every key name with `read` only).
#[tokio::test(flavor = "multi_thread")]
async fn every_spelling_of_a_list_needs_the_list_capability() {
    let server = dev_server(ROOT);
    let a = server.addr;
    ok(a, ROOT, "POST", "/v1/transit/keys/secret-name", json!({})).await;
    // `read` on the list route itself too: before, a GET with a list query
    // the guard did not recognise was checked as a read of it, and the
    // handler then listed.
    put_policy(
        a,
        "read-only",
        r#"path "transit/keys" { capabilities = ["read"] }
           path "transit/keys/*" { capabilities = ["read"] }"#,
    )
    .await;
    put_policy(
        a,
        "lister",
        r#"path "transit/keys/*" { capabilities = ["list"] }"#,
    )
    .await;
    let (reader, _) = token(a, &["read-only"], json!({})).await;
    let (lister, _) = token(a, &["lister"], json!({})).await;
    for query in [
        "list=true",
        "list=%74rue",
        "%6cist=true",
        "list=1",
        "x=1&list=true",
    ] {
        let path = format!("/v1/transit/keys?{query}");
        let r = call(a, &reader, "GET", &path, None).await;
        assert_denied(&r, &format!("read-only token: GET {path}"));
        assert!(
            !String::from_utf8_lossy(&r.raw).contains("secret-name"),
            "{path}: a key name leaked"
        );
        let r = call(a, &lister, "GET", &path, None).await;
        assert_eq!(r.status, 200, "lister: GET {path}: {:?}", r.body);
        assert_eq!(r.body["data"]["keys"], json!(["secret-name"]), "{path}");
    }
    // Without a list query, GET on the list route is a read, which the
    // route does not serve: 405, not the names.
    let r = call(a, &lister, "GET", "/v1/transit/keys?list=false", None).await;
    assert_denied(&r, "lister: GET ?list=false is a read");
    for token in [ROOT, reader.as_str()] {
        let r = call(a, token, "GET", "/v1/transit/keys?list=false", None).await;
        assert_eq!(r.status, 405, "{:?}", r.body);
    }
}

/// A forced restore replaces the key at `transit/keys/NAME`, so the
/// caller's policy must allow writing that path too, not only the restore
/// route (Vault asks only for the restore route): a `deny` on the key wins.
#[tokio::test(flavor = "multi_thread")]
async fn a_forced_restore_needs_the_keys_own_path() {
    let server = dev_server(ROOT);
    let a = server.addr;
    let opts = json!({"exportable": true, "allow_plaintext_backup": true});
    ok(a, ROOT, "POST", "/v1/transit/keys/secret-a", opts.clone()).await;
    ok(a, ROOT, "POST", "/v1/transit/keys/plain-a", opts).await;
    let backup = |name: &'static str| async move {
        let r = call(a, ROOT, "GET", &format!("/v1/transit/backup/{name}"), None).await;
        assert_eq!(r.status, 200, "backup {name}");
        r.body["data"]["backup"].clone()
    };
    let (secret_backup, plain_backup) = (backup("secret-a").await, backup("plain-a").await);
    ok(
        a,
        ROOT,
        "POST",
        "/v1/transit/keys/secret-a/rotate",
        json!({}),
    )
    .await;
    ok(
        a,
        ROOT,
        "POST",
        "/v1/transit/keys/plain-a/rotate",
        json!({}),
    )
    .await;
    put_policy(
        a,
        "restorer",
        r#"path "transit/restore/*" { capabilities = ["create", "update"] }
           path "transit/keys/*" { capabilities = ["create", "update", "read"] }
           path "transit/keys/secret-*" { capabilities = ["deny"] }"#,
    )
    .await;
    let (t, _) = token(a, &["restorer"], json!({})).await;
    let restore = |name: &'static str, backup: Value| {
        let t = t.clone();
        async move {
            call(
                a,
                &t,
                "POST",
                &format!("/v1/transit/restore/{name}"),
                Some(json!({"backup": backup, "force": true})),
            )
            .await
        }
    };
    assert_denied(
        &restore("secret-a", secret_backup.clone()).await,
        "forced restore over a denied key",
    );
    assert_eq!(
        latest_version(a, "secret-a").await,
        2,
        "the key was replaced"
    );
    // Allowed on the key's path: the restore goes through.
    let r = restore("plain-a", plain_backup).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(latest_version(a, "plain-a").await, 1);
    // Root may do anything.
    let r = call(
        a,
        ROOT,
        "POST",
        "/v1/transit/restore/secret-a",
        Some(json!({"backup": secret_backup, "force": true})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(latest_version(a, "secret-a").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_policies_are_refused_and_everything_survives_a_restart() {
    let server = dev_server(ROOT);
    let a = server.addr;
    for (text, want) in [
        ("path \"transit/*\" {", "not valid HCL"),
        (
            "path \"transit/*\" { capabilities = [\"fly\"] }",
            "unknown capability \"fly\"",
        ),
        (
            "path \"a*b\" { capabilities = [\"read\"] }",
            "only at the end",
        ),
        ("", "empty"),
    ] {
        let r = call(
            a,
            ROOT,
            "PUT",
            "/v1/sys/policy/broken",
            Some(json!({ "policy": text })),
        )
        .await;
        assert_eq!(r.status, 400, "{text}");
        let e = r.body["errors"][0].as_str().unwrap();
        assert!(e.contains(want), "{text}: {e}");
        assert_eq!(
            call(a, ROOT, "GET", "/v1/sys/policy/broken", None)
                .await
                .status,
            404,
            "{text}: stored anyway"
        );
    }
    for (method, path, body) in [
        (
            "PUT",
            "/v1/sys/policy/root",
            json!({"policy": "path \"a\" { capabilities = [\"read\"] }"}),
        ),
        ("DELETE", "/v1/sys/policy/root", json!(null)),
        ("DELETE", "/v1/sys/policy/default", json!(null)),
    ] {
        let body = (!body.is_null()).then_some(body);
        let r = call(a, ROOT, method, path, body).await;
        assert_eq!(r.status, 400, "{method} {path}");
    }
    let list = call(a, ROOT, "GET", "/v1/sys/policy", None).await;
    assert_eq!(list.body["data"]["policies"], json!(["default", "root"]));
    let default = call(a, ROOT, "GET", "/v1/sys/policy/default", None).await;
    assert!(default.body["data"]["rules"]
        .as_str()
        .unwrap()
        .contains("auth/token/lookup-self"));

    put_policy(
        a,
        "enc-app",
        r#"path "transit/encrypt/app-*" { capabilities = ["update"] }"#,
    )
    .await;
    ok(a, ROOT, "POST", "/v1/transit/keys/app-1", json!({})).await;
    let (t, _) = token(a, &["enc-app"], json!({"num_uses": 5})).await;
    let enc = json!({ "plaintext": b64("x") });
    assert_eq!(
        call(
            a,
            &t,
            "POST",
            "/v1/transit/encrypt/app-1",
            Some(enc.clone())
        )
        .await
        .status,
        200
    );
    let (gone, _) = token(a, &["enc-app"], json!({})).await;
    ok(
        a,
        ROOT,
        "POST",
        "/v1/auth/token/revoke",
        json!({ "token": gone }),
    )
    .await;

    // Restart on the same data: tokens, their remaining uses, and policies
    // are still there; the revoked token stays revoked; no token is on disk.
    let (status, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    for secret in [&t, &gone] {
        for entry in walk(data_dir.path()) {
            let bytes = std::fs::read(&entry).unwrap();
            assert!(
                !minikms_testkit::contains(&bytes, secret.as_bytes()),
                "a token is in {}",
                entry.display()
            );
        }
    }
    let server = Server::try_start_in(data_dir, &["--simulation"]).unwrap();
    let a = server.addr;
    let me = call(a, &t, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["data"]["num_uses"], 3);
    assert_eq!(
        call(
            a,
            &t,
            "POST",
            "/v1/transit/encrypt/app-1",
            Some(enc.clone())
        )
        .await
        .status,
        200
    );
    assert_denied(
        &call(a, &t, "POST", "/v1/transit/decrypt/app-1", Some(json!({}))).await,
        "after restart, still only encrypt",
    );
    assert_denied(
        &call(a, &gone, "GET", "/v1/auth/token/lookup-self", None).await,
        "revoked before restart",
    );
    let r = call(a, ROOT, "GET", "/v1/sys/policies/acl/enc-app", None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["data"]["policy"]
        .as_str()
        .unwrap()
        .contains("transit/encrypt/app-*"));
}
