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
    /// Wrapped to the token's attested key (`crate::core::release`): the
    /// audit entry then records what that token's login verified.
    pub released: bool,
}

impl Shape {
    /// An answer of one outcome or a batch's.
    pub fn of<T: batch::Outcome>(answer: &Answer<T>, carries: Carries) -> Self {
        let (key_version, failed) = match answer {
            Answer::One(one) => (one.key_version(), false),
            Answer::Batch { first_error, .. } => (None, first_error.is_some()),
        };
        Self {
            carries,
            key_version,
            failed,
            released: false,
        }
    }

    /// A single answer wrapped to the attested recipient.
    pub fn released(key_version: Option<u64>) -> Self {
        Self {
            carries: Carries::Public,
            key_version,
            failed: false,
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
