//! `GET /`: what is serving, on which platform, with which identity.
//!
//! None of it changes while the process runs, so the JSON is written once
//! (at startup) and each request gets the same bytes: this is the route
//! health checks and the benchmark's `health` op hit, the server's own
//! ceiling.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::app::AppState;
use crate::platform::Platform;

/// The document `GET /` answers, serialised.
pub fn document(p: &dyn Platform) -> Bytes {
    let id = p.identity();
    let doc = json!({
        "service": "minikms",
        "version": env!("CARGO_PKG_VERSION"),
        "platform": p.name(),
        "simulation": p.is_simulation(),
        "mrenclave": id.mrenclave.to_hex(),
        "mrsigner": id.mrsigner.to_hex(),
        "product_id": id.product_id,
        "security_version": id.security_version,
        "debug": id.debug,
    });
    Bytes::from(doc.to_string())
}

pub async fn status(State(state): State<AppState>) -> Response {
    const JSON: HeaderValue = HeaderValue::from_static("application/json");
    // A clone of `Bytes` shares the buffer.
    ([(CONTENT_TYPE, JSON)], state.status.clone()).into_response()
}
