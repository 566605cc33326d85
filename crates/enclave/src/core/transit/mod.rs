//! Each Transit key operation whole in one place: a type that holds its
//! request, checked when it is made (an operation that exists is a valid
//! one), runs on a key, and says what its answer is ([`Shape`]: whether it
//! carries secrets in clear, the key version the audit entry names). One
//! runner ([`run`]) looks the key up once (making it first where the
//! operation upserts), then runs the operation inline or on a blocking
//! thread; the management operations, which act on the state rather than
//! on one key, have theirs ([`manage::run`]).
//!
//! - [`crypt`]: encrypt, decrypt, rewrap, datakey (and their attested
//!   release variants).
//! - [`sign`]: sign, verify, hmac.
//! - [`manage`]: create, read, config, rotate, trim, import,
//!   import_version: each answers the key's description.

pub mod crypt;
pub mod manage;
pub mod sign;

use std::sync::Arc;

use serde::Serialize;

use super::batch::{self, Answer};
use super::manage::CreateRequest;
use crate::error::Error;
use crate::state::key::Key;
use crate::state::State;

/// Batches of at most this many items on a non-RSA key run on the calling
/// (I/O) thread: handing microseconds of work to a blocking thread costs
/// more than the work (two thread switches per request).
pub const INLINE_ITEMS: usize = 16;

/// Whether an answer holds secrets in clear (plaintext, key material): its
/// body is then wiped once sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    Public,
    Secrets,
}

/// What the envelope and the audit entry need to know of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub carries: Carries,
    /// The key version the audit entry names (a single item's).
    pub key_version: Option<u64>,
    /// A batch in which an item failed.
    pub failed: bool,
    /// ... and another succeeded (Vault's `partial_failure_response_code`
    /// applies only then).
    pub partial: bool,
    /// Wrapped to the token's attested key (`crate::core::release`): the
    /// audit entry then records what that token's login verified.
    pub released: bool,
}

impl Shape {
    /// An answer of one outcome or a batch's.
    pub fn of<T: batch::Outcome>(answer: &Answer<T>, carries: Carries) -> Self {
        let (key_version, failed, partial) = match answer {
            Answer::One(one) => (one.key_version(), false, false),
            Answer::Batch {
                first_error,
                succeeded,
                ..
            } => (
                None,
                first_error.is_some(),
                first_error.is_some() && *succeeded,
            ),
        };
        Self {
            carries,
            key_version,
            failed,
            partial,
            released: false,
        }
    }

    /// A single answer wrapped to the attested recipient.
    pub fn released(key_version: Option<u64>) -> Self {
        Self {
            carries: Carries::Public,
            key_version,
            failed: false,
            partial: false,
            released: true,
        }
    }
}

/// One operation on one key.
pub trait KeyOp: Send + 'static {
    type Output: Serialize + Send + 'static;

    /// How many items it works on (the choice of thread).
    fn items(&self) -> usize {
        1
    }

    /// How to make the key when there is none (Vault's upsert); `None`:
    /// a missing key is refused.
    fn upsert(&self) -> Option<CreateRequest> {
        None
    }

    fn run(self, key: &Key) -> Result<Self::Output, Error>;

    fn shape(output: &Self::Output) -> Shape;
}

/// An operation's answer, with what it is and whether the request wrote
/// to the store (its audit entry must then be on disk first).
pub struct Done<T> {
    pub output: T,
    pub shape: Shape,
    pub wrote: bool,
}

/// Runs `op` on key `name`: looked up once (made first if missing and
/// `op` upserts); cheap work (a non-RSA key, at most [`INLINE_ITEMS`]
/// items) runs right here, the rest on a blocking thread.
pub async fn run<Op: KeyOp>(
    state: &Arc<State>,
    name: &str,
    op: Op,
) -> Result<Done<Op::Output>, Error> {
    let (key, wrote) = match state.get(name) {
        Ok(key) => (key, false),
        Err(missing) => {
            let Some(plan) = op.upsert() else {
                return Err(missing);
            };
            let n = name.to_string();
            let made = blocking(state, move |s| super::crypt::upsert(s, &n, plan)).await?;
            (state.get(name)?, made)
        }
    };
    let output = if !key.key_type.is_rsa() && op.items() <= INLINE_ITEMS {
        op.run(&key)?
    } else {
        tokio::task::spawn_blocking(move || op.run(&key))
            .await
            .map_err(|e| Error::internal("request", e))??
    };
    Ok(Done {
        shape: Op::shape(&output),
        output,
        wrote,
    })
}

/// Runs `f` on a blocking thread (crypto and fsyncs stay off the I/O
/// threads).
pub async fn blocking<R: Send + 'static>(
    state: &Arc<State>,
    f: impl FnOnce(&State) -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| Error::internal("request", e))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use serde_json::json;

    use super::crypt::{Encrypt, Rewrap};
    use super::*;
    use crate::platform::fixed::platform;
    use crate::store::opening::Found;
    use crate::store::redb::RedbStore;

    fn state(dir: &std::path::Path) -> Arc<State> {
        match RedbStore::open_or_sealed(&platform(), dir, false).unwrap() {
            Found::Ready(u) => Arc::new(State::open(u.store, u.records, u.versions, None).unwrap()),
            Found::Sealed(_) => panic!("the store opened sealed"),
        }
    }

    fn item(body: serde_json::Value) -> crate::core::crypt::Item {
        serde_json::from_value(body).unwrap()
    }

    /// Encrypt's upsert makes the missing key, and only the request that
    /// made it wrote; the answer names the version it used.
    #[tokio::test]
    async fn encrypt_makes_a_missing_key_and_says_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path());
        let op = || Encrypt::new(item(json!({"plaintext": "aGk="}))).unwrap();
        let first = run(&state, "app", op()).await.unwrap();
        assert!(first.wrote);
        assert_eq!(first.shape.key_version, Some(1));
        assert_eq!(first.shape.carries, Carries::Public);
        let again = run(&state, "app", op()).await.unwrap();
        assert!(!again.wrote);
    }

    /// An operation without upsert is refused on a missing key, which
    /// stays missing.
    #[tokio::test]
    async fn a_missing_key_is_refused_and_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path());
        let op = Rewrap::new(item(json!({"ciphertext": "vault:v1:AAAA"}))).unwrap();
        let Err(e) = run(&state, "app", op).await else {
            panic!("rewrap ran without a key");
        };
        assert_eq!(e.public_message(), "encryption key not found");
        assert!(state.find("app").is_none());
    }

    /// A batch is checked when the operation is made, before any key is
    /// looked up or made.
    #[test]
    fn a_bad_batch_makes_no_operation() {
        let Err(e) = Encrypt::new(item(json!({"batch_input": []}))) else {
            panic!("an empty batch was accepted");
        };
        assert_eq!(e.public_message(), "missing batch input to process");
    }

    /// A batch in which an item failed says so (its status is the route's),
    /// and names no key version; a single answer names its own.
    #[tokio::test]
    async fn a_failed_batch_item_shows_in_the_shape() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path());
        let batch = json!({"batch_input": [{"plaintext": "aGk="}, {"plaintext": "%%"}]});
        let done = run(&state, "app", Encrypt::new(item(batch)).unwrap())
            .await
            .unwrap();
        assert!(done.shape.failed);
        assert_eq!(done.shape.key_version, None);
    }
}
