//! Every launch refusal, each with its one error line: no panic, no
//! backtrace, non-zero exit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aws_lc_rs::encoding::AsDer;
use minikms_edl::Ocall;
use minikms_testkit::{
    bin, kms_host, kms_host_sign, shared_signing_key, shipped_config, Refusal, Server,
};

/// The refusal contract: failed, and the one error line says `want`.
fn assert_one_error_line(ok: bool, stderr: &str, want: &str) {
    assert!(!ok, "should have failed; stderr:\n{stderr}");
    let errors: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("kms-host: error: "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "exactly one error line expected:\n{stderr}"
    );
    assert!(
        errors[0].contains(want),
        "{:?} should say {want:?}",
        errors[0]
    );
    assert_eq!(
        stderr.lines().last(),
        Some(errors[0]),
        "the error line comes last:\n{stderr}"
    );
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "{stderr}");
    }
}

fn refused(output: &Output, want: &str) {
    assert_one_error_line(
        output.status.success(),
        &String::from_utf8_lossy(&output.stderr),
        want,
    );
}

fn run_refused(result: Result<Server, Refusal>, want: &str) {
    match result {
        Ok(server) => panic!("server started on {}", server.addr),
        Err(r) => assert_one_error_line(r.status.success(), &r.stderr, want),
    }
}

/// `kms-host sign` with the shared key and shipped config; returns the
/// signed file and the MRENCLAVE it printed.
fn sign(dir: &Path, key: &Path, host: &Path) -> (PathBuf, String) {
    let out = dir.join("enclave.signed");
    let output = Command::new(host)
        .args(["sign", "--key"])
        .arg(key)
        .arg("--config")
        .arg(shipped_config())
        .arg("--enclave")
        .arg(bin("minikms-enclave"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
    };
    let mrenclave = field("MRENCLAVE");
    field("MRSIGNER");
    (out, mrenclave)
}

fn signed_enclave(dir: &Path) -> PathBuf {
    sign(dir, shared_signing_key(), &bin("kms-host")).0
}

/// Flips the byte at the offset `at(file length)` returns.
fn flip_byte(path: &Path, at: impl Fn(usize) -> usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = at(bytes.len());
    bytes[i] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// Offset of a byte of the binary that the ELF loader never maps (inside
/// the `.comment` section), so the changed program still starts and
/// only the measurement notices.
fn unloaded_byte(signed: &Path) -> usize {
    let bytes = std::fs::read(signed).unwrap();
    let needle = b"Linker: ";
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("a .comment section")
}

const TRAILER: usize = 32;
const SIGSTRUCT: usize = 1808;

#[test]
fn run_without_simulation_needs_sgx_hardware() {
    let devices = ["/dev/sgx_enclave", "/dev/sgx/enclave", "/dev/isgx"];
    if devices.iter().any(|d| Path::new(d).exists()) {
        eprintln!(
            "skipped: this machine has SGX hardware, so the no-hardware refusal cannot be seen"
        );
        return;
    }
    run_refused(Server::try_start(&[]), "no SGX hardware on this machine");
    run_refused(Server::try_start(&[]), "kms-host run --simulation");
}

#[test]
fn a_forged_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_enclave(dir.path());
    // A byte inside the SIGSTRUCT's signature field.
    flip_byte(&signed, |len| len - TRAILER - SIGSTRUCT + 516 + 100);
    run_refused(
        Server::try_start(&["--simulation", signed.to_str().unwrap()]),
        "enclave signature does not verify",
    );
    // A byte of a signed field (ISVSVN) breaks the signature too.
    let signed = signed_enclave(dir.path());
    flip_byte(&signed, |len| len - TRAILER - SIGSTRUCT + 1026);
    run_refused(
        Server::try_start(&["--simulation", signed.to_str().unwrap()]),
        "enclave signature does not verify",
    );
}

#[test]
fn a_binary_changed_after_signing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_enclave(dir.path());
    let at = unloaded_byte(&signed);
    flip_byte(&signed, |_| at);
    run_refused(
        Server::try_start(&["--simulation", signed.to_str().unwrap()]),
        "enclave measurement mismatch",
    );
}

