//! The decision for every `/v1` request but `sys/init`: the token it
//! presents must be root, or a live token whose policies allow the
//! classified request ([`State::authorize`]). `crate::http` puts this in
//! front of every protected route, so no handler runs for a request its
//! token does not allow; it is made once per request, so a limited-use
//! token is used once. A token from an attested login is also bound to
//! the workload's key ([`check_binding`]).

use std::sync::Arc;

use super::classify::Classified;
use crate::error::Error;
use crate::state::tokens::{Credential, Identity};
use crate::state::State;

/// A decision, and whether making it may have written to the store (a
/// use of a limited token, an expired token purged): the request's audit
/// entry must then be as durable as that write.
pub struct Decision {
    pub identity: Result<Identity, Error>,
    pub wrote: bool,
}

/// Decides whether `credential` may make the request `classified`, over
/// a connection whose TLS client certificate holds the key `client_key`
/// (SHA-256 of its SubjectPublicKeyInfo), if it presented one.
pub async fn decide(
    state: &Arc<State>,
    credential: Option<Credential>,
    classified: &Classified,
    client_key: Option<[u8; 32]>,
) -> Decision {
    let mut decision = decide_token(state, credential, classified).await;
    decision.identity = decision
        .identity
        .and_then(|identity| check_binding(identity, client_key));
    decision
}

/// A token from an attested login is good only with its key: on a
/// connection whose client certificate holds the key it is bound to.
fn check_binding(identity: Identity, client_key: Option<[u8; 32]>) -> Result<Identity, Error> {
    let Some(bound) = identity.bound_key() else {
        return Ok(identity);
    };
    match client_key {
        Some(k) if hex::encode(k) == bound => Ok(identity),
        _ => Err(Error::Forbidden(
            "this token is bound to an attested key: send it over a TLS connection whose client certificate holds that key".into(),
        )),
    }
}

async fn decide_token(
    state: &Arc<State>,
    credential: Option<Credential>,
    classified: &Classified,
) -> Decision {
    let Some(credential) = credential else {
        return Decision {
            identity: Err(Error::Unauthenticated),
            wrote: false,
        };
    };
    // Replicas sharing the store: see every write acknowledged so far.
    if let Err(e) = state.caught_up().await {
        return Decision {
            identity: Err(e),
            wrote: false,
        };
    }
    let access = classified.access;
    let Some(path) = classified.policy_path.clone() else {
        return Decision {
            identity: Err(Error::invalid("invalid percent-encoding")),
            wrote: false,
        };
    };
    // Most decisions are a lookup; only those that write go to a blocking
    // thread (a thread hand-off costs more than the lookup).
    if let Some(decided) = state.authorize_in_memory(&credential, &path, access) {
        return Decision {
            identity: decided,
            wrote: false,
        };
    }
    let state = state.clone();
    let identity = tokio::task::spawn_blocking(move || state.authorize(&credential, &path, access))
        .await
        .unwrap_or_else(|e| Err(Error::internal("authorization", e)));
    Decision {
        identity,
        wrote: true,
    }
}
