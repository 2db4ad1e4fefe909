//! Where a webhook may go (SSRF): an `https` URL whose host is a public
//! address. Plain `http` and loopback hosts only with
//! `AUTHGATE_WEBHOOKS_ALLOW_LOOPBACK=true` (development and tests); private,
//! link-local, multicast, unspecified and cloud-metadata addresses are
//! refused whatever the setting, IPv4 and IPv6 alike (an IPv4-mapped or
//! NAT64 IPv6 address is judged as the IPv4 address inside it). A literal
//! address is judged when the endpoint is saved and again before each
//! delivery; a name is resolved at each delivery and every address it
//! resolves to is judged (the connection goes only to an allowed one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use authgate_core::ToolError;

/// Why an address is refused; the text recorded on the delivery is
/// `refused: <reason>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Loopback,
    Private,
    LinkLocal,
    Metadata,
    Multicast,
    Unspecified,
    Reserved,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Loopback => "loopback address",
            Refusal::Private => "private address",
            Refusal::LinkLocal => "link-local address",
            Refusal::Metadata => "cloud metadata address",
            Refusal::Multicast => "multicast address",
            Refusal::Unspecified => "unspecified address",
            Refusal::Reserved => "reserved address",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {}", self.as_str())
    }
}

/// Judges one address a delivery would connect to.
pub fn check_address(ip: IpAddr, allow_loopback: bool) -> Result<(), Refusal> {
    let refusal = match ip {
        IpAddr::V4(v4) => v4_refusal(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => v4_refusal(v4),
            None => v6_refusal(v6),
        },
    };
    match refusal {
        Some(Refusal::Loopback) if allow_loopback => Ok(()),
        Some(r) => Err(r),
        None => Ok(()),
    }
}

fn v4_refusal(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        // Instance metadata: AWS, GCP, Azure (link-local), Alibaba (in CGNAT),
        // Oracle's 192.0.0.192.
        _ if ip == Ipv4Addr::new(169, 254, 169, 254)
            || ip == Ipv4Addr::new(100, 100, 100, 200)
            || ip == Ipv4Addr::new(192, 0, 0, 192) =>
        {
            Refusal::Metadata
        }
        _ if ip.is_loopback() => Refusal::Loopback,
        _ if a == 0 => Refusal::Unspecified,
        _ if ip.is_private() => Refusal::Private,
        // Carrier-grade NAT (RFC 6598) is private to a provider.
        _ if a == 100 && (64..128).contains(&b) => Refusal::Private,
        _ if ip.is_link_local() => Refusal::LinkLocal,
        _ if ip.is_multicast() => Refusal::Multicast,
        _ if ip.is_broadcast() || a >= 240 => Refusal::Reserved,
        // IETF protocol assignments, documentation and benchmarking ranges.
        _ if (a, b, c) == (192, 0, 0)
            || (a, b, c) == (192, 0, 2)
            || (a, b, c) == (198, 51, 100)
            || (a, b, c) == (203, 0, 113)
            || (a == 198 && (b == 18 || b == 19)) =>
        {
            Refusal::Reserved
        }
        _ => return None,
    })
}

fn v6_refusal(ip: Ipv6Addr) -> Option<Refusal> {
    let s = ip.segments();
    Some(match () {
        // AWS's IPv6 instance metadata service.
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => Refusal::Metadata,
        _ if ip.is_loopback() => Refusal::Loopback,
        _ if ip.is_unspecified() => Refusal::Unspecified,
        _ if ip.is_multicast() => Refusal::Multicast,
        _ if (s[0] & 0xfe00) == 0xfc00 => Refusal::Private,
        _ if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 => Refusal::LinkLocal,
        // Documentation (2001:db8::/32) and discard-only (100::/64).
        _ if (s[0], s[1]) == (0x2001, 0xdb8) || (s[0], s[1], s[2], s[3]) == (0x100, 0, 0, 0) => {
            Refusal::Reserved
        }
        _ => return None,
    })
}

/// The IPv4 address an IPv6 one carries: mapped (`::ffff:a.b.c.d`),
/// compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => {
            Some(tail(hi, lo))
        }
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(tail(hi, lo)),
        [0x2002, hi, lo, ..] => Some(tail(hi, lo)),
        _ => None,
    }
}

/// The address a host stands for without a lookup: a literal address, or
/// loopback for `localhost` and `*.localhost` (RFC 6761). `None` for a
/// name, which is resolved and judged at delivery.
pub fn literal_address(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            (d == "localhost" || d.ends_with(".localhost"))
                .then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
    }
}

