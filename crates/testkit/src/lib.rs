//! Test harness for minikms: starts the real `kms-host` (which signs,
//! verifies and launches the real `minikms-enclave`) on a free port with a
//! private data dir, and talks to it over real TLS 1.3.
//!
//! The binaries are built from this workspace by the harness itself (see
//! [`bin`]), so a clean clone's `cargo test --workspace` needs nothing else.
//!
//! NOTE for attested-TLS clients: the server certificate's RA-TLS claims map
//! is `{"pubkey-hash": [1, h], "collateral": bstr(QuoteCollateralV3 JSON)}`
//! in simulation. The collateral travels IN THE CLAIMS (bound by the
//! quote's report_data), not in a separate 2.25.* extension: rcgen cannot
//! write OID arcs above 64 bits. See crates/enclave/src/tls.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod danger;
pub mod delay;
pub mod docs;
pub mod https;
pub mod postgres;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long a server may take to come up (it signs and measures itself).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A workspace binary (`kms-host`, `minikms-enclave`, `minikms`) in this
/// test's own target directory, built (or brought up to date) once per
/// test process.
///
/// `cargo test --workspace` compiles the host and enclave binaries only in
/// test mode, so the harness asks cargo for the real ones itself; this also
/// keeps `cargo test -p minikms-testkit` from running stale binaries.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    build_server_binaries(profile_dir);
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing after cargo build",
        path.display()
    );
    path
}

fn build_server_binaries(profile_dir: &Path) {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target_dir = profile_dir.parent().expect("target dir");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            // The workspace's binaries, with the workspace's features (the
            // enclave's `fuzzing` entry points too, unused here): the
            // libraries `cargo test --workspace` built are then reused, not
            // built again with other features.
            .args(["build", "--quiet", "--workspace", "--bins"])
            .arg("--target-dir")
            .arg(target_dir);
        if profile_dir.file_name() == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build of kms-host, minikms-enclave and minikms failed"
        );
    });
}

/// A signing key made once per test process by `kms-host keygen`.
pub fn shared_signing_key() -> &'static Path {
    static KEY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = KEY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("signing-key.pem");
        let out = kms_host(&["keygen", "--out", path.to_str().expect("utf-8 path")]);
        assert!(
            out.status.success(),
            "keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, path)
    });
    path
}

/// The built enclave signed once per test process with
/// [`shared_signing_key`] and the shipped config: what docs/replicas.md
/// tells users to do (sign once, start every server with the same signed
/// enclave file), so that servers need no development key of their own
/// (keygen with e = 3 takes seconds per data dir).
pub fn shared_signed_enclave() -> &'static Path {
    static SIGNED: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = SIGNED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("minikms-enclave.signed");
        let out = kms_host_sign(shared_signing_key(), &shipped_config(), &path);
        assert!(
            out.status.success(),
            "sign: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, path)
    });
    path
}

/// The enclave `kms-host run --data-dir DIR EXTRA...` runs, if EXTRA names
/// it: a signed file (an existing file, or a name ending in `.signed`), or
/// with `--config` the development build it signs in DIR with DIR's own key.
fn named_enclave(dir: &Path, extra: &[&str]) -> Option<PathBuf> {
    let signed = extra
        .iter()
        .find(|a| !a.starts_with('-') && (a.ends_with(".signed") || Path::new(a).is_file()));
    match signed {
        Some(file) => Some(PathBuf::from(file)),
        None if extra.contains(&"--config") => Some(dir.join("minikms-enclave.signed")),
        None => None,
    }
}

/// The enclave config shipped in the repository.
pub fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../enclave.toml")
}

/// `kms-host sign --key KEY --config CONFIG --enclave <built enclave> --out OUT`.
pub fn kms_host_sign(key: &Path, config: &Path, out: &Path) -> Output {
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let enclave = bin("minikms-enclave");
    kms_host(&[
        "sign",
        "--key",
        &path(key),
        "--config",
        &path(config),
        "--enclave",
        &path(&enclave),
        "--out",
        &path(out),
    ])
}

/// The built enclave signed with the shared development key, with the
/// shipped config's `SecurityVersion = 1` changed to `svn`, as `DIR/svnN.signed`.
pub fn signed_at_svn(dir: &Path, svn: u16) -> PathBuf {
    let shipped = std::fs::read_to_string(shipped_config()).expect("the shipped config");
    let config = dir.join(format!("svn{svn}.toml"));
    std::fs::write(
        &config,
        shipped.replace("SecurityVersion = 1", &format!("SecurityVersion = {svn}")),
    )
    .expect("write the config");
    let out = dir.join(format!("svn{svn}.signed"));
    let signed = kms_host_sign(shared_signing_key(), &config, &out);
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    out
}

