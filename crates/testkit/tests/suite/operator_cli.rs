//! What the `bao` CLI and Vault's tools ask beyond Transit (issue 37):
//! `sys/leader` (`bao status`, and `bao operator unseal` after each share,
//! sealed or not), `sys/audit` (`bao audit list`), `sys/host-info` (a 404
//! that says why), `pgp_keys` sent base64-encoded (`bao operator init
//! -pgp-keys=a.pem,...`), policies in Vault's own HCL 1 (the examples of
//! Vault's and OpenBao's documentation, verbatim, and the one-line forms),
//! a token `ttl` over the maximum capped with Vault's warning, and the
//! request body limit (`kms-host run --max-request-size`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use minikms_testkit::{copy_dir, https, kms_host, Server};
use serde_json::{json, Value};

use crate::common::{call, dev_server, ok, openssl};

const ROOT: &str = "s.operator-cli-root-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Policy examples of Vault's and OpenBao's documentation, verbatim (each
/// code block as the page shows it), with the page they come from.
const DOC_POLICIES: &[(&str, &str)] = &[
    (
        "https://github.com/hashicorp/vault/blob/main/website/content/docs/concepts/policies.mdx",
        r#"path "secret/foo" {
  capabilities = ["read"]
}
"#,
    ),
    (
        "https://github.com/hashicorp/vault/blob/main/website/content/docs/concepts/policies.mdx",
        r#"# This section grants all access on "secret/*". Further restrictions can be
# applied to this broad policy, as shown below.
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

# Even though we allowed secret/*, this line explicitly denies
# secret/super-secret. This takes precedence.
path "secret/super-secret" {
  capabilities = ["deny"]
}

# Policies can also specify allowed, disallowed, and required parameters. Here
# the key "secret/restricted" can only contain "foo" (any value) and "bar" (one
# of "zip" or "zap").
path "secret/restricted" {
  capabilities = ["create"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap"]
  }
}
"#,
    ),
    (
        "https://github.com/hashicorp/vault/blob/main/website/content/docs/concepts/policies.mdx",
        r#"# Permit reading the "teamb" path under any top-level path under secret/
path "secret/+/teamb" {
  capabilities = ["read"]
}

# Permit reading secret/foo/bar/teamb, secret/bar/foo/teamb, etc.
path "secret/+/+/teamb" {
  capabilities = ["read"]
}
"#,
    ),
    (
        "https://github.com/hashicorp/vault/blob/main/website/content/docs/concepts/policies.mdx",
        r#"path "secret/data/{{identity.entity.id}}/*" {
  capabilities = ["create", "update", "patch", "read", "delete"]
}

path "secret/metadata/{{identity.entity.id}}/*" {
  capabilities = ["list"]
}
"#,
    ),
    (
        "https://github.com/hashicorp/vault/blob/main/website/content/docs/concepts/policies.mdx",
        r#"    # This allows the user to create "secret/foo" with a parameter named
    # "bar". The parameter "bar" can only contain the values "zip" or "zap",
    # but any other parameters may be created with any value.
    path "secret/foo" {
      capabilities = ["create"]
      allowed_parameters = {
        "bar" = ["zip", "zap"]
        "*"   = []
      }
    }
"#,
    ),
    (
        "https://github.com/openbao/openbao/blob/main/website/content/docs/concepts/policies.mdx",
        r#"    # This allows the user to create or update an encryption key for transit
    # secrets engine enabled at "transit/". When you do, you can set the
    # "auto_rotate_period" parameter value so that the key gets rotated.
    # However, the rotation period must be "8h", "24h", or "5d". Any other value
    # will result in an error.
    path "transit/keys/*" {
      capabilities = ["create", "update"]
      allowed_parameters = {
        "auto_rotate_period" = ["8h", "24h", "5d"]
      }
    }
"#,
    ),
    (
        "https://github.com/openbao/openbao/blob/main/website/content/docs/concepts/policies.mdx",
        r#"    # This allows the user to create or update an encryption key for transit
    # secrets engine enabled at "transit/". However, the user cannot set any of
    # the configuration parameters. As a result, the created key will have all
    # parameters set to default values.
    path "transit/keys/*" {
      capabilities = ["create", "update"]
      denied_parameters = {
        "*" = []
      }
    }
"#,
    ),
    (
        "https://github.com/openbao/openbao/blob/main/website/content/docs/concepts/policies.mdx",
        r#"path "secret/foo" {
  capabilities = ["create"]
  required_parameters = ["no_store"]
  denied_parameters = {
    "no_store" = [false, "false"]
  }
}
"#,
    ),
    (
        "https://github.com/openbao/openbao/blob/main/website/content/docs/concepts/policies.mdx",
        r#"# This effectively makes response wrapping mandatory for this path by setting min_wrapping_ttl to 1 second.
# This also sets this path's wrapped response maximum allowed TTL to 90 seconds.
path "auth/approle/role/my-role/secret-id" {
    capabilities = ["create", "update"]
    min_wrapping_ttl = "1s"
    max_wrapping_ttl = "90s"
}
"#,
    ),
];

