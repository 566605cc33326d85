//! Where a request comes from: the source address of its connection, as
//! the accept loop saw it (never a header: anyone can write those). What
//! one client may hold is bounded per source: connection slots
//! (`crate::server::limits`) and open nonces ([`super::nonces`]).

use std::net::IpAddr;

/// One client, for per-address bounds: the IPv4 address, or the IPv6 /64
/// (one host usually holds a whole /64). The server puts it in every
/// request's extensions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Source(u128);

impl Source {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u128::from(u32::from(v4))),
                None => Self(u128::from(v6) >> 64 | 1 << 64),
            },
        }
    }
}

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
        // The same address written as IPv4-mapped IPv6 is the same source.
        assert_eq!(
            Source::of("10.0.0.1".parse().unwrap()),
            Source::of("::ffff:10.0.0.1".parse().unwrap())
        );
    }
}