#[test]
fn the_enclave_refuses_to_run_when_its_own_file_does_not_match() {
    // Bypass the host's check: launch the enclave directly, as a host that
    // swapped the file after checking it would, and read its first OCALL.
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_enclave(dir.path());
    let at = unloaded_byte(&signed);
    flip_byte(&signed, |_| at);
    let unsigned = bin("minikms-enclave");
    for (file, want) in [
        (
            signed.as_path(),
            "enclave self-check failed: enclave measurement mismatch",
        ),
        (
            unsigned.as_path(),
            "enclave self-check failed: not a signed enclave",
        ),
    ] {
        let output = Command::new(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!output.status.success());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let first: Option<Ocall> = rt
            .block_on(minikms_edl::read_message(&mut &output.stdout[..]))
            .unwrap();
        match first {
            Some(Ocall::Refused { reason }) => assert!(reason.contains(want), "{reason}"),
            other => panic!("expected refused, got {other:?}"),
        }
    }
}

#[test]
fn an_unsigned_or_unreadable_enclave_is_refused() {
    let unsigned = bin("minikms-enclave");
    run_refused(
        Server::try_start(&["--simulation", unsigned.to_str().unwrap()]),
        "not a signed enclave: no minikms signature trailer",
    );
    run_refused(
        Server::try_start(&["--simulation", "/nonexistent/enclave.signed"]),
        "cannot read /nonexistent/enclave.signed",
    );
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_enclave(dir.path());
    std::fs::set_permissions(&signed, std::fs::Permissions::from_mode(0o644)).unwrap();
    run_refused(
        Server::try_start(&["--simulation", signed.to_str().unwrap()]),
        "chmod +x",
    );
}

#[test]
fn signing_keys_other_than_rsa3072_e3_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write_pem = |name: &str, tag: &str, der: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem::encode(&pem::Pem::new(tag, der))).unwrap();
        path
    };
    let rsa = |size| {
        aws_lc_rs::rsa::PrivateDecryptingKey::generate(size)
            .unwrap()
            .as_der()
            .unwrap()
            .as_ref()
            .to_vec()
    };
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    let cases = [
        (
            write_pem(
                "rsa2048.pem",
                "PRIVATE KEY",
                &rsa(aws_lc_rs::rsa::KeySize::Rsa2048),
            ),
            "got RSA-2048 with e = 65537",
        ),
        (
            write_pem(
                "rsa3072.pem",
                "PRIVATE KEY",
                &rsa(aws_lc_rs::rsa::KeySize::Rsa3072),
            ),
            "got RSA-3072 with e = 65537",
        ),
        (
            write_pem("ec.pem", "PRIVATE KEY", ec.as_ref()),
            "no usable RSA private key",
        ),
        (
            write_pem("cert.pem", "CERTIFICATE", b"not a key"),
            "no PEM private key",
        ),
    ];
    for (key, want) in cases {
        let out = dir.path().join("never.signed");
        let output = kms_host_sign(&key, &shipped_config(), &out);
        refused(
            &output,
            "signing key must be RSA-3072 with public exponent 3",
        );
        refused(&output, want);
        assert!(!out.exists(), "nothing is written when signing fails");
    }
}

