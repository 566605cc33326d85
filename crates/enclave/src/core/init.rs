//! `sys/init`: the root token, made here and shown once; only its SHA-256
//! is stored. Vault's unseal-key fields are empty: the enclave's sealing
//! key replaces them.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::tokens::new_token;
use crate::error::Error;
use crate::state::tokens::token_hash;
use crate::state::State;

#[derive(Default, Deserialize)]
pub struct InitRequest {}

/// Vault's init answer.
#[derive(Serialize)]
pub struct Initialised {
    pub keys: [String; 0],
    pub keys_base64: [String; 0],
    pub root_token: Zeroizing<String>,
}

/// Initialises the store with a new root token; fails if already done.
pub fn init(state: &State, _req: InitRequest) -> Result<Initialised, Error> {
    let token = new_token()?;
    state.initialise(token_hash(&token))?;
    Ok(Initialised {
        keys: [],
        keys_base64: [],
        root_token: token,
    })
}