/// HCL 1 forms that HCL 2 refuses, each with a request its token may
/// make: several attributes on one line, commas between them, quoted
/// attribute names, Vault's older `policy = "write"`.
const ONE_LINE_POLICIES: &[&str] = &[
    r#"path "transit/encrypt/app-*" { capabilities = ["update"] allowed_parameters = { "plaintext" = [] } }"#,
    r#"path "transit/encrypt/app-*" { capabilities = ["update"], comment = "apps", }"#,
    r#"path "transit/encrypt/app-*" { "capabilities" = ["create", "update"] "policy" = "read" }"#,
    r#"path "transit/encrypt/app-*" { policy = "write" }"#,
];

async fn enc(server: &Server, token: &str, body: Value) -> https::Response {
    call(server, token, "POST", "/v1/transit/encrypt/app-1", body).await
}

/// A token with only `policies`, as root makes it.
async fn token_with(server: &Server, policies: &[&str]) -> String {
    let made = ok(
        server,
        ROOT,
        "POST",
        "/v1/auth/token/create",
        json!({ "policies": policies, "ttl": "10m" }),
    )
    .await;
    made["auth"]["client_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_s_operator_routes_policies_and_limits_answer_as_vault() {
    let server = dev_server(ROOT);

    // `bao status`: sys/leader, open, as Vault without HA answers it.
    let leader = https::get(server.addr, "/v1/sys/leader").await;
    assert_eq!(
        leader.status,
        200,
        "{}",
        String::from_utf8_lossy(&leader.raw)
    );
    assert_eq!(leader.body, json!({ "ha_enabled": false }));

    // `bao audit list`: the signed file log, in Vault's shape (in `data`
    // and at the top level, as Vault's older sys routes answer).
    let audit = ok(&server, ROOT, "GET", "/v1/sys/audit", None).await;
    for device in [&audit["data"]["file/"], &audit["file/"]] {
        assert_eq!(device["type"], json!("file"), "{audit}");
        let path = device["options"]["file_path"].as_str().unwrap();
        assert!(
            path.starts_with(server.data_dir.path().to_str().unwrap()),
            "{path}"
        );
    }
    let app = token_with(&server, &["default"]).await;
    let denied = call(&server, &app, "GET", "/v1/sys/audit", None).await;
    assert_eq!(
        denied.status, 403,
        "an ordinary token lists the audit devices"
    );

    // sys/host-info: a 404 that says why.
    let info = call(&server, ROOT, "GET", "/v1/sys/host-info", None).await;
    assert_eq!(info.status, 404);
    let e = info.body["errors"][0].as_str().unwrap();
    assert!(e.contains("sys/host-info is not served"), "{e}");

    // A ttl over 768h is capped, with Vault's warning, not refused.
    let made = ok(
        &server,
        ROOT,
        "POST",
        "/v1/auth/token/create",
        json!({ "ttl": "1000h" }),
    )
    .await;
    assert_eq!(made["auth"]["lease_duration"], json!(768 * 3600));
    assert_eq!(
        made["warnings"],
        json!([
            "TTL of \"1000h0m0s\" exceeded the effective max_ttl of \"768h0m0s\"; TTL value is capped accordingly"
        ])
    );

    // Vault's documented policies load unchanged.
    for (i, (source, text)) in DOC_POLICIES.iter().enumerate() {
        let name = format!("doc-{i}");
        let path = format!("/v1/sys/policy/{name}");
        let r = call(&server, ROOT, "PUT", &path, json!({ "policy": text })).await;
        assert_eq!(
            r.status,
            204,
            "{source} #{i}: {}",
            String::from_utf8_lossy(&r.raw)
        );
        let back = ok(&server, ROOT, "GET", &path, None).await;
        assert_eq!(back["data"]["rules"], json!(text), "{source} #{i}");
    }
    // The wrapping example's rule grants nothing here: no answer is ever
    // wrapped, so nothing would pass Vault's `min_wrapping_ttl`.
    let wrapped = token_with(&server, &["doc-8"]).await;
    let caps = ok(
        &server,
        &wrapped,
        "POST",
        "/v1/sys/capabilities-self",
        json!({ "path": "auth/approle/role/my-role/secret-id" }),
    )
    .await;
    assert_eq!(caps["data"]["capabilities"], json!(["deny"]));

    // The one-line forms load, and mean what Vault reads in them.
    ok(&server, ROOT, "POST", "/v1/transit/keys/app-1", None).await;
    let plain = json!({ "plaintext": "aGk=" });
    for (i, text) in ONE_LINE_POLICIES.iter().enumerate() {
        let name = format!("one-line-{i}");
        let path = format!("/v1/sys/policy/{name}");
        let r = call(&server, ROOT, "PUT", &path, json!({ "policy": text })).await;
        assert_eq!(r.status, 204, "{text}: {}", String::from_utf8_lossy(&r.raw));
        let token = token_with(&server, &[&name]).await;
        let r = enc(&server, &token, plain.clone()).await;
        assert_eq!(r.status, 200, "{text}: {}", String::from_utf8_lossy(&r.raw));
        let other = call(&server, &token, "GET", "/v1/transit/keys/app-1", None).await;
        assert_eq!(other.status, 403, "{text} allowed a key read");
    }

    // A 2 MiB plaintext fits the default limit (4 MiB), and comes back.
    let big: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let r = enc(&server, ROOT, json!({ "plaintext": B64.encode(&big) })).await;
    assert_eq!(
        r.status,
        200,
        "{}",
        String::from_utf8_lossy(&r.raw[..200.min(r.raw.len())])
    );
    let ct = r.body["data"]["ciphertext"].clone();
    let back = ok(
        &server,
        ROOT,
        "POST",
        "/v1/transit/decrypt/app-1",
        json!({ "ciphertext": ct }),
    )
    .await;
    assert_eq!(
        B64.decode(back["data"]["plaintext"].as_str().unwrap())
            .unwrap(),
        big
    );
    // Without a valid token, a body stays within 1 MiB whatever the limit.
    let r = https::send_json(
        server.addr,
        "PUT",
        "/v1/sys/unseal",
        &[],
        Some(&json!({ "key": "a".repeat(1024 * 1024 + 1) })),
    )
    .await;
    assert_eq!(r.status, 413);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_size_limit_is_the_operator_s_within_bounds() {
    // Out of bounds: refused before anything starts.
    for bad in ["1", "33554433"] {
        let out = kms_host(&["run", "--simulation", "--max-request-size", bad]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--max-request-size"), "{err}");
    }
    let server = Server::try_start(&[
        "--simulation",
        "--dev-root-token",
        ROOT,
        "--max-request-size",
        "65536",
    ])
    .unwrap();
    ok(&server, ROOT, "POST", "/v1/transit/keys/app-1", None).await;
    let r = enc(
        &server,
        ROOT,
        json!({ "plaintext": B64.encode([7u8; 60_000]) }),
    )
    .await;
    assert_eq!(r.status, 413);
    let e = r.body["errors"][0].as_str().unwrap();
    assert!(e.contains("limit 65536 bytes"), "{e}");
    let r = enc(
        &server,
        ROOT,
        json!({ "plaintext": B64.encode([7u8; 40_000]) }),
    )
    .await;
    assert_eq!(r.status, 200);
}

/// `bao operator init -pgp-keys=a.pem,b.pem` sends each file
/// base64-encoded; a sealed server then answers `sys/leader`, which `bao
/// operator unseal` reads after each share.
#[tokio::test(flavor = "multi_thread")]
async fn init_takes_base64_keys_and_a_sealed_server_answers_sys_leader() {
    let work = tempfile::tempdir().unwrap();
    let mut keys = Vec::new();
    let mut sent = Vec::new();
    for name in ["a", "b"] {
        let key = work.path().join(format!("{name}.pem"));
        openssl(&["genrsa", "-out", key.to_str().unwrap(), "2048"]);
        let public = openssl(&["rsa", "-in", key.to_str().unwrap(), "-pubout"]);
        sent.push(B64.encode(&public));
        keys.push(key);
    }
    let server = Server::try_start(&["--simulation"]).unwrap();
    let body = json!({"secret_shares": 2, "secret_threshold": 2, "pgp_keys": sent});
    let r = https::send_json(server.addr, "PUT", "/v1/sys/init", &[], Some(&body)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(r.body["keys_encrypted"], json!(true));
    let shares: Vec<String> = r.body["keys_base64"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&keys)
        .map(|(enc, key)| {
            let file = work.path().join("share.enc");
            std::fs::write(&file, B64.decode(enc.as_str().unwrap()).unwrap()).unwrap();
            B64.encode(openssl(&[
                "pkeyutl",
                "-decrypt",
                "-inkey",
                key.to_str().unwrap(),
                "-in",
                file.to_str().unwrap(),
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
            ]))
        })
        .collect();
    let (_, old_dir) = server.stop_keeping_data(libc::SIGTERM);

    // A new machine: sealed until the shares are given.
    let new_dir = tempfile::tempdir().unwrap();
    copy_dir(old_dir.path(), new_dir.path());
    std::fs::remove_file(new_dir.path().join("sim-platform-fuses")).unwrap();
    let server = Server::try_start_in(new_dir, &["--simulation"]).unwrap();
    for share in &shares {
        let leader = https::get(server.addr, "/v1/sys/leader").await;
        assert_eq!(
            leader.status,
            200,
            "{}",
            String::from_utf8_lossy(&leader.raw)
        );
        assert_eq!(leader.body["ha_enabled"], json!(false));
        let r = https::send_json(
            server.addr,
            "PUT",
            "/v1/sys/unseal",
            &[],
            Some(&json!({ "key": share })),
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    }
    let leader = https::get(server.addr, "/v1/sys/leader").await;
    assert_eq!(leader.status, 200);
    assert_eq!(
        server.get("/v1/sys/seal-status").await.body["sealed"],
        json!(false)
    );
}