/// Checks an endpoint URL when it is saved: `https` (or, with the loopback
/// setting, `http`), a host, no credentials in it, and a literal address
/// or a `localhost` name judged now (never connected to).
pub fn check_url(field: &str, raw: &str, allow_loopback: bool) -> Result<url::Url, ToolError> {
    let bad = |why: String| ToolError::invalid(field, why);
    if raw.len() > 2048 {
        return Err(bad(format!("{field} must be at most 2048 characters")));
    }
    let url = url::Url::parse(raw.trim())
        .map_err(|_| bad(format!("{field} must be an absolute https URL")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback => {}
        "http" => {
            return Err(bad(format!(
                "{field} must use https (plain http is allowed only with AUTHGATE_WEBHOOKS_ALLOW_LOOPBACK=true, for development)"
            )));
        }
        _ => return Err(bad(format!("{field} must be an https URL"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(format!(
            "{field} must not carry credentials; the signature authenticates each delivery"
        )));
    }
    if url.fragment().is_some() {
        return Err(bad(format!("{field} must not have a #fragment")));
    }
    let literal = match url.host() {
        None => return Err(bad(format!("{field} must name a host"))),
        Some(host) => literal_address(&host),
    };
    if let Some(ip) = literal {
        check_address(ip, allow_loopback).map_err(|r| {
            bad(format!(
                "{field} points at a {}: webhooks go to public https endpoints",
                r.as_str()
            ))
        })?;
    }
    Ok(url)
}

/// Fuzz harness body (issue 25): a webhook URL the save-time check accepts
/// with the loopback setting off is https, carries no credentials, and
/// names no literal private, loopback or metadata address.
pub fn fuzz_webhook_url(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(url) = check_url("url", raw, false) else {
        return;
    };
    assert_eq!(url.scheme(), "https", "{raw}");
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{raw}"
    );
    assert!(url.host().is_some(), "accepted without a host: {raw}");
    let Some(host) = url.host() else { return };
    if let Some(ip) = literal_address(&host) {
        assert!(check_address(ip, false).is_ok(), "{raw} reaches {ip}");
        let public_v4 = |v4: std::net::Ipv4Addr| {
            !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified())
        };
        match ip {
            IpAddr::V4(v4) => assert!(public_v4(v4), "{raw} reaches {ip}"),
            IpAddr::V6(v6) => {
                assert!(
                    !v6.is_loopback() && !v6.is_unspecified(),
                    "{raw} reaches {ip}"
                );
                assert!(
                    v6.to_ipv4_mapped().is_none_or(public_v4),
                    "{raw} reaches {ip}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_url_corpus_replays() {
        let n = authgate_core::fuzzing::replay("webhook_url", fuzz_webhook_url);
        assert!(n >= 10, "{n} files");
    }

    fn judge(text: &str, loopback: bool) -> Result<(), Refusal> {
        check_address(text.parse().expect(text), loopback)
    }

    #[test]
    fn the_address_policy_refuses_what_is_not_public() {
        let table: &[(&str, Refusal)] = &[
            ("127.0.0.1", Refusal::Loopback),
            ("127.255.0.9", Refusal::Loopback),
            ("::1", Refusal::Loopback),
            ("::ffff:127.0.0.1", Refusal::Loopback),
            ("0.0.0.0", Refusal::Unspecified),
            ("::", Refusal::Unspecified),
            ("10.0.0.1", Refusal::Private),
            ("10.255.255.255", Refusal::Private),
            ("172.16.0.1", Refusal::Private),
            ("172.31.255.1", Refusal::Private),
            ("192.168.1.1", Refusal::Private),
            ("100.64.0.1", Refusal::Private),
            ("::ffff:10.0.0.1", Refusal::Private),
            ("::ffff:192.168.0.1", Refusal::Private),
            ("64:ff9b::a00:1", Refusal::Private),
            ("2002:c0a8:101::1", Refusal::Private),
            ("fc00::1", Refusal::Private),
            ("fd12:3456::1", Refusal::Private),
            ("169.254.169.254", Refusal::Metadata),
            ("::ffff:169.254.169.254", Refusal::Metadata),
            ("fd00:ec2::254", Refusal::Metadata),
            ("100.100.100.200", Refusal::Metadata),
            ("169.254.1.1", Refusal::LinkLocal),
            ("fe80::1", Refusal::LinkLocal),
            ("224.0.0.1", Refusal::Multicast),
            ("ff02::1", Refusal::Multicast),
            ("255.255.255.255", Refusal::Reserved),
            ("240.0.0.1", Refusal::Reserved),
            ("192.0.2.10", Refusal::Reserved),
            ("2001:db8::1", Refusal::Reserved),
        ];
        for (addr, why) in table {
            assert_eq!(judge(addr, false), Err(*why), "{addr}");
            if *why != Refusal::Loopback {
                assert_eq!(judge(addr, true), Err(*why), "{addr} with loopback allowed");
            }
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.4.4",
        ] {
            assert_eq!(judge(public, false), Ok(()), "{public}");
        }
        for loopback in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(
                judge(loopback, true),
                Ok(()),
                "{loopback} with loopback allowed"
            );
        }
    }

    #[test]
    fn urls_are_checked_when_saved() {
        let refused = |u: &str, loopback: bool| check_url("url", u, loopback).is_err();
        for url in [
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://localhost/hook",
            "https://api.localhost/hook",
            "https://0.0.0.0/hook",
            "https://10.1.2.3/hook",
            "https://169.254.169.254/latest/meta-data",
            "http://example.com/hook",
            "ftp://example.com/hook",
            "https://user:pw@example.com/hook",
            "not a url",
        ] {
            assert!(refused(url, false), "{url}");
        }
        assert!(refused("https://10.1.2.3/hook", true));
        assert!(refused("http://169.254.169.254/", true));
        assert!(!refused("https://example.com/hook", false));
        assert!(!refused("http://127.0.0.1:9000/hook", true));
        assert!(!refused("http://localhost:9000/hook", true));
        let err = check_url("url", "http://example.com", false).expect_err("http");
        assert_eq!(err.field.as_deref(), Some("url"));
    }
}
