//! `GET /`: what is serving, on which platform, with which identity.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let p = &state.platform;
    let id = p.identity();
    Json(json!({
        "service": "minikms",
        "version": env!("CARGO_PKG_VERSION"),
        "platform": p.name(),
        "simulation": p.name() == "simulation",
        "mrenclave": id.mrenclave.to_hex(),
        "mrsigner": id.mrsigner.to_hex(),
        "product_id": id.product_id,
        "security_version": id.security_version,
        "debug": id.debug,
    }))
}
