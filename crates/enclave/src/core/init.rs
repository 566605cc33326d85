//! `sys/init`: the root token, made here and shown once (only its SHA-256
//! is stored), and, when asked as Vault asks (`secret_shares`,
//! `secret_threshold`, `pgp_keys`), the store's root key split into
//! recovery shares ([`crate::state::recovery`]), answered once and
//! forgotten.

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::tokens::new_token;
use crate::error::Error;
use crate::platform::Platform;
use crate::state::recovery::{self, Recovery, SplitRequest};
use crate::state::tokens::token_hash;
use crate::state::State;

#[derive(Default, Deserialize)]
pub struct InitRequest {
    #[serde(flatten)]
    pub split: SplitRequest,
}

/// Vault's init answer: the shares (each encrypted to its recipient when
/// `pgp_keys` was given), hex and base64, and the root token.
#[derive(Serialize)]
pub struct Initialised {
    pub keys: Vec<Zeroizing<String>>,
    pub keys_base64: Vec<Zeroizing<String>>,
    pub root_token: Zeroizing<String>,
    pub secret_shares: u8,
    pub secret_threshold: u8,
    /// Whether `keys` are encrypted to the `pgp_keys` given.
    pub keys_encrypted: bool,
}

/// Initialises the store: a new root token, and shares if asked; fails if
/// already done.
pub fn init(
    state: &State,
    platform: &dyn Platform,
    recovery: &Recovery,
    req: InitRequest,
) -> Result<Initialised, Error> {
    let _one = recovery.one_init();
    if state.is_initialised() {
        return Err(Error::invalid("Vault is already initialized"));
    }
    let split = recovery::split(platform, recovery.root(), &req.split)?;
    // The facts first: a crash before the init record leaves an
    // uninitialised store whose next init replaces them.
    if let Some(split) = &split {
        state.set_recovery(&split.info.to_bytes())?;
    }
    let token = new_token()?;
    state.initialise(token_hash(&token))?;
    let Some(split) = split else {
        return Ok(Initialised {
            keys: Vec::new(),
            keys_base64: Vec::new(),
            root_token: token,
            secret_shares: 0,
            secret_threshold: 0,
            keys_encrypted: false,
        });
    };
    recovery.set_info(split.info.clone());
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Initialised {
        keys: split
            .shares
            .iter()
            .map(|s| Zeroizing::new(hex::encode(s.as_slice())))
            .collect(),
        keys_base64: split
            .shares
            .iter()
            .map(|s| Zeroizing::new(b64.encode(s.as_slice())))
            .collect(),
        root_token: token,
        secret_shares: split.info.shares,
        secret_threshold: split.info.threshold,
        keys_encrypted: split.encrypted,
    })
}
