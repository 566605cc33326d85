//! How much of the server one client may hold, and for how long: the
//! bounds that keep slow or greedy clients from starving the others.
//!
//! - At most [`Limits::connections`] open connections in all (1,024 by
//!   default), at most [`Limits::per_address`] from one source (a quarter
//!   of them by default): one address cannot take every slot; and when
//!   every slot is taken, a newcomer from an address holding less than its
//!   fair share still gets in ([`super::slots`]).
//! - A TLS handshake must finish within [`HANDSHAKE_TIMEOUT`], an HTTP/1
//!   request header within [`HEADER_TIMEOUT`], a request body within
//!   [`crate::http::body::BODY_TIMEOUT`]; a connection with no request for
//!   [`IDLE_TIMEOUT`] is closed (HTTP/1 and HTTP/2 alike,
//!   [`super::watchdog`]).
//! - On shutdown, open connections get [`DRAIN_TIMEOUT`].

use std::time::Duration;

use crate::error::Error;

pub const MAX_CONNECTIONS: usize = 1024;
/// Most open connections an operator may ask for: each holds a file
/// descriptor and TLS buffers.
pub const MAX_CONNECTIONS_CEILING: usize = 65_536;
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection limits (`kms-host run --max-connections`,
/// `--max-connections-per-address`), checked here: the host that passes
/// them is not trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most.
    pub connections: usize,
    /// Open connections from one source at most.
    pub per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self::of(MAX_CONNECTIONS)
    }
}

impl Limits {
    /// A quarter of the slots per address: a few busy clients behind one
    /// address (a NAT, a proxy) still fit; one flood leaves three quarters
    /// to everyone else.
    fn of(connections: usize) -> Self {
        Self {
            connections,
            per_address: (connections / 4).max(1),
        }
    }

    /// The limits asked for, each defaulting as above, or why not.
    pub fn new(connections: Option<u32>, per_address: Option<u32>) -> Result<Self, Error> {
        let as_usize = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        let mut limits = Self::of(connections.map_or(MAX_CONNECTIONS, as_usize));
        if !(1..=MAX_CONNECTIONS_CEILING).contains(&limits.connections) {
            return Err(Error::invalid(format!(
                "max connections {}: give 1 to {MAX_CONNECTIONS_CEILING}",
                limits.connections
            )));
        }
        if let Some(per_address) = per_address.map(as_usize) {
            if !(1..=limits.connections).contains(&per_address) {
                return Err(Error::invalid(format!(
                    "max connections per address {per_address}: give 1 to the max connections ({})",
                    limits.connections
                )));
            }
            limits.per_address = per_address;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn limits_default_and_are_checked() {
        assert_eq!(
            Limits::new(None, None).unwrap(),
            Limits {
                connections: 1024,
                per_address: 256
            }
        );
        assert_eq!(Limits::new(Some(64), None).unwrap().per_address, 16);
        assert_eq!(Limits::new(Some(2), None).unwrap().per_address, 1);
        assert_eq!(Limits::new(Some(64), Some(64)).unwrap().per_address, 64);
        for (max, per) in [(Some(0), None), (Some(70_000), None), (None, Some(0))] {
            assert!(Limits::new(max, per).is_err(), "{max:?} {per:?}");
        }
        let e = Limits::new(Some(64), Some(65)).unwrap_err();
        assert!(
            e.to_string().contains("give 1 to the max connections (64)"),
            "{e}"
        );
    }
}
