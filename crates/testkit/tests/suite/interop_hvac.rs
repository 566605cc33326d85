//! Interoperability: the Python Vault client `hvac` (pinned) drives the real
//! server through `client.secrets.transit`, and Python `cryptography`
//! cross-checks what it returns; then hvac initialises a server with
//! recovery shares and unseals its data dir on a "new machine". The script makes its own virtualenv and
//! installs the pinned packages from PyPI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minikms_testkit::run_interop;

#[test]
fn hvac_drives_the_transit_api() {
    let stdout = run_interop("hvac");
    assert!(stdout.contains("interop: "), "{stdout}");
    assert!(stdout.contains("recovery checks passed"), "{stdout}");
}
