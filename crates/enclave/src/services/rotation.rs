//! The background task that rotates keys on their `auto_rotate_period`
//! ([`crate::core::rotation`]), checking every [`CHECK_EVERY`] for as long
//! as the enclave serves.

use std::sync::Arc;
use std::time::Duration;

use crate::core::rotation::rotate_due;
use crate::state::State;

/// How often due keys are looked for: periods are an hour or more, so a
/// key rotates at most this late; a round costs a look at each key.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Starts the task (on the current Tokio runtime).
pub fn spawn(state: Arc<State>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let state = state.clone();
            // Blocking: catching up reads the shared store, RSA keys take
            // a while to make.
            let _ = tokio::task::spawn_blocking(move || {
                // Replicas see each other's rotations before deciding.
                if let Err(e) = state.catch_up_now() {
                    tracing::warn!("automatic rotation skipped a round: {e}");
                    return;
                }
                rotate_due(&state, crate::clock::now());
            })
            .await;
        }
    });
}
