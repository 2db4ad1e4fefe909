//! Client addresses: who a request came from when it passed through
//! proxies the operator trusts, and the bucket an address is limited in.
//!
//! Behind a load balancer every request's socket peer is the balancer, so
//! per-address limits would put all clients in one bucket. When the peer is
//! a trusted proxy (`AUTHGATE_TRUSTED_PROXIES`), the client is the rightmost
//! `X-Forwarded-For` address that is not itself trusted: each trusted hop
//! appends the address it saw, so what a client writes into the header
//! itself stands to the left of that and changes nothing. An untrusted
//! peer's header is ignored. IPv6 clients are limited by their /64 (one
//! host is given a whole /64 to rotate through).

use std::net::{IpAddr, Ipv6Addr};

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` or a lone address (a /32 or /128).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{text}' is not an address or an address block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{text}': the prefix must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr {
            network: mask(addr, prefix),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`) as the IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

fn trusted(ip: IpAddr, proxies: &[Cidr]) -> bool {
    proxies.iter().any(|c| c.contains(ip))
}

/// The client of a request whose socket peer is `peer`, given the values
/// of its `X-Forwarded-For` headers in order and the trusted proxies.
pub fn client_address<'a>(
    peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>, proxies: &[Cidr],
) -> IpAddr {
    let peer = canonical(peer);
    if !trusted(peer, proxies) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Nothing to the left of a hop that does not parse can be believed.
            return nearest;
        };
        if !trusted(ip, proxies) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// One `X-Forwarded-For` entry: an address, `[v6]` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(inner) = hop.strip_prefix('[').and_then(|h| h.split(']').next()) {
        return inner.parse::<IpAddr>().ok().map(canonical);
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

/// The bucket per-address limits count `ip` in: an IPv4 address itself,
/// an IPv6 address's /64.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        v4 @ IpAddr::V4(_) => v4,
        v6 => mask(v6, 64),
    }
}

/// [`bucket`] of an address written as text; text that is not an address
/// is its own bucket.
pub fn bucket_of(ip: &str) -> String {
    ip.parse::<IpAddr>()
        .map(|ip| bucket(ip).to_string())
        .unwrap_or_else(|_| ip.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| Cidr::parse(c).expect("cidr")).collect()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let c = Cidr::parse("10.1.0.0/16").expect("v4");
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let c = Cidr::parse("2001:db8::/32").expect("v6");
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        assert!(!c.contains(ip("10.1.0.1")));
        assert_eq!(
            Cidr::parse("192.0.2.7").expect("one").to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            Cidr::parse("0.0.0.0/0").expect("all").to_string(),
            "0.0.0.0/0"
        );
        for bad in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "example.com",
            "10.0.0.0/x",
            "",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop_of_a_trusted_peer() {
        let proxies = cidrs(&["10.0.0.0/8", "2001:db8:1::/48"]);
        // No trusted proxy: the header is ignored.
        assert_eq!(
            client_address(ip("198.51.100.1"), ["192.0.2.9"], &[]),
            ip("198.51.100.1")
        );
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_address(ip("198.51.100.1"), ["192.0.2.9"], &proxies),
            ip("198.51.100.1")
        );
        // A trusted peer: the address it appended.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["192.0.2.9"], &proxies),
            ip("192.0.2.9")
        );
        // A forged entry written by the client stands left: it changes nothing.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["203.0.113.66, 192.0.2.9"], &proxies),
            ip("192.0.2.9")
        );
        // Two trusted hops, over two headers.
        assert_eq!(
            client_address(
                ip("10.0.0.5"),
                ["203.0.113.66, 192.0.2.9", "10.0.0.7"],
                &proxies
            ),
            ip("192.0.2.9")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["10.9.9.9, 10.0.0.7"], &proxies),
            ip("10.9.9.9")
        );
        // No header: the peer.
        assert_eq!(client_address(ip("10.0.0.5"), [], &proxies), ip("10.0.0.5"));
        // Garbage stops the walk at the nearest trusted hop.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["192.0.2.9, nonsense"], &proxies),
            ip("10.0.0.5")
        );
        // Ports and brackets.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["192.0.2.9:4711"], &proxies),
            ip("192.0.2.9")
        );
        assert_eq!(
            client_address(ip("2001:db8:1::2"), ["[2001:db8:2::7]:443"], &proxies),
            ip("2001:db8:2::7")
        );
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        assert_eq!(bucket(ip("2001:db8:0:1:aaaa::1")), ip("2001:db8:0:1::"));
        assert_eq!(
            bucket(ip("2001:db8:0:1:ffff:1:2:3")),
            bucket(ip("2001:db8:0:1::9"))
        );
        assert_ne!(bucket(ip("2001:db8:0:1::1")), bucket(ip("2001:db8:0:2::1")));
        assert_eq!(bucket(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket_of("2001:db8::5"), "2001:db8::");
        assert_eq!(bucket_of("not an address"), "not an address");
    }
}
