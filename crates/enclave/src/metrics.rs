//! The enclave's metrics, served by `GET /v1/sys/metrics`
//! ([`crate::http::sys`]). Like [`crate::clock`], it serves every layer and
//! imports none: each layer counts where its figures live (the accept loop
//! its connections, the group commit its batches, the audit log its
//! fsyncs) into the one registry here, and the route adds what is read at
//! scrape time (counts of keys, tokens and policies, the RSA pool).
//!
//! Labels are from fixed sets (route families, status classes, limits,
//! operations): never a key name, a token, an accessor or an address.
//! `prometheus-client` writes the text format.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The families of routes requests are counted by.
pub const FAMILIES: [&str; 7] = [
    "transit",
    "auth/token",
    "auth/attest",
    "sys",
    "v1-other",
    "attestation",
    "other",
];

/// Why a connection was refused or closed by a limit.
#[derive(Clone, Copy)]
pub enum Limit {
    /// Its address held its share of connections already.
    PerAddress,
    /// The server was full and no other connection could give way.
    Total,
    /// The TLS handshake took too long.
    HandshakeTimeout,
    /// Idle between requests too long.
    IdleTimeout,
    /// A request refused with 503 (busy: expensive turns, a full log).
    Busy,
}

impl Limit {
    const ALL: [Limit; 5] = [
        Limit::PerAddress,
        Limit::Total,
        Limit::HandshakeTimeout,
        Limit::IdleTimeout,
        Limit::Busy,
    ];

    fn label(self) -> &'static str {
        match self {
            Limit::PerAddress => "per_address",
            Limit::Total => "total",
            Limit::HandshakeTimeout => "handshake_timeout",
            Limit::IdleTimeout => "idle_timeout",
            Limit::Busy => "busy",
        }
    }
}

type Labels = [(&'static str, &'static str); 2];
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;
/// One fixed label (`limit`, `op`) and its value.
type OneLabel = [(&'static str, &'static str); 1];

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Histograms,
    refused: Family<OneLabel, Counter>,
    pub connections_open: Gauge,
    pub audit_append: Histogram,
    pub audit_fsync: Histogram,
    pub store_write: Histogram,
    pub group_commit_batch: Histogram,
    postgres: Family<OneLabel, Histogram, fn() -> Histogram>,
    pub postgres_catch_up_records: Gauge,
    pub tls_certificate_expiry: Gauge,
    pub sealed: Gauge,
    pub keys: Gauge,
    pub tokens: Gauge,
    pub policies: Gauge,
    pub rsa_pool_ready: Gauge,
}

/// Latencies from 50 µs to about 26 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The one registry.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut r = Registry::with_prefix("minikms");
        let requests = Histograms::new_with_constructor(seconds as fn() -> Histogram);
        r.register(
            "http_request_duration_seconds",
            "Requests answered, by route family and status class, and how long each took",
            requests.clone(),
        );
        let refused = Family::default();
        r.register(
            "connections_refused",
            "Connections refused or closed, and requests refused busy, by limit",
            Family::clone(&refused),
        );
        let m = Self {
            requests,
            refused,
            connections_open: Gauge::default(),
            audit_append: seconds(),
            audit_fsync: seconds(),
            store_write: seconds(),
            group_commit_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            postgres: Family::new_with_constructor(seconds as fn() -> Histogram),
            postgres_catch_up_records: Gauge::default(),
            tls_certificate_expiry: Gauge::default(),
            sealed: Gauge::default(),
            keys: Gauge::default(),
            tokens: Gauge::default(),
            policies: Gauge::default(),
            rsa_pool_ready: Gauge::default(),
            registry: Registry::default(),
        };
        r.register(
            "connections_open",
            "Open client connections",
            m.connections_open.clone(),
        );
        r.register(
            "audit_append_duration_seconds",
            "Time from a request's audit entry queued to written (and synced if it wrote)",
            m.audit_append.clone(),
        );
        r.register(
            "audit_fsync_duration_seconds",
            "Time of each fdatasync of the audit log",
            m.audit_fsync.clone(),
        );
        r.register(
            "store_write_duration_seconds",
            "Time of each key store transaction (one group commit)",
            m.store_write.clone(),
        );
        r.register(
            "store_group_commit_batch_size",
            "Writes committed together in one key store transaction",
            m.group_commit_batch.clone(),
        );
        r.register(
            "postgres_round_trip_duration_seconds",
            "PostgreSQL operations (write, catch_up) and how long each took",
            m.postgres.clone(),
        );
        r.register(
            "postgres_catch_up_records",
            "Records the last catch-up with the other replicas brought in (how far behind this replica was)",
            m.postgres_catch_up_records.clone(),
        );
        r.register(
            "tls_certificate_expiry_timestamp_seconds",
            "When the TLS certificate new connections get expires (Unix time)",
            m.tls_certificate_expiry.clone(),
        );
        r.register("sealed", "1 if the key store is sealed", m.sealed.clone());
        r.register("keys", "Transit keys", m.keys.clone());
        r.register("tokens", "Live tokens", m.tokens.clone());
        r.register("policies", "ACL policies", m.policies.clone());
        r.register(
            "rsa_pool_ready",
            "RSA-2048 key pairs made ahead of demand",
            m.rsa_pool_ready.clone(),
        );
        // Every series of a fixed label set exists from the start, at
        // zero, so that a rate over it needs no first event.
        for limit in Limit::ALL {
            drop(m.refused.get_or_create(&[("limit", limit.label())]));
        }
        for op in ["write", "catch_up"] {
            drop(m.postgres.get_or_create(&[("op", op)]));
        }
        Self { registry: r, ..m }
    }

    /// A request of route `family` answered with `status`, begun at `start`.
    pub fn request(&self, family: &'static str, status: u16, start: Instant) {
        let class = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&[("family", family), ("status", class)])
            .observe(start.elapsed().as_secs_f64());
    }

    /// A connection or request refused (or closed) by `limit`.
    pub fn refused(&self, limit: Limit) {
        self.refused
            .get_or_create(&[("limit", limit.label())])
            .inc();
    }

    /// One PostgreSQL operation `op` begun at `start`.
    pub fn postgres(&self, op: &'static str, start: Instant) {
        self.postgres
            .get_or_create(&[("op", op)])
            .observe(start.elapsed().as_secs_f64());
    }

    /// The Prometheus text format of every metric.
    pub fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The route family of a request path, from the fixed [`FAMILIES`].
pub fn family(path: &str) -> &'static str {
    let Some(v1) = path.strip_prefix("/v1/") else {
        return if path == "/attestation" {
            "attestation"
        } else {
            "other"
        };
    };
    FAMILIES[..4]
        .iter()
        .find(|f| {
            v1.strip_prefix(**f)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .copied()
        .unwrap_or("v1-other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_fixed_and_labels_hold_no_names() {
        assert_eq!(family("/v1/transit/encrypt/secret-name"), "transit");
        assert_eq!(family("/v1/auth/token/create"), "auth/token");
        assert_eq!(family("/v1/auth/tokenish"), "v1-other");
        assert_eq!(family("/v1/sys/metrics"), "sys");
        assert_eq!(family("/attestation"), "attestation");
        assert_eq!(family("/generate-aes-key"), "other");
        let m = get();
        m.request(
            family("/v1/transit/encrypt/secret-name"),
            204,
            Instant::now(),
        );
        let text = m.text();
        assert!(
            text.contains(
                "minikms_http_request_duration_seconds_count{family=\"transit\",status=\"2xx\"} "
            ),
            "{text}"
        );
        assert!(!text.contains("secret-name"));
    }
}
