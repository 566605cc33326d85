//! A real PostgreSQL server for a test, started by the project's own
//! `scripts/postgres.sh` (Debian's package, a temporary directory, an
//! unprivileged user, loopback only) and stopped and removed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    pub dir: PathBuf,
    pub port: u16,
    /// `postgres://minikms@127.0.0.1:PORT/minikms`.
    pub url: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh")
}

fn run(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run scripts/postgres.sh");
    assert!(
        out.status.success(),
        "scripts/postgres.sh {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Postgres {
    /// A new, empty server with database `minikms` (installing Debian's
    /// postgresql first if it is missing).
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let out = run(&["start", &port.to_string()]);
        let mut lines = out.lines();
        let dir = PathBuf::from(lines.next().expect("the server's dir"));
        let url = lines.next().expect("the server's URL").to_string();
        Self { dir, port, url }
    }

    /// Kills the server (SIGKILL): a crash.
    pub fn kill(&self) {
        run(&["kill", &self.dir.display().to_string()]);
    }

    /// Starts the server again after [`Self::kill`].
    pub fn restart(&self) {
        run(&[
            "restart",
            &self.dir.display().to_string(),
            &self.port.to_string(),
        ]);
    }

    /// Runs `sql` with psql; its unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([&self.url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The whole database, as `pg_dump` writes it (plain SQL).
    pub fn dump(&self) -> Vec<u8> {
        let bin = run(&["bindir"]);
        let out = Command::new(Path::new(bin.trim()).join("pg_dump"))
            .arg(&self.url)
            .output()
            .expect("run pg_dump");
        assert!(out.status.success(), "pg_dump failed");
        out.stdout
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir.display().to_string()])
            .output();
    }
}
