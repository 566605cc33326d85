//! `GET /v1/sys/metrics` (Vault's route): every metric of
//! [`crate::metrics`], with the counts read now; `?format=prometheus` for
//! the Prometheus text format, JSON otherwise. Behind the guard like any
//! path (a policy grants `read` on `sys/metrics`), unless the host was
//! started with `--unauthenticated-metrics-access`.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::app::AppState;
use crate::metrics;

/// What prometheus-client writes: OpenMetrics 1.0 text (which the classic
/// Prometheus text parser reads too).
const PROMETHEUS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn metrics(State(app): State<AppState>, uri: Uri) -> Response {
    let m = metrics::get();
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    // Served only by the open store's routes.
    m.sealed.set(0);
    m.keys.set(count(app.state.names().len()));
    m.tokens.set(count(app.state.token_accessors().len()));
    m.policies.set(count(app.state.policy_names().len()));
    m.rsa_pool_ready.set(count(app.rsa_pool.ready()));
    let text = m.text();
    if wants_prometheus(uri.query()) {
        let mut response = text.into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
        return response;
    }
    Json(serde_json::json!({ "samples": samples(&text) })).into_response()
}

fn wants_prometheus(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "format" && v == "prometheus")
    })
}

/// The text format's samples as JSON objects (`name`, `labels`, `value`).
/// Read from what prometheus-client wrote just now: our label values come
/// from fixed sets of plain words, so a sample line is `name{k="v",...} value`.
fn samples(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels: serde_json::Map<String, serde_json::Value> = labels
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').into()))
                .collect();
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            Some(serde_json::json!({ "name": name, "labels": labels, "value": value }))
        })
        .collect()
}
