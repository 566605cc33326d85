//! The result of a run: throughput and latency percentiles, as one line of
//! text or one JSON object.

use std::time::Duration;

use serde_json::{json, Value};

use super::config::Op;

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was measured.
    pub op: Op,
    /// The key type measured with, for ops that use a key.
    pub key_type: Option<String>,
    /// Workers.
    pub concurrency: usize,
    /// Payload size, in bytes.
    pub payload: usize,
    /// Items per request, if batched.
    pub batch: Option<usize>,
    /// Whether every request opened a new connection.
    pub new_connections: bool,
    /// The timed window as it was.
    pub elapsed: Duration,
    /// Requests that succeeded.
    pub requests: u64,
    /// Items those requests carried.
    pub items: u64,
    /// Requests that failed.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Latencies of the requests that succeeded, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl Report {
    /// The `p`th percentile latency (nearest rank), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        let n = self.latencies_us.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        let i = rank.clamp(1, n) - 1;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    /// The mean latency, in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let sum: u64 = self.latencies_us.iter().map(|&l| u64::from(l)).sum();
        sum as f64 / self.latencies_us.len() as f64 / 1000.0
    }

    /// `n` per second of the timed window.
    pub fn per_sec(&self, n: u64) -> f64 {
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
