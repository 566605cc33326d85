//! Automatic rotation (Vault's `auto_rotate_period`): each key whose
//! latest version is older than its period gets a new version. Times are
//! the host's clock, as every time in the enclave ([`crate::clock`]).

use super::manage::fresh_version;
use crate::error::Error;
use crate::state::State;

/// Rotates every key due at `now` (Unix seconds); the names rotated. A
/// key that fails to rotate is left for the next round (and logged).
pub fn rotate_due(state: &State, now: u64) -> Vec<String> {
    let mut rotated = Vec::new();
    for name in state.names() {
        let Some(key) = state.find(&name) else {
            continue;
        };
        if !key.rotation_due(now) {
            continue;
        }
        // Made outside the store lock (RSA takes a while).
        let version = match fresh_version(&key) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("cannot rotate key {name} on its schedule: {e}");
                continue;
            }
        };
        // Checked again at the write: a manual rotation, or another
        // replica's, may have come first.
        let mut still_due = true;
        let outcome = state.update(&name, |k| {
            still_due = k.rotation_due(now);
            if !still_due {
                return Err(Error::invalid("no longer due"));
            }
            k.add_generated_version(version.clone())
        });
        match outcome {
            Ok(_) => {
                tracing::info!("rotated key {name} on its auto_rotate_period");
                rotated.push(name);
            }
            Err(_) if !still_due => {}
            Err(e) => tracing::warn!("cannot rotate key {name} on its schedule: {e}"),
        }
    }
    rotated
}
