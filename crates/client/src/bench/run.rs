//! The run: the setup connection, one trial request, then the workers and
//! the timed window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use minikms_verifier::CertificateClaims;
use serde_json::{json, Value};

use super::config::{Config, Op};
use super::plan::{prepare, Plan};
use super::report::Report;
use crate::attested_tls::Attestation;
use crate::client::Client;
use crate::connection::{Response, ServerUrl};
use crate::error::Error;

/// A benchmark, connected and attested, ready to [`Bench::run`].
pub struct Bench {
    config: Config,
    setup: Client,
    /// Other replicas of the same service, for the workers to spread over.
    replicas: Vec<ServerUrl>,
}

/// What one worker measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl Bench {
    /// Checks `config` and the token, then opens the setup connection to
    /// `url`, which verifies the enclave against `attestation`; every
    /// connection of the run is verified the same way.
    pub async fn connect(
        url: &ServerUrl,
        attestation: Attestation,
        token: Option<String>,
        config: Config,
    ) -> Result<Self, Error> {
        config.validate()?;
        let token = token.filter(|t| !t.is_empty());
        config.check_token(token.as_deref())?;
        let setup = Client::open(url, attestation).await?.with_token(token);
        Ok(Self {
            config,
            setup,
            replicas: Vec::new(),
        })
    }

    /// Spreads the workers round-robin over the server and `replicas`
    /// (each attested like the server).
    pub fn with_replicas(mut self, replicas: Vec<ServerUrl>) -> Self {
        self.replicas = replicas;
        self
    }

    /// What the server's certificate proved.
    pub fn claims(&self) -> &CertificateClaims {
        self.setup.claims()
    }

    /// Makes the key to measure with, sends one trial request (a plan the
    /// server refuses ends here with its error, not as a run of errors),
    /// connects the workers, then measures for the configured duration.
    pub async fn run(self) -> Result<Report, Error> {
        let Self {
            config,
            mut setup,
            replicas,
        } = self;
        let run_id = hex::encode(crate::random::bytes(6)?);
        let payload = crate::random::bytes(config.payload)?;
        let mut plan = prepare(&mut setup, &config, run_id, &payload).await?;
        plan.urls.extend(replicas);
        let mut trial = Some(setup);
        one(&plan, config.concurrency, 0, &mut trial)
            .await
            .map_err(|e| e.context("the first request failed, so nothing was measured"))?;
        drop(trial);
        let plan = Arc::new(plan);

        // Keep-alive workers connect before the clock starts.
        let mut connections = Vec::with_capacity(config.concurrency);
        if !plan.new_connections {
            for worker in 0..config.concurrency {
                connections.push(Some(open(&plan, worker).await?));
            }
        } else {
            connections.resize_with(config.concurrency, || None);
        }

        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(config.duration);
        let mut workers = Vec::with_capacity(config.concurrency);
        for (worker, conn) in connections.into_iter().enumerate() {
            let plan = plan.clone();
            workers.push(tokio::spawn(async move {
                work(plan, worker, conn, deadline).await
            }));
        }
        let mut tallies = Vec::with_capacity(workers.len());
        for w in workers {
            tallies.push(
                w.await
                    .map_err(|e| Error::System(format!("a worker failed: {e}")))?,
            );
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
        Ok(Report {
            op: config.op,
            key_type: config.key_type(),
            concurrency: config.concurrency,
            payload: config.payload,
            batch: config.batch,
            new_connections: config.new_connections,
            elapsed,
            requests,
            items: requests * plan.items,
            errors,
            first_error,
            latencies_us,
        })
    }
}

/// A new attested connection for `worker`.
async fn open(plan: &Plan, worker: usize) -> Result<Client, Error> {
    let url = &plan.urls[worker % plan.urls.len()];
    Ok(Client::connect(url, plan.verifier.clone())
        .await?
        .with_token(plan.token.clone()))
}

/// One worker: requests back to back until `deadline`.
async fn work(
    plan: Arc<Plan>,
    worker: usize,
    mut conn: Option<Client>,
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
                    tally.first_error = Some(e.to_string());
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
async fn one(plan: &Plan, worker: usize, seq: u64, slot: &mut Option<Client>) -> Result<(), Error> {
    if plan.new_connections || slot.is_none() {
        *slot = Some(open(plan, worker).await?);
    }
    let Some(client) = slot.as_mut() else {
        return Err(Error::System("no connection".into()));
    };
    let result = match plan.op {
        Op::Attest => client.attest(None).await.map(|_| ()),
        Op::CreateKey => {
            let path = format!("{}bench-{}-{worker}-{seq}", plan.path, plan.run_id);
            let token = plan.token.as_deref();
            let body = plan.body.clone();
            let response = client
                .connection()
                .send(plan.method, &path, token, body)
                .await?;
            check(plan.op, &response)
        }
        _ => check(
            plan.op,
            &client.connection().send_prepared(&plan.prepared).await?,
        ),
    };
    if plan.new_connections {
        *slot = None;
    }
    result
}

/// Is this answer a success? `verify` must also say valid.
fn check(op: Op, response: &Response) -> Result<(), Error> {
    if !response.is_success() {
        return Err(response.error());
    }
    if op == Op::Verify {
        let json = response.json()?;
        let data = &json["data"];
        let valid = match data.get("batch_results").and_then(Value::as_array) {
            Some(results) => results.iter().all(|r| r["valid"] == json!(true)),
            None => data["valid"] == json!(true),
        };
        if !valid {
            return Err(Error::Protocol("verify answered valid: false".into()));
        }
    }
    Ok(())
}
