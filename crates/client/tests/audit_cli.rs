//! `minikms audit verify`, run as a process: the policy flags of `minikms
//! verify`, exit 1 with one line naming the failure. Real logs are checked
//! end to end in crates/testkit/tests/audit.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn minikms(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minikms"))
        .args(args)
        .output()
        .unwrap()
}

fn fails(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    err.trim_end().to_owned()
}

#[test]
fn audit_verify_takes_the_policy_flags() {
    let help = minikms(&["audit", "verify", "--help"]);
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--mrenclave",
        "--mrsigner",
        "--product-id",
        "--min-svn",
        "--allow-debug",
        "--allow-simulation",
        "--accept-tcb",
        "--collateral",
        "--offline",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn bad_logs_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, content: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let empty = file("empty.log", b"");
    assert!(fails(&minikms(&["audit", "verify", &empty])).ends_with("the audit log is empty"));
    let garbage = file("garbage.log", b"{\"hello\": 1}\n");
    let err = fails(&minikms(&[
        "audit",
        "verify",
        &garbage,
        "--allow-simulation",
    ]));
    assert!(err.contains("entry 1: malformed"), "{err}");
    let missing = dir.path().join("missing.log");
    let err = fails(&minikms(&["audit", "verify", missing.to_str().unwrap()]));
    assert!(err.starts_with("cannot read"), "{err}");
}
