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

#[derive(Default, Deserialize, Serialize)]
pub struct InitRequest {
    #[serde(flatten)]
    pub split: SplitRequest,
}

/// Vault's init answer: the shares and the root token.
#[derive(Serialize)]
pub struct Initialised {
    #[serde(flatten)]
    pub shares: Shares,
    pub root_token: Zeroizing<String>,
}

/// Recovery shares as answered once: each encrypted to its recipient when
/// `pgp_keys` was given, hex and base64.
#[derive(Default, Serialize)]
pub struct Shares {
    pub keys: Vec<Zeroizing<String>>,
    pub keys_base64: Vec<Zeroizing<String>>,
    pub secret_shares: u8,
    pub secret_threshold: u8,
    /// Whether `keys` are encrypted to the `pgp_keys` given.
    pub keys_encrypted: bool,
}

impl From<recovery::Split> for Shares {
    fn from(split: recovery::Split) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        Shares {
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
            secret_shares: split.info.shares,
            secret_threshold: split.info.threshold,
            keys_encrypted: split.encrypted,
        }
    }
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
            shares: Shares::default(),
            root_token: token,
        });
    };
    recovery.set_info(split.info.clone());
    Ok(Initialised {
        shares: Shares::from(split),
        root_token: token,
    })
}

/// `sys/recovery-shares`: shares for an initialised store that has none
/// (migrated from format 1, or initialised without them). Shares of a store
/// that has some are refused: new ones would not revoke the old.
pub fn recovery_shares(
    state: &State,
    platform: &dyn Platform,
    recovery: &Recovery,
    req: SplitRequest,
) -> Result<Shares, Error> {
    let _one = recovery.one_init();
    if !state.is_initialised() {
        return Err(Error::invalid(
            "the store is not initialised: sys/init makes the recovery shares",
        ));
    }
    if let Some(info) = recovery.info() {
        return Err(Error::invalid(format!(
            "this store already has recovery shares (init id {}): new ones would not revoke them, \
             and changing the root key (rekey) is not supported yet",
            info.init_id
        )));
    }
    let split = recovery::split(platform, recovery.root(), &req)?.ok_or_else(|| {
        Error::invalid("give secret_shares, secret_threshold and, preferably, pgp_keys")
    })?;
    state.set_recovery(&split.info.to_bytes())?;
    recovery.set_info(split.info.clone());
    Ok(Shares::from(split))
}
