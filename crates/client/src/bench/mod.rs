//! A load generator over real, attested HTTPS (`minikms bench`).
//!
//! [`Config::concurrency`] workers (tokio tasks; run them on a
//! multi-thread runtime) each hold one attested keep-alive connection and
//! send requests back to back for [`Config::duration`] seconds; with
//! [`Config::new_connections`] every request opens (and verifies) a new
//! connection instead. Setup (the key to use, the ciphertexts or
//! signatures to decrypt or verify, the connections) and one trial request
//! happen before the timed window; a failed trial ends the run with its
//! error. Every answer is checked: a non-2xx status, a `verify` that says
//! invalid, or evidence that does not verify is an error.
//!
//! The [`Report`] is one line of text or one JSON object: `ops_per_sec`
//! (requests per second), `items_per_sec` (batch items per second),
//! `p50_ms`, `p90_ms`, `p99_ms`, `max_ms`, `mean_ms`, `errors`.
//!
//! - `config`: what to measure ([`Config`], [`Op`]), checked before
//!   anything connects.
//! - `plan`: the key to measure with and the request every worker sends.
//! - `run`: [`Bench`]: the setup connection, the trial, the workers.
//! - `report`: the numbers.

mod config;
mod plan;
mod report;
mod run;

pub use config::{Config, Op, MAX_CONCURRENCY, MAX_DURATION};
pub use report::Report;
pub use run::Bench;
