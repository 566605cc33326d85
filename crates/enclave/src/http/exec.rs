//! Where a handler's work runs: key operations and fsyncs stay off the I/O
//! threads, except work so cheap that handing it over costs more.

use std::sync::Arc;

use crate::error::Error;
use crate::state::key::Key;
use crate::state::State;

/// Runs `f` on a blocking thread (crypto and fsyncs stay off the I/O threads).
pub async fn blocking<R: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| Error::internal("request", e))?
}

/// Batches of at most this many items on a non-RSA key run on the I/O
/// thread (see [`with_key`]).
pub const INLINE_ITEMS: usize = 16;

/// Runs `f` with key `name` (a 400 "not found" if there is none, as Vault
/// answers for operations). Cheap work (a non-RSA key, at most
/// [`INLINE_ITEMS`] items: microseconds) runs right here, since handing it
/// to a blocking thread costs more than the work itself (two thread
/// switches per request); RSA keys and larger batches go to a blocking
/// thread.
pub async fn with_key<R: Send + 'static>(
    state: &State,
    name: &str,
    items: usize,
    f: impl FnOnce(&Key) -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    let key = state.get(name)?;
    if !key.key_type.is_rsa() && items <= INLINE_ITEMS {
        return f(&key);
    }
    tokio::task::spawn_blocking(move || f(&key))
        .await
        .map_err(|e| Error::internal("request", e))?
}
