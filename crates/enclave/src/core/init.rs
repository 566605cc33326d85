//! `sys/init`: the root token, made here and shown once (only its SHA-256
//! is stored), and, when asked as Vault asks (`secret_shares`,
//! `secret_threshold`, `pgp_keys`), the store's root key split into
//! recovery shares ([`crate::store::recovery`]), answered once and
//! forgotten. `sys/recovery-shares` makes them later for a store that has
//! none, for root only, and never in clear.

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::tokens::new_token;
use crate::error::Error;
use crate::platform::Platform;
use crate::state::tokens::{token_hash, Identity};
use crate::state::State;
use crate::store::recovery::{self, Recovery, RecoveryInfo, SplitRequest};

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
    let token = new_token()?;
    // The root token and the shares' facts in one sealed record: a crash
    // before it leaves an uninitialised store.
    state.initialise(token_hash(&token), split.as_ref().map(|s| &s.info))?;
    let Some(split) = split else {
        return Ok(Initialised {
            shares: Shares::default(),
            root_token: token,
        });
    };
    write_hint(state, &split.info);
    Ok(Initialised {
        shares: Shares::from(split),
        root_token: token,
    })
}

/// `sys/recovery-shares`, root only: shares for an
/// initialised store that has none (migrated from format 1, or initialised
/// without them), each encrypted to its own recipient, at least two needed
/// ([`recovery::check_for_initialised`]). Shares of a store that has some
/// are refused: new ones would not revoke the old.
pub fn recovery_shares(
    state: &State,
    platform: &dyn Platform,
    recovery: &Recovery,
    caller: &Identity,
    req: SplitRequest,
) -> Result<Shares, Error> {
    if !caller.is_root() {
        return Err(Error::Forbidden(
            "only the root token may make recovery shares (sys/recovery-shares), \
             whatever a policy grants on sys/"
                .into(),
        ));
    }
    let _one = recovery.one_init();
    if !state.is_initialised() {
        return Err(Error::invalid(
            "the store is not initialised: sys/init makes the recovery shares",
        ));
    }
    let refused = |info: Option<RecoveryInfo>| {
        Error::invalid(format!(
            "this store already has recovery shares (init id {}): new ones would not revoke them, \
             and changing the root key (rekey) is not supported yet",
            info.map_or_else(|| "?".into(), |i| i.init_id)
        ))
    };
    if let Some(info) = state.recovery_info() {
        return Err(refused(Some(info)));
    }
    recovery::check_for_initialised(&req)?;
    let split = recovery::split(platform, recovery.root(), &req)?.ok_or_else(|| {
        Error::invalid(
            "give secret_shares, secret_threshold and pgp_keys (one RSA public key per share)",
        )
    })?;
    // Sealed first: the sealed facts, not the hint, decide that no more
    // shares are made (another replica may have made some meanwhile).
    if !state.seal_recovery(&split.info)? {
        return Err(refused(state.recovery_info()));
    }
    write_hint(state, &split.info);
    Ok(Shares::from(split))
}

/// Writes the unsealed hint of the facts just sealed. If that fails, the
/// shares are still answered: the next open writes it again from the
/// sealed record ([`State::reconcile_recovery`]).
fn write_hint(state: &State, info: &RecoveryInfo) {
    if let Err(e) = state.set_recovery_hint(info) {
        tracing::warn!(
            "cannot write the unsealed copy of the recovery facts now ({e}); \
             it is written again at the next start"
        );
    }
}
