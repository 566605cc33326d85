//! Replicas 3 ms from PostgreSQL (the test kit's delay proxy between each
//! replica and the database): reads cost one round trip, a key create at
//! most four (counted by the proxy, whatever the machine's load), writes
//! acknowledged by one replica are seen by the next request to another,
//! none is lost, and a replica cut off from its database stops serving
//! within the bound docs/replicas.md states (5 s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use minikms_testkit::delay::Delay;
use minikms_testkit::postgres::Postgres;
use minikms_testkit::{https, Server};
use serde_json::{json, Value};

use crate::common;

const TOKEN: &str = "hvs.replicas-far-test-root";
const ROUND_TRIP: Duration = Duration::from_millis(3);
/// How long a request may take before the test calls it unanswered: the
/// bound (5 s) with room for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(15);

/// A proxy 3 ms from `pg`, and a replica on it: the first (initialising
/// the database), or one joining `peer`.
fn far_replica(pg: &Postgres, peer: Option<&Server>) -> (Delay, Server) {
    let upstream: SocketAddr = format!("127.0.0.1:{}", pg.port).parse().unwrap();
    let proxy = Delay::start(upstream, ROUND_TRIP);
    let url = proxy.url(&pg.url, pg.port);
    let join = peer.map(|p| format!("https://{}", p.addr));
    let mut args = vec!["--simulation", "--storage", &url, "--dev-root-token", TOKEN];
    if let Some(join) = &join {
        args.extend(["--join", join]);
    }
    let server = Server::try_start(&args)
        .unwrap_or_else(|r| panic!("a replica 3 ms from its database did not start: {r:?}"));
    (proxy, server)
}

/// `call` as `token`, given up on after [`PATIENCE`].
async fn call_as(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> https::Response {
    let answer = common::call(server, token, method, path, body);
    tokio::time::timeout(PATIENCE, answer)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} on {}: no answer", server.addr))
}

async fn ok(server: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let r = call_as(server, TOKEN, method, path, body).await;
    assert!(
        r.status == 200 || r.status == 204,
        "{method} {path} on {}: {} {}",
        server.addr,
        r.status,
        r.body
    );
    r.body
}

#[tokio::test(flavor = "multi_thread")]
async fn far_replicas_read_their_writes_in_few_round_trips_and_lose_nothing() {
    let pg = Postgres::start();
    let (pa, a) = far_replica(&pg, None);
    let (pb, b) = far_replica(&pg, Some(&a));

    // A key create costs at most 4 round trips (catch-up, then the
    // write's two); one more may be the background round.
    let before = pa.turns();
    for i in 0..3 {
        ok(
            &a,
            "POST",
            &format!("/v1/transit/keys/k{i}"),
            Some(json!({})),
        )
        .await;
    }
    let turns = pa.turns() - before;
    assert!(turns <= 3 * 4 + 1, "3 key creates cost {turns} round trips");

    // An encrypt costs one round trip (its catch-up).
    let plain = json!({"plaintext": "ZmFyIGF3YXk="});
    ok(&b, "POST", "/v1/transit/encrypt/k0", Some(plain.clone())).await;
    let before = pb.turns();
    for _ in 0..10 {
        ok(&b, "POST", "/v1/transit/encrypt/k0", Some(plain.clone())).await;
    }
    let turns = pb.turns() - before;
    assert!(turns <= 10 + 1, "10 encrypts cost {turns} round trips");

    // Revoked on A: refused on B right after the acknowledgement.
    let policy = r#"path "transit/encrypt/k0" { capabilities = ["update"] }"#;
    ok(
        &a,
        "PUT",
        "/v1/sys/policy/enc",
        Some(json!({"policy": policy})),
    )
    .await;
    let made = ok(
        &a,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["enc"]})),
    )
    .await;
    let token = made["auth"]["client_token"].as_str().unwrap().to_string();
    let path = "/v1/transit/encrypt/k0";
    let used = call_as(&b, &token, "POST", path, Some(plain.clone())).await;
    assert_eq!(used.status, 200, "{}", used.body);
    ok(
        &a,
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({"token": token})),
    )
    .await;
    let r = call_as(&b, &token, "POST", path, Some(plain.clone())).await;
    assert_eq!(r.status, 403, "a revoked token served on B: {}", r.body);

    // Concurrent creates on both: every acknowledged one is on both.
    let mut creates = Vec::new();
    for i in 0..8 {
        for (s, side) in [(a.addr, "a"), (b.addr, "b")] {
            creates.push(tokio::spawn(async move {
                let path = format!("/v1/transit/keys/c-{side}-{i}");
                let headers = [("X-Vault-Token", TOKEN)];
                let r = https::send_json(s, "POST", &path, &headers, Some(&json!({}))).await;
                (path, r.status)
            }));
        }
    }
    let mut acknowledged = Vec::new();
    for c in creates {
        let (path, status) = tokio::time::timeout(PATIENCE, c).await.unwrap().unwrap();
        if status == 200 || status == 204 {
            acknowledged.push(path);
        }
    }
    assert_eq!(acknowledged.len(), 16, "{acknowledged:?}");
    for s in [&a, &b] {
        for path in &acknowledged {
            ok(s, "GET", path, None).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_cut_off_from_its_database_stops_serving_within_the_bound() {
    let pg = Postgres::start();
    let (proxy, a) = far_replica(&pg, None);
    ok(&a, "POST", "/v1/transit/keys/k", Some(json!({}))).await;
    let plain = json!({"plaintext": "Y3V0IG9mZg=="});
    ok(&a, "POST", "/v1/transit/encrypt/k", Some(plain.clone())).await;

    proxy.cut();
    // Refused (503), not served from what it knew, and not left hanging.
    for path in ["/v1/transit/encrypt/k", "/v1/transit/keys/k"] {
        let method = if path.contains("encrypt") {
            "POST"
        } else {
            "GET"
        };
        let body = (method == "POST").then(|| plain.clone());
        let r = call_as(&a, TOKEN, method, path, body).await;
        assert_eq!(r.status, 503, "{method} {path} while cut off: {}", r.body);
        assert!(
            r.body.to_string().contains("unreachable"),
            "{method} {path}: {}",
            r.body
        );
    }
    // Health reports it too (from the last round: it waits for none).
    let mut health = None;
    for _ in 0..(PATIENCE.as_millis() / 200) {
        let r = tokio::time::timeout(PATIENCE, a.get("/v1/sys/health"))
            .await
            .expect("sys/health answers while the database is cut off");
        if r.status == 503 {
            assert!(r.body["storage_error"].is_string(), "{}", r.body);
            health = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(health.is_some(), "sys/health never reported the cut");

    // Healed: serving again without a restart.
    proxy.heal();
    let mut last = None;
    for _ in 0..100 {
        let r = call_as(
            &a,
            TOKEN,
            "POST",
            "/v1/transit/encrypt/k",
            Some(plain.clone()),
        )
        .await;
        if r.status == 200 {
            return;
        }
        last = Some((r.status, r.body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still refusing after the database came back: {last:?}");
}
