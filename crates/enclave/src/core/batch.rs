//! Batches: Vault's `batch_input`, bounded, answered item by item.

use serde::{Serialize, Serializer};

use crate::error::Error;

/// Largest `batch_input` accepted.
pub const MAX_BATCH: usize = 1000;

/// Checks a batch's size: 1 to [`MAX_BATCH`] items.
pub fn check_batch<T>(items: &[T]) -> Result<(), Error> {
    if items.is_empty() {
        return Err(Error::invalid("missing batch input to process"));
    }
    if items.len() > MAX_BATCH {
        return Err(Error::invalid(format!(
            "batch_input has {} items; the limit is {MAX_BATCH}",
            items.len()
        )));
    }
    Ok(())
}

/// What a request answers: one outcome, or a batch's (failed items carry
/// `error`; the first error decides the answer's status, and whether any
/// item succeeded whether `partial_failure_response_code` applies).
pub enum Answer<T> {
    One(T),
    Batch {
        results: Vec<T>,
        first_error: Option<String>,
        succeeded: bool,
    },
}

/// One item's answer in a batch: what a failure leaves in it, and the
/// caller's `reference`, echoed.
pub trait Item<T> {
    fn reference(&self) -> Option<&String>;
}

/// What a failed item answers, and where its reference goes; the key
/// version a single answer names (for the audit entry).
pub trait Outcome: Default {
    fn set_error(&mut self, message: String);
    fn set_reference(&mut self, reference: Option<String>);
    fn key_version(&self) -> Option<u64>;
}

/// One outcome as itself, a batch as Vault's `{"batch_results": [...]}`.
impl<T: Serialize> Serialize for Answer<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Batch<'a, T> {
            batch_results: &'a [T],
        }
        match self {
            Self::One(one) => one.serialize(serializer),
            Self::Batch { results, .. } => Batch {
                batch_results: results,
            }
            .serialize(serializer),
        }
    }
}

/// Runs `one` on each item: a failed item answers its `error` (the first
/// one also becomes the answer's), every item echoes its `reference`.
pub fn each<I: Item<T>, T: Outcome>(
    items: &[I],
    one: impl Fn(&I) -> Result<T, Error>,
) -> Answer<T> {
    let mut first_error = None;
    let mut succeeded = false;
    let results = items
        .iter()
        .map(|item| {
            let mut outcome = one(item).inspect(|_| succeeded = true).unwrap_or_else(|e| {
                let message = e.public_message();
                first_error.get_or_insert_with(|| message.clone());
                let mut failed = T::default();
                failed.set_error(message);
                failed
            });
            // Vault echoes every item's reference, "" when none was given.
            outcome.set_reference(Some(item.reference().cloned().unwrap_or_default()));
            outcome
        })
        .collect();
    Answer::Batch {
        results,
        first_error,
        succeeded,
    }
}
