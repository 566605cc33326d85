//! Where a request comes from, as one client: the IPv4 address, or the
//! IPv6 /64 (one host usually holds a whole /64). Taken from the TCP
//! connection, never from a header: the peer address is what the
//! untrusted network gives us, and it is all we have. The connection
//! limits (`crate::server::limits`), the rate limits ([`super::throttle`])
//! and the audit log's counts of unauthenticated requests all key on it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One client: an IPv4 address or an IPv6 /64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Source(u128);

/// Marks an IPv6 /64 (above any IPv4 address).
const IPV6: u128 = 1 << 64;

impl Source {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u128::from(u32::from(v4))),
                None => Self(u128::from(v6) >> 64 | IPV6),
            },
        }
    }
}

impl std::fmt::Display for Source {
    /// `192.0.2.7`, or `2001:db8:1:2::/64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 & IPV6 == 0 {
            let v4 = u32::try_from(self.0).unwrap_or_default();
            write!(f, "{}", Ipv4Addr::from(v4))
        } else {
            write!(f, "{}/64", Ipv6Addr::from((self.0 & !IPV6) << 64))
        }
    }
}

/// The client at IPv4 address `n`, for the tests of what keys on sources.
#[cfg(test)]
pub fn test_source(n: u32) -> Source {
    Source::of(IpAddr::V4(n.into()))
}

/// The connection's peer, put on each of its requests by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Source);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_ipv6_host_is_its_slash_64() {
        let one = Source::of("2001:db8:1:2::1".parse().unwrap());
        let same = Source::of("2001:db8:1:2:ffff::9".parse().unwrap());
        let other = Source::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(one, same);
        assert_ne!(one, other);
        // No IPv6 /64 is taken for an IPv4 address.
        assert_ne!(
            Source::of("0.0.0.1".parse().unwrap()),
            Source::of("::1".parse().unwrap())
        );
        assert_eq!(one.to_string(), "2001:db8:1:2::/64");
        assert_eq!(Source::of("::1".parse().unwrap()).to_string(), "::/64");
    }

    #[test]
    fn an_ipv4_address_is_itself_written_or_mapped() {
        let v4 = Source::of("192.0.2.7".parse().unwrap());
        assert_eq!(v4, Source::of("::ffff:192.0.2.7".parse().unwrap()));
        assert_eq!(v4.to_string(), "192.0.2.7");
    }
}
