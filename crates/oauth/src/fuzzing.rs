//! Fuzz harness bodies (issue 25): plain functions, so `fuzz/` drives them
//! under libFuzzer and a stable test replays their corpora. Each asserts a
//! property, not only that nothing panics.

use crate::clients::{MAX_CIMD_BYTES, validate_cimd};
use crate::redirect::{RedirectKind, check_redirect_uri, is_loopback_host, redirect_matches};

/// A redirect URI the rules accept is never one they forbid: no fragment,
/// no wildcard, no browser-run or local scheme, http only to loopback; it
/// matches itself.
pub fn redirect_uri(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(kind) = check_redirect_uri(raw) else {
        return;
    };
    assert!(!raw.contains('#') && !raw.contains('*'), "{raw}");
    let parsed = url::Url::parse(raw);
    assert!(parsed.is_ok(), "accepted but does not parse: {raw}");
    let Ok(url) = parsed else { return };
    let scheme = url.scheme();
    for refused in ["javascript", "data", "file", "vbscript", "blob", "about"] {
        assert_ne!(scheme, refused, "{raw}");
    }
    match kind {
        RedirectKind::Https => assert_eq!(scheme, "https", "{raw}"),
        RedirectKind::Loopback => {
            assert_eq!(scheme, "http", "{raw}");
            assert!(url.host_str().is_some_and(is_loopback_host), "{raw}");
        }
        RedirectKind::PrivateUse => assert!(scheme != "http" && scheme != "https", "{raw}"),
    }
    assert!(redirect_matches(raw, raw), "{raw}");
}

/// The URL every document is fetched from in the harness.
pub const CIMD_URL: &str = "https://client.example/oauth/client.json";

/// A client metadata document the checks accept names itself, is small,
/// and lists only redirect URIs the rules accept.
pub fn cimd_document(data: &[u8]) {
    let Ok(client) = validate_cimd(CIMD_URL, data) else {
        return;
    };
    assert!(data.len() <= MAX_CIMD_BYTES);
    let doc = serde_json::from_slice::<serde_json::Value>(data);
    assert!(
        doc.as_ref().is_ok_and(|d| d["client_id"] == CIMD_URL),
        "accepted documents name themselves"
    );
    for uri in client.redirect_uris() {
        assert!(check_redirect_uri(uri).is_ok(), "{uri}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authgate_core::fuzzing::replay;

    #[test]
    fn the_corpora_replay() {
        assert!(replay("redirect_uri", redirect_uri) >= 10);
        assert!(replay("cimd_document", cimd_document) >= 4);
    }
}
