//! The key management operations that answer the key's description
//! (create, read, config, rotate, trim, import, import_version): each is
//! its request type, run by one runner ([`run`]) on a blocking thread
//! (they write, and fsync).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{blocking, Carries, Done, Shape};
use crate::core::describe::KeyInfo;
use crate::core::import::{self, ImportRequest};
use crate::core::manage::{self, ConfigRequest, CreateRequest, TrimRequest};
use crate::error::Error;
use crate::state::State;

/// An operation on key `name` that answers its description.
pub trait ManageOp: Send + 'static {
    /// Whether it writes to the store.
    const WRITES: bool = true;

    /// Vault answers 204 with no body (import, import_version): the
    /// description is still made, for the audit entry's key version.
    const NO_CONTENT: bool = false;

    /// The body fields the route knows, where the others are ignored with
    /// Vault's warning naming them (`None`: the request type says, with
    /// [`ManageOp::warning`]).
    const FIELDS: Option<&'static [&'static str]> = None;

    /// Vault's warning about the request, if any.
    fn warning(&self) -> Option<String> {
        None
    }

    fn run(self, state: &State, name: &str) -> Result<KeyInfo, Error>;
}

/// Runs `op` on key `name` on a blocking thread; the answer names the
/// key's latest version for the audit entry.
pub async fn run<Op: ManageOp>(
    state: &Arc<State>,
    name: &str,
    op: Op,
) -> Result<Done<KeyInfo>, Error> {
    let name = name.to_string();
    let info = blocking(state, move |s| op.run(s, &name)).await?;
    Ok(Done {
        shape: Shape {
            carries: Carries::Public,
            key_version: Some(info.latest_version),
            failed: false,
            partial: false,
            released: false,
        },
        output: info,
        wrote: Op::WRITES,
    })
}

/// `keys/NAME`, written: creates the key (no change if it exists).
impl ManageOp for CreateRequest {
    fn warning(&self) -> Option<String> {
        CreateRequest::warning(self)
    }

    fn run(self, state: &State, name: &str) -> Result<KeyInfo, Error> {
        manage::create(state, name, self)
    }
}

/// `keys/NAME`, read.
pub struct Read;

impl ManageOp for Read {
    const WRITES: bool = false;

    fn run(self, state: &State, name: &str) -> Result<KeyInfo, Error> {
        manage::read(state, name)
    }
}

/// `keys/NAME/config`.
impl ManageOp for ConfigRequest {
    const FIELDS: Option<&'static [&'static str]> = Some(&[
        "min_decryption_version",
        "min_encryption_version",
        "deletion_allowed",
        "exportable",
        "allow_plaintext_backup",
        "auto_rotate_period",
    ]);

    fn run(self, state: &State, name: &str) -> Result<KeyInfo, Error> {
        manage::config(state, name, self)
    }
}

/// `keys/NAME/rotate`: adds a version. Its body, whatever it holds, is
/// ignored (the parameter constraints still see it).
#[derive(Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Rotate(Option<serde_json::Value>);

impl ManageOp for Rotate {
    // Vault's rotate takes only managed-key fields, which minikms has not.
    const FIELDS: Option<&'static [&'static str]> = Some(&[]);

    fn run(self, state: &State, name: &str) -> Result<KeyInfo, Error> {
        manage::rotate(state, name)
    }
}

/// `keys/NAME/trim`.
impl ManageOp for TrimRequest {
    const FIELDS: Option<&'static [&'static str]> = Some(&["min_available_version"]);

    fn run(self, state: &State, name: &str) -> Result<KeyInfo, Error> {
        manage::trim(state, name, self)
    }
}

/// `keys/NAME/import`: a new key from wrapped material.
impl ManageOp for ImportRequest {
    const NO_CONTENT: bool = true;

    fn run(self, state: &State, name: &str) -> Result<KeyInfo, Error> {
        import::import(state, name, self)
    }
}

/// `keys/NAME/import_version`: a new version of a key from wrapped
/// material.
#[derive(Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ImportVersion(ImportRequest);

impl ManageOp for ImportVersion {
    const NO_CONTENT: bool = true;

    fn run(self, state: &State, name: &str) -> Result<KeyInfo, Error> {
        import::import_version(state, name, self.0)
    }
}
