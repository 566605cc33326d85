//! `minikms bench`: a load generator over real, attested HTTPS.
//!
//! `--concurrency N` workers (tokio tasks on a multi-thread runtime) each
//! hold one attested keep-alive connection and send requests back to back
//! for `--duration` seconds; with `--new-connections` every request opens
//! (and verifies) a new connection instead. Setup (the key to use, the
//! ciphertexts or signatures to decrypt or verify, the connections) and
//! one trial request happen before the timed window; a failed trial ends
//! the run with its error. Every answer is checked: a non-2xx status, a
//! `verify` that says invalid, or evidence that does not verify is an
//! error.
//!
//! The result is one line of text, or with `--json` one JSON object:
//! `ops_per_sec` (requests per second), `items_per_sec` (batch items per
//! second), `p50_ms`, `p90_ms`, `p99_ms`, `max_ms`, `mean_ms`, `errors`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::{Args, ValueEnum};
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::attested_tls::{Attestation, AttestedVerifier};
use crate::cli::{AttestArgs, Cli};
use crate::commands;
use crate::connection::{Connection, Prepared, ServerUrl};

/// Longest run accepted, in seconds.
const MAX_DURATION: f64 = 3600.0;
/// Most workers accepted (the server accepts 1024 connections).
const MAX_CONCURRENCY: usize = 1000;

/// `minikms bench --op OP [--concurrency N] [--duration SECS] ...`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The operation to measure.
    #[arg(long, value_enum)]
    pub op: Op,
    /// Workers, each with its own connection.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub concurrency: usize,
    /// Length of the timed window, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Plaintext or signing input size, in bytes (encrypt, decrypt, sign,
    /// verify).
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    pub payload: usize,
    /// Items per request as `batch_input` (encrypt, decrypt, sign, verify);
    /// without it, one item per request without a batch.
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Key type for encrypt, decrypt, datakey (default aes256-gcm96),
    /// sign, verify (default ecdsa-p256) and create-key (default
    /// aes256-gcm96).
    #[arg(long, value_name = "TYPE")]
    pub key_type: Option<String>,
    /// Open (and attest) a new TLS connection for every request.
    #[arg(long)]
    pub new_connections: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `minikms bench` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// `GET /`: the cheapest route, the server's own ceiling.
    Health,
    /// `GET /generate-aes-key`.
    GenerateAesKey,
    /// `GET /generate-rsa-key-pair`.
    GenerateRsaKeyPair,
    /// `POST /v1/transit/encrypt/KEY`.
    Encrypt,
    /// `POST /v1/transit/decrypt/KEY`.
    Decrypt,
    /// `POST /v1/transit/sign/KEY`.
    Sign,
    /// `POST /v1/transit/verify/KEY`.
    Verify,
    /// `POST /v1/transit/datakey/plaintext/KEY`.
    Datakey,
    /// `POST /v1/transit/keys/NEW`: a durable write per request.
    CreateKey,
    /// `GET /attestation?nonce=FRESH`, the evidence verified here.
    Attest,
}

impl Op {
    fn needs_token(self) -> bool {
        !matches!(
            self,
            Op::Health | Op::GenerateAesKey | Op::GenerateRsaKeyPair | Op::Attest
        )
    }