/// Runs the interop script `interop/NAME/run.sh` against the built
/// `kms-host`; panics with both outputs unless it exits 0; its stdout.
pub fn run_interop(name: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop")
        .join(name)
        .join("run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("KMS_HOST", bin("kms-host"))
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} interop failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `kms-host ARGS...` to completion.
pub fn kms_host(args: &[&str]) -> Output {
    Command::new(bin("kms-host"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kms-host")
}

/// A running server. Killed (with its enclave) if dropped without `stop`.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: tempfile::TempDir,
    /// The signed enclave file it runs (clients pin it with `--enclave`).
    signed_enclave: PathBuf,
    stderr: Arc<Mutex<String>>,
}

/// Why a server did not come up: its exit status and what it printed.
#[derive(Debug)]
pub struct Refusal {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Server {
    /// `kms-host run --simulation --port 0` with a fresh data dir.
    pub fn start() -> Self {
        Self::try_start(&["--simulation"]).unwrap_or_else(|r| panic!("server did not start: {r:?}"))
    }

    /// `kms-host run --port 0 --data-dir TMP EXTRA... [SIGNED]` with a
    /// fresh data dir; `Err` if it exited instead of listening.
    pub fn try_start(extra: &[&str]) -> Result<Self, Refusal> {
        Self::try_start_with_env(extra, &[])
    }

    /// [`Server::try_start`] with these variables in kms-host's
    /// environment (`MINIKMS_…` overrides of the server config).
    pub fn try_start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Result<Self, Refusal> {
        Self::try_start_in_env(tempfile::tempdir().expect("temp dir"), extra, env)
    }

    /// As [`Server::try_start`], on `data_dir`. Unless `extra` names the
    /// enclave ([`named_enclave`]), the server runs the
    /// [`shared_signed_enclave`], as docs/replicas.md starts replicas.
    pub fn try_start_in(data_dir: tempfile::TempDir, extra: &[&str]) -> Result<Self, Refusal> {
        Self::try_start_in_env(data_dir, extra, &[])
    }

    fn try_start_in_env(
        data_dir: tempfile::TempDir,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, Refusal> {
        let mut args: Vec<String> = vec!["run".into(), "--data-dir".into()];
        args.push(data_dir.path().display().to_string());
        if !extra.contains(&"--port") {
            args.extend(["--port".into(), "0".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let signed_enclave = named_enclave(data_dir.path(), extra).unwrap_or_else(|| {
            let shared = shared_signed_enclave().to_path_buf();
            args.push(shared.display().to_string());
            shared
        });
        let mut child = Command::new(bin("kms-host"))
            .args(&args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kms-host");

        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err_pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let out_pipe = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out_pipe).lines();
            let first = lines.next().and_then(|l| l.ok());
            let _ = tx.send(first.clone());
            // Anything more on stdout breaks the contract; remember it.
            let rest: Vec<String> = lines.map_while(Result::ok).collect();
            let _ = tx.send(if rest.is_empty() {
                None
            } else {
                Some(rest.join("\n"))
            });
        });

        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(line)) => {
                let addr = line
                    .strip_prefix("listening on https://")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected first stdout line: {line:?}"));
                Ok(Self {
                    child: Some(child),
                    addr,
                    data_dir,
                    signed_enclave,
                    stderr,
                })
            }
            Ok(None) | Err(_) => {
                let status = wait_timeout(&mut child, Duration::from_secs(30));
                // Let the stderr reader catch up with the last lines.
                std::thread::sleep(Duration::from_millis(100));
                let stderr = stderr.lock().unwrap().clone();
                Err(Refusal {
                    status,
                    stdout: String::new(),
                    stderr,
                })
            }
        }
    }

    /// The signed enclave file this server runs: the shared one, or the
    /// one `kms-host run` signed in its data dir.
    pub fn signed_enclave(&self) -> &Path {
        &self.signed_enclave
    }

    pub fn host_pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The enclave process (the host's only child).
    pub fn enclave_pid(&self) -> Option<u32> {
        let pid = self.host_pid();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// What the host printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` to the host and waits for it to exit.
    pub fn stop_with(mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        signal_pid(child.id(), signal);
        wait_timeout(&mut child, Duration::from_secs(60))
    }

    /// Sends `signal` to the host, waits for it to exit, and hands back the
    /// data dir (for a restart with [`Server::try_start_in`]).
    pub fn stop_keeping_data(mut self, signal: i32) -> (ExitStatus, tempfile::TempDir) {
        let placeholder = tempfile::tempdir().expect("temp dir");
        let data_dir = std::mem::replace(&mut self.data_dir, placeholder);
        (self.stop_with(signal), data_dir)
    }

    /// SIGKILLs the enclave and the host at once (a crash), reaps the host
    /// and hands back the data dir.
    pub fn crash(mut self) -> tempfile::TempDir {
        let enclave = self.enclave_pid();
        let mut child = self.child.take().expect("running");
        if let Some(pid) = enclave {
            signal_pid(pid, libc::SIGKILL);
        }
        signal_pid(child.id(), libc::SIGKILL);
        let _ = child.wait();
        if let Some(pid) = enclave {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while process_alive(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let placeholder = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.data_dir, placeholder)
    }

    /// Waits for the host to exit by itself.
    pub fn wait(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        wait_timeout(&mut child, Duration::from_secs(60))
    }

    /// GET `path` over a fresh TLS 1.3 connection; JSON body.
    pub async fn get(&self, path: &str) -> https::Response {
        https::get(self.addr, path).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_pid(child.id(), libc::SIGTERM);
            if child_wait(&mut child, Duration::from_secs(30)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub fn signal_pid(pid: u32, signal: i32) {
    #[allow(unsafe_code)]
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

pub fn process_alive(pid: u32) -> bool {
    // A zombie has exited; only a live process has a non-Z state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

fn child_wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    child_wait(child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("kms-host did not exit within {limit:?}")
    })
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Copies the tree `from` into `to` (created if needed).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let p = entry.expect("dir entry").path();
        let target = to.join(p.file_name().expect("a file name"));
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).expect("copy");
        }
    }
}
