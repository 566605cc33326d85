//! How much of the server one client may hold, and for how long: the
//! bounds that keep slow or greedy clients from starving the others.
//!
//! - At most [`MAX_CONNECTIONS`] open connections in all (further clients
//!   wait in the kernel's backlog), and at most [`MAX_PER_ADDRESS`] from
//!   one source ([`PerAddress`]): one address cannot take every slot.
//! - A TLS handshake must finish within [`HANDSHAKE_TIMEOUT`], an HTTP/1
//!   request header within [`HEADER_TIMEOUT`], a request body within
//!   [`crate::http::body::BODY_TIMEOUT`]; a connection with no request for
//!   [`IDLE_TIMEOUT`] is closed (HTTP/1 and HTTP/2 alike,
//!   [`super::watchdog`]).
//! - On shutdown, open connections get [`DRAIN_TIMEOUT`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub const MAX_CONNECTIONS: usize = 1024;
/// A quarter of the slots: a few busy clients behind one address (a NAT,
/// a proxy) still fit; one flood leaves three quarters to everyone else.
pub const MAX_PER_ADDRESS: usize = MAX_CONNECTIONS / 4;
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a connection comes from, for [`MAX_PER_ADDRESS`].
pub use crate::services::source::Source;

/// Open connections per [`Source`].
#[derive(Clone, Default)]
pub struct PerAddress(Arc<Mutex<HashMap<Source, usize>>>);

/// One open connection of a source; counted until dropped.
pub struct AddressSlot {
    counts: PerAddress,
    source: Source,
}

impl PerAddress {
    /// A slot for one more connection from `ip`, or `None` if its source
    /// already holds [`MAX_PER_ADDRESS`].
    pub fn try_take(&self, ip: IpAddr) -> Option<AddressSlot> {
        let source = Source::of(ip);
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(source).or_insert(0);
        if *count >= MAX_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: self.clone(),
            source,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_source_holds_at_most_its_share() {
        let per = PerAddress::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: Vec<_> = (0..MAX_PER_ADDRESS)
            .map(|_| per.try_take(a).unwrap())
            .collect();
        assert!(per.try_take(a).is_none());
        // The same address written as IPv4-mapped IPv6 is the same source.
        assert!(per.try_take("::ffff:10.0.0.1".parse().unwrap()).is_none());
        assert!(per.try_take(b).is_some());
        drop(held);
        assert!(per.try_take(a).is_some());
        assert!(per.0.lock().unwrap().len() <= 1);
    }
}