#[test]
fn keys_made_by_openssl_genrsa_3_3072_work() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: openssl is not installed");
        return;
    }
    for traditional in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("private.pem");
        let mut cmd = Command::new("openssl");
        cmd.arg("genrsa").arg("-out").arg(&key);
        if traditional {
            cmd.arg("-traditional"); // PKCS#1: BEGIN RSA PRIVATE KEY
        }
        assert!(cmd.args(["-3", "3072"]).output().unwrap().status.success());
        let (signed, mrenclave) = sign(dir.path(), &key, &bin("kms-host"));

        // MRSIGNER is SHA-256 of the little-endian modulus; compute it from
        // what openssl says the modulus is.
        let modulus = Command::new("openssl")
            .args(["rsa", "-noout", "-modulus", "-in"])
            .arg(&key)
            .output()
            .unwrap();
        let hex_modulus = String::from_utf8(modulus.stdout).unwrap();
        let mut le = hex::decode(hex_modulus.trim().trim_start_matches("Modulus=")).unwrap();
        le.reverse();
        let mrsigner = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &le));

        let server = Server::try_start(&["--simulation", signed.to_str().unwrap()]).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let status = rt.block_on(server.get("/"));
        assert_eq!(status.body["mrsigner"], mrsigner);
        assert_eq!(status.body["mrenclave"], mrenclave);
    }
}

#[test]
fn invalid_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(shipped_config()).unwrap();
    let cases = [
        (
            shipped.replace("NumTCS = 4", "NumTCS = 0"),
            "NumTCS must be between 1 and 256, got 0",
        ),
        (
            shipped.replace("ProductID = 1", ""),
            "missing field `ProductID`",
        ),
        (
            format!("{shipped}\nNumThreads = 2\n"),
            "unknown field `NumThreads`",
        ),
        (
            shipped.replace("Debug = true", "Debug = \"yes\""),
            "invalid type",
        ),
    ];
    for (text, want) in cases {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let out = dir.path().join("never.signed");
        let output = kms_host_sign(shared_signing_key(), &config, &out);
        refused(&output, "invalid enclave config: ");
        refused(&output, want);
        assert!(!out.exists());
        // The development build is signed with the same checks.
        run_refused(
            Server::try_start(&["--simulation", "--config", config.to_str().unwrap()]),
            want,
        );
    }
}

/// The host chooses `--dev-root-token`: a production enclave must not let
/// it become root (of a fresh store, or one the host deleted).
#[test]
fn a_production_enclave_takes_no_root_token_from_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(shipped_config()).unwrap();
    let config = dir.path().join("production.toml");
    std::fs::write(&config, shipped.replace("Debug = true", "Debug = false")).unwrap();
    let config = config.to_str().unwrap();
    run_refused(
        Server::try_start(&[
            "--simulation",
            "--config",
            config,
            "--dev-root-token",
            "s.host-chosen",
        ]),
        "refused --dev-root-token: a production (non-debug) enclave takes no root token from the host",
    );
    // Without it, the same enclave starts and waits for sys/init.
    let server = Server::try_start(&["--simulation", "--config", config]).unwrap();
    assert_eq!(server.stop_with(libc::SIGTERM).code(), Some(0));
}

#[test]
fn a_taken_port_is_refused() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    run_refused(
        Server::try_start(&["--simulation", "--port", &port]),
        &format!("cannot listen on 127.0.0.1:{port}: address already in use"),
    );
}

#[test]
fn changing_the_host_binary_does_not_change_mrenclave() {
    let dir = tempfile::tempdir().unwrap();
    let other_host = dir.path().join("kms-host-rebuilt");
    let mut bytes = std::fs::read(bin("kms-host")).unwrap();
    bytes.extend_from_slice(b"a different host build");
    std::fs::write(&other_host, bytes).unwrap();
    std::fs::set_permissions(&other_host, std::fs::Permissions::from_mode(0o755)).unwrap();

    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (_, with_original) = sign(a.path(), shared_signing_key(), &bin("kms-host"));
    let (_, with_other) = sign(b.path(), shared_signing_key(), &other_host);
    assert_eq!(with_original, with_other);
}

#[test]
fn keygen_makes_a_private_rsa3072_e3_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let first = kms_host(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(first.status.success());
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pem_text = std::fs::read_to_string(&key).unwrap();
    assert!(pem_text.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(minikms_sigstruct::SigningKey::from_pem(pem_text.as_bytes()).is_ok());

    let again = kms_host(&["keygen", "--out", key.to_str().unwrap()]);
    refused(
        &again,
        "already exists; refusing to overwrite a signing key",
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem_text);
}
