//! Helpers more than one area's tests use: one copy each.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use minikms_testkit::{https, Server};
use serde_json::Value;

/// A simulated server, initialised with the root token `root` (`kms-host
/// run --dev-root-token`).
pub fn dev_server(root: &str) -> Server {
    Server::try_start(&["--simulation", "--dev-root-token", root])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"))
}

/// Where a request goes: a server, or an address.
pub trait At {
    fn at(&self) -> SocketAddr;
}

impl At for SocketAddr {
    fn at(&self) -> SocketAddr {
        *self
    }
}

impl At for Server {
    fn at(&self) -> SocketAddr {
        self.addr
    }
}

impl<T: At + ?Sized> At for &T {
    fn at(&self) -> SocketAddr {
        (**self).at()
    }
}

/// `METHOD path` as `token`, with a JSON body (or none).
pub async fn call(
    to: impl At,
    token: &str,
    method: &str,
    path: &str,
    body: impl Into<Option<Value>>,
) -> https::Response {
    let body = body.into();
    https::send_json(
        to.at(),
        method,
        path,
        &[("X-Vault-Token", token)],
        body.as_ref(),
    )
    .await
}

/// [`call`], which must succeed (2xx); its body.
pub async fn ok(
    to: impl At,
    token: &str,
    method: &str,
    path: &str,
    body: impl Into<Option<Value>>,
) -> Value {
    let r = call(to, token, method, path, body).await;
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.raw)
    );
    r.body
}

/// `sys/seal-status`, which answers sealed or not.
pub async fn seal_status(server: &Server) -> Value {
    let r = server.get("/v1/sys/seal-status").await;
    assert_eq!(r.status, 200);
    r.body
}

/// `openssl ARGS`, which must succeed; its output.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The audit log of the server whose data dir is `data_dir`.
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join("enclave").join("audit.log")
}

/// The entries of the audit log `file`, one JSON value each.
pub fn entries(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
