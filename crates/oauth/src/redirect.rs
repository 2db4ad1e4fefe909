//! Which redirect URIs a client may register, and when a presented one
//! matches (RFC 6749 §3.1.2, RFC 8252 §7, the OAuth 2.1 draft §2.3.1):
//! https; http only to a loopback host, matched ignoring the port (a
//! native app listens on whatever port it gets, RFC 8252 §7.3); private-use
//! schemes named like a domain (`com.example.app:/cb`) or with a dotted
//! authority (Cursor's `cursor://anysphere.cursor-mcp/oauth/callback`).
//! Never a fragment, a wildcard, or a scheme a browser runs or reads
//! locally (`javascript:`, `data:`, `file:`, ...).

use url::Url;

/// The most characters of one redirect URI.
pub const MAX_URI_LEN: usize = 2000;

/// Schemes that run code or read local data in a browser: never a
/// redirect target.
const REFUSED_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "blob",
    "about",
    "filesystem",
    "view-source",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
    "sms",
    "chrome",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// An https URI.
    Https,
    /// http to a loopback host: a native app's local listener.
    Loopback,
    /// A private-use scheme of a native app.
    PrivateUse,
}

/// Whether `host` is a loopback host of RFC 8252 §7.3 (or `localhost`,
/// which clients such as Claude Code use).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks one redirect URI a client registers (or a metadata document
/// lists). The error says what is wrong, for `invalid_redirect_uri`.
pub fn check_redirect_uri(raw: &str) -> Result<RedirectKind, String> {
    if raw.is_empty() || raw.len() > MAX_URI_LEN {
        return Err(format!(
            "a redirect URI must be 1 to {MAX_URI_LEN} characters"
        ));
    }
    if raw.contains('#') {
        return Err(format!(
            "{raw} has a fragment, which a redirect URI must not"
        ));
    }
    if raw.contains('*') {
        return Err(format!("{raw} has a wildcard; register each exact URI"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a redirect URI must not contain spaces or control characters".into());
    }
    let url = Url::parse(raw).map_err(|_| format!("{raw} is not an absolute URI"))?;
    let scheme = url.scheme();
    if REFUSED_SCHEMES.contains(&scheme) {
        return Err(format!(
            "the {scheme}: scheme is not allowed in a redirect URI"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw} carries credentials"));
    }
    match scheme {
        "https" => match url.host_str() {
            Some(h) if !h.is_empty() => Ok(RedirectKind::Https),
            _ => Err(format!("{raw} has no host")),
        },
        "http" => match url.host_str() {
            Some(h) if is_loopback_host(h) => Ok(RedirectKind::Loopback),
            _ => Err(format!(
                "{raw}: http is allowed only to a loopback host (127.0.0.1, [::1] or localhost); use https"
            )),
        },
        _ => {
            let dotted_authority = url.host_str().is_some_and(|h| h.contains('.'));
            if scheme.contains('.') || dotted_authority {
                Ok(RedirectKind::PrivateUse)
            } else {
                Err(format!(
                    "{raw}: a private-use scheme must be named like a domain (com.example.app:/callback)"
                ))
            }
        }
    }
}

/// Whether a presented redirect URI is the registered one: the same
/// string, or, for a loopback registration, the same but for the port.
pub fn redirect_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(reg), Ok(pre)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    if reg.scheme() != "http" || !reg.host_str().is_some_and(is_loopback_host) {
        return false;
    }
    let without_port = |mut u: Url| {
        let _ = u.set_port(None);
        u
    };
    !presented.contains('#') && without_port(reg) == without_port(pre)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_table() {
        let accepted = [
            ("https://app.example.com/callback", RedirectKind::Https),
            ("http://127.0.0.1/callback", RedirectKind::Loopback),
            ("http://127.0.0.1:33418/callback", RedirectKind::Loopback),
            (
                "http://localhost:6274/oauth/callback",
                RedirectKind::Loopback,
            ),
            ("http://[::1]:8080/cb", RedirectKind::Loopback),
            (
                "cursor://anysphere.cursor-mcp/oauth/callback",
                RedirectKind::PrivateUse,
            ),
            ("com.example.app:/oauth2redirect", RedirectKind::PrivateUse),
            (
                "https://www.cursor.com/agents/mcp/oauth/callback",
                RedirectKind::Https,
            ),
        ];
        for (uri, kind) in accepted {
            assert_eq!(check_redirect_uri(uri), Ok(kind), "{uri}");
        }
        let refused = [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "https://app.example.com/cb#frag",
            "https://*.example.com/cb",
            "http://app.example.com/cb",
            "http://10.0.0.1/cb",
            "myapp://callback",
            "https://user:pw@app.example.com/cb",
            "/relative/callback",
            "",
            "https://app.example.com/ cb",
        ];
        for uri in refused {
            assert!(check_redirect_uri(uri).is_err(), "{uri} must be refused");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_URI_LEN));
        assert!(check_redirect_uri(&long).is_err());
    }

    #[test]
    fn loopback_matches_ignoring_the_port_and_nothing_else() {
        let reg = "http://127.0.0.1:5000/callback";
        assert!(redirect_matches(reg, "http://127.0.0.1:61234/callback"));
        assert!(redirect_matches(reg, "http://127.0.0.1/callback"));
        assert!(!redirect_matches(reg, "http://127.0.0.1:61234/other"));
        assert!(!redirect_matches(reg, "http://localhost:61234/callback"));
        assert!(!redirect_matches(reg, "http://127.0.0.1:61234/callback#x"));
        assert!(!redirect_matches(reg, "https://127.0.0.1:61234/callback"));
        let https = "https://app.example.com/cb";
        assert!(redirect_matches(https, https));
        assert!(!redirect_matches(https, "https://app.example.com:8443/cb"));
        assert!(!redirect_matches(https, "https://app.example.com/cb?x=1"));
    }
}
