//! Batches: Vault's `batch_input`, bounded, answered item by item.

use crate::error::Error;

/// Largest `batch_input` accepted.
pub const MAX_BATCH: usize = 1000;

/// Checks a batch's size.
pub fn check_batch<T>(items: &[T]) -> Result<(), Error> {
    if items.len() > MAX_BATCH {
        return Err(Error::invalid(format!(
            "batch_input has {} items; the limit is {MAX_BATCH}",
            items.len()
        )));
    }
    Ok(())
}

/// What a request answers: one outcome, or a batch's (failed items carry
/// `error`; the first error is repeated for the answer's `errors`).
pub enum Answer<T> {
    One(T),
    Batch {
        results: Vec<T>,
        first_error: Option<String>,
    },
}