    fn takes_batch(self) -> bool {
        matches!(self, Op::Encrypt | Op::Decrypt | Op::Sign | Op::Verify)
    }

    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// Runs `minikms bench` on its own multi-thread runtime and prints the
/// result; errors are one line on stderr.
pub fn main(cli: &Cli, args: &BenchArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, args)) {
        Ok(report) => {
            let text = if args.json {
                report.to_json().to_string()
            } else {
                report.to_text()
            };
            println!("{text}");
            if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!(
                "{}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}

/// Everything a worker needs, shared.
struct Plan {
    op: Op,
    url: ServerUrl,
    verifier: Arc<AttestedVerifier>,
    attestation: Attestation,
    token: Option<String>,
    /// For create-key, whose path varies: each request's path is `path`
    /// and a fresh name.
    method: &'static str,
    path: String,
    body: Option<Bytes>,
    /// `method path body` checked once, for every op but create-key and
    /// attest (which send their own requests).
    prepared: Prepared,
    /// Unique per run, for the names create-key makes.
    run_id: String,
    new_connections: bool,
    items: u64,
}

/// What one worker measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// The result of a run.
pub struct Report {
    op: Op,
    key_type: Option<String>,
    concurrency: usize,
    payload: usize,
    batch: Option<usize>,
    new_connections: bool,
    elapsed: Duration,
    requests: u64,
    items: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

async fn run(cli: &Cli, args: &BenchArgs) -> Result<Report, String> {
    if !(args.duration > 0.0 && args.duration <= MAX_DURATION) {
        return Err(format!("--duration must be in (0, {MAX_DURATION}] seconds"));
    }
    if args.concurrency == 0 || args.concurrency > MAX_CONCURRENCY {
        return Err(format!("--concurrency must be 1 to {MAX_CONCURRENCY}"));
    }
    if args.batch.is_some() && !args.op.takes_batch() {
        return Err("--batch applies to encrypt, decrypt, sign and verify".into());
    }
    if args.batch.is_some_and(|b| b == 0) {
        return Err("--batch must be at least 1".into());
    }
    let attestation = commands::attestation(&cli.attestation)?;
    let url = cli
        .server
        .as_deref()
        .ok_or("no server: pass --server https://HOST:PORT (or set MINIKMS_SERVER)")?;
    let url = ServerUrl::parse(url)?;
    let token = cli
        .token
        .clone()
        .or_else(|| std::env::var("VAULT_TOKEN").ok())
        .filter(|t| !t.is_empty());
    if args.op.needs_token() && token.is_none() {
        return Err(format!(
            "--op {} needs --token (or MINIKMS_TOKEN / VAULT_TOKEN)",
            args.op.name()
        ));
    }
    let verifier = AttestedVerifier::new(attestation.clone());
    let mut setup = Connection::open(&url, &verifier).await?;
    eprintln!("attested: {}", commands::summary(setup.claims()));

    let run_id = hex::encode(random_bytes(6)?);
    let payload = random_bytes(args.payload)?;
    let plan = prepare(
        &mut setup,
        args,
        token.as_deref(),
        &run_id,
        &payload,
        PlanBase {
            url,
            verifier,
            attestation,
            token: token.clone(),
            run_id: run_id.clone(),
        },
    )
    .await?;
    // One request before the clock starts: a plan the server refuses (a
    // key type that cannot sign, a body over its limit, a token without
    // the policy) ends here with its error, not as a run of errors.
    let mut trial = Some(setup);
    one(&plan, args.concurrency, 0, &mut trial)
        .await
        .map_err(|e| format!("the first request failed, so nothing was measured: {e}"))?;
    drop(trial);
    let plan = Arc::new(plan);

    // Keep-alive workers connect before the clock starts.
    let mut connections = Vec::with_capacity(args.concurrency);
    if !plan.new_connections {
        for _ in 0..args.concurrency {
            connections.push(Some(Connection::open(&plan.url, &plan.verifier).await?));
        }
    } else {
        connections.resize_with(args.concurrency, || None);
    }

    let window = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let deadline = start + window;
    let mut workers = Vec::with_capacity(args.concurrency);
    for (worker, conn) in connections.into_iter().enumerate() {
        let plan = plan.clone();
        workers.push(tokio::spawn(async move {
            work(plan, worker, conn, deadline).await
        }));
    }
    let mut tallies = Vec::with_capacity(workers.len());
    for w in workers {
        tallies.push(w.await.map_err(|e| format!("a worker failed: {e}"))?);
    }
    let elapsed = start.elapsed();

    let mut latencies_us = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tallies {
        latencies_us.extend(t.latencies_us);
        errors += t.errors;
        if first_error.is_none() {
            first_error = t.first_error;
        }
    }
    latencies_us.sort_unstable();
    let requests = latencies_us.len() as u64;
    if let Some(e) = &first_error {
        eprintln!("first error: {e}");
    }
    Ok(Report {
        op: args.op,
        key_type: plan_key_type(args),
        concurrency: args.concurrency,
        payload: args.payload,
        batch: args.batch,
        new_connections: args.new_connections,
        elapsed,
        requests,
        items: requests * plan.items,
        errors,
        first_error,
        latencies_us,
    })
}

struct PlanBase {
    url: ServerUrl,
    verifier: Arc<AttestedVerifier>,
    attestation: Attestation,
    token: Option<String>,
    run_id: String,
}

fn plan_key_type(args: &BenchArgs) -> Option<String> {
    match args.op {
        Op::Encrypt | Op::Decrypt | Op::Datakey | Op::CreateKey => Some(
            args.key_type
                .clone()
                .unwrap_or_else(|| "aes256-gcm96".into()),
        ),
        Op::Sign | Op::Verify => Some(args.key_type.clone().unwrap_or_else(|| "ecdsa-p256".into())),
        _ => None,
    }
}

/// Makes the key and the request every worker sends.
async fn prepare(
    conn: &mut Connection,
    args: &BenchArgs,
    token: Option<&str>,
    run_id: &str,
    payload: &[u8],
    base: PlanBase,
) -> Result<Plan, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let input = b64.encode(payload);
    let key_type = plan_key_type(args).unwrap_or_default();
    let key = format!("bench-{run_id}");
    let items = args.batch.unwrap_or(1) as u64;
    // One item, or a batch of copies of it.
    let shape = |item: Value| -> Value {
        match args.batch {
            None => item,
            Some(n) => json!({ "batch_input": vec![item; n] }),
        }
    };
    let (method, path, body) = match args.op {
        Op::Health => ("GET", "/".to_string(), None),
        Op::GenerateAesKey => ("GET", "/generate-aes-key".to_string(), None),
        Op::GenerateRsaKeyPair => ("GET", "/generate-rsa-key-pair".to_string(), None),
        Op::Attest => ("GET", "/attestation".to_string(), None),
        Op::CreateKey => (
            "POST",
            "/v1/transit/keys/".to_string(),
            Some(json!({ "type": key_type })),
        ),
        Op::Encrypt => {
            create_key(conn, token, &key, &key_type).await?;
            let body = shape(json!({ "plaintext": input }));
            ("POST", format!("/v1/transit/encrypt/{key}"), Some(body))
        }
        Op::Decrypt => {
            create_key(conn, token, &key, &key_type).await?;
            let answer = ok_json(
                conn.request(
                    "POST",
                    &format!("/v1/transit/encrypt/{key}"),
                    token,
                    Some(&json!({ "plaintext": input })),
                )
                .await?,
            )?;
            let ciphertext = answer["data"]["ciphertext"]
                .as_str()
                .ok_or("encrypt answered without a ciphertext")?
                .to_string();
            let body = shape(json!({ "ciphertext": ciphertext }));
            ("POST", format!("/v1/transit/decrypt/{key}"), Some(body))
        }
        Op::Sign => {
            create_key(conn, token, &key, &key_type).await?;
            let body = shape(json!({ "input": input }));
            ("POST", format!("/v1/transit/sign/{key}"), Some(body))
        }
        Op::Verify => {
            create_key(conn, token, &key, &key_type).await?;
            let answer = ok_json(
                conn.request(
                    "POST",
                    &format!("/v1/transit/sign/{key}"),
                    token,
                    Some(&json!({ "input": input })),
                )
                .await?,
            )?;
            let signature = answer["data"]["signature"]
                .as_str()
                .ok_or("sign answered without a signature")?
                .to_string();
            let body = shape(json!({ "input": input, "signature": signature }));
            ("POST", format!("/v1/transit/verify/{key}"), Some(body))
        }
        Op::Datakey => {
            create_key(conn, token, &key, &key_type).await?;
            (
                "POST",
                format!("/v1/transit/datakey/plaintext/{key}"),
                Some(json!({})),
            )
        }
    };
    let body = match body {
        Some(v) => Some(Bytes::from(
            serde_json::to_vec(&v).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    let prepared = conn.prepare(method, &path, token, body.clone())?;
    Ok(Plan {
        op: args.op,
        url: base.url,
        verifier: base.verifier,
        attestation: base.attestation,
        token: base.token,
        method,
        path,
        body,
        prepared,
        run_id: base.run_id,
        new_connections: args.new_connections,
        items,
    })
}

async fn create_key(
    conn: &mut Connection,
    token: Option<&str>,
    name: &str,
    key_type: &str,
) -> Result<(), String> {
    ok_json(
        conn.request(
            "POST",
            &format!("/v1/transit/keys/{name}"),
            token,
            Some(&json!({ "type": key_type })),
        )
        .await?,
    )
    .map(|_| ())
    .map_err(|e| format!("cannot create the {key_type} key to measure with: {e}"))
}

/// A 2xx answer as JSON (204 as null), or the server's error.
fn ok_json(response: crate::connection::Response) -> Result<Value, String> {
    if response.status == 204 {
        return Ok(Value::Null);
    }
    if (200..300).contains(&response.status) {
        return response.json();
    }
    Err(describe_failure(&response))
}

fn describe_failure(response: &crate::connection::Response) -> String {
    let errors = response
        .json()
        .ok()
        .and_then(|j| j.get("errors").cloned())
        .and_then(|e| {
            e.as_array().map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .unwrap_or_default();
    format!("server answered {}: {errors}", response.status)
}

fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| "no randomness".to_string())?;
    Ok(b)
}

/// One worker: requests back to back until `deadline`.
async fn work(
    plan: Arc<Plan>,
    worker: usize,
    mut conn: Option<Connection>,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally {
        latencies_us: Vec::with_capacity(4096),
        ..Tally::default()
    };
    let mut seq: u64 = 0;
    while Instant::now() < deadline {
        seq += 1;
        let began = Instant::now();
        let outcome = one(&plan, worker, seq, &mut conn).await;
        let took = began.elapsed();
        match outcome {
            Ok(()) => tally
                .latencies_us
                .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX)),
            Err(e) => {
                tally.errors += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some(e);
                }
                // A broken connection is replaced; don't spin on errors.
                conn = None;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

/// One timed request (with its connection, in `--new-connections` mode).
async fn one(
    plan: &Plan,
    worker: usize,
    seq: u64,
    slot: &mut Option<Connection>,
) -> Result<(), String> {
    if plan.new_connections || slot.is_none() {
        *slot = Some(Connection::open(&plan.url, &plan.verifier).await?);
    }
    let Some(conn) = slot.as_mut() else {
        return Err("no connection".into());
    };
    let token = plan.token.as_deref();
    let result = match plan.op {
        Op::Attest => {
            let args = AttestArgs { nonce: None };
            commands::attest(conn, &args, &plan.attestation)
                .await
                .map(|_| ())
        }
        Op::CreateKey => {
            let path = format!("{}bench-{}-{worker}-{seq}", plan.path, plan.run_id);
            check(
                plan.op,
                conn.send(plan.method, &path, token, plan.body.clone())
                    .await?,
            )
        }
        _ => check(plan.op, conn.send_prepared(&plan.prepared).await?),
    };
    if plan.new_connections {
        *slot = None;
    }
    result
}

/// Is this answer a success? `verify` must also say valid.
fn check(op: Op, response: crate::connection::Response) -> Result<(), String> {
    if !(200..300).contains(&response.status) {
        return Err(describe_failure(&response));
    }
    if op == Op::Verify {
        let json = response.json()?;
        let data = &json["data"];
        let valid = match data.get("batch_results").and_then(Value::as_array) {
            Some(results) => results.iter().all(|r| r["valid"] == json!(true)),
            None => data["valid"] == json!(true),
        };
        if !valid {
            return Err("verify answered valid: false".into());
        }
    }
    Ok(())
}

impl Report {
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        let n = self.latencies_us.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        let i = rank.clamp(1, n) - 1;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    fn mean_ms(&self) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let sum: u64 = self.latencies_us.iter().map(|&l| u64::from(l)).sum();
        sum as f64 / self.latencies_us.len() as f64 / 1000.0
    }

    fn per_sec(&self, n: u64) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            n as f64 / s
        } else {
            0.0
        }
    }

    /// The result as one JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "op": self.op.name(),
            "key_type": self.key_type,
            "concurrency": self.concurrency,
            "payload": self.payload,
            "batch": self.batch,
            "new_connections": self.new_connections,
            "duration_s": round3(self.elapsed.as_secs_f64()),
            "requests": self.requests,
            "items": self.items,
            "errors": self.errors,
            "first_error": self.first_error,
            "ops_per_sec": round3(self.per_sec(self.requests)),
            "items_per_sec": round3(self.per_sec(self.items)),
            "p50_ms": round3(self.percentile_ms(50.0)),
            "p90_ms": round3(self.percentile_ms(90.0)),
            "p99_ms": round3(self.percentile_ms(99.0)),
            "max_ms": round3(self.percentile_ms(100.0)),
            "mean_ms": round3(self.mean_ms()),
        })
    }

    /// The result as one line of text.
    pub fn to_text(&self) -> String {
        let batch = self.batch.map_or(String::new(), |b| format!(", batch {b}"));
        let kind = self
            .key_type
            .as_deref()
            .map_or(String::new(), |k| format!(" {k}"));
        let conns = if self.new_connections {
            "a new connection per request"
        } else {
            "keep-alive"
        };
        format!(
            "{}{kind}{batch}, concurrency {}, {conns}: {:.1} ops/s ({:.1} items/s), \
             latency ms p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}, errors {} ({} requests in {:.2} s)",
            self.op.name(),
            self.concurrency,
            self.per_sec(self.requests),
            self.per_sec(self.items),
            self.percentile_ms(50.0),
            self.percentile_ms(90.0),
            self.percentile_ms(99.0),
            self.percentile_ms(100.0),
            self.errors,
            self.requests,
            self.elapsed.as_secs_f64(),
        )
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(latencies_us: Vec<u32>) -> Report {
        Report {
            op: Op::Health,
            key_type: None,
            concurrency: 1,
            payload: 64,
            batch: None,
            new_connections: false,
            elapsed: Duration::from_secs(2),
            requests: latencies_us.len() as u64,
            items: latencies_us.len() as u64,
            errors: 0,
            first_error: None,
            latencies_us,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let r = report((1..=100).map(|i| i * 1000).collect());
        assert_eq!(r.percentile_ms(50.0), 50.0);
        assert_eq!(r.percentile_ms(90.0), 90.0);
        assert_eq!(r.percentile_ms(99.0), 99.0);
        assert_eq!(r.percentile_ms(100.0), 100.0);
        let j = r.to_json();
        assert_eq!(j["ops_per_sec"], json!(50.0));
        for field in ["p50_ms", "p90_ms", "p99_ms", "max_ms", "errors"] {
            assert!(j.get(field).is_some(), "{field}");
        }
        assert_eq!(report(vec![]).percentile_ms(99.0), 0.0);
    }
}
