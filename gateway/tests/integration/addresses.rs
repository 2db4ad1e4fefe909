//! Security review 2, fault 3: every per-address limit used the socket
//! peer, so behind a load balancer all clients shared one bucket (a few
//! dozen garbage keys from one client locked every MCP client out), and
//! the forwarded address was never read. Clients are now told apart behind
//! trusted proxies only (`AUTHGATE_TRUSTED_PROXIES`), by the rightmost
//! untrusted `X-Forwarded-For` hop, and IPv6 clients share their /64.
//! The addresses below are documentation ranges written into a header;
//! every request goes to the gateway on loopback.

use serde_json::json;

use crate::common::{self, Gateway, post_raw, sign_up};

/// Three failures, then one more a second: a test spends it in well under that.
const LIMIT: &str = "1/s burst 3";

/// An MCP request with an unknown key from `forwarded` (none: no header).
async fn bad_key_from(gw: &Gateway, forwarded: Option<&str>) -> u16 {
    let unknown = format!("ag_live_{}", "Q".repeat(40));
    let headers: Vec<(&str, &str)> = forwarded
        .map(|f| ("x-forwarded-for", f))
        .into_iter()
        .collect();
    post_raw(
        &gw.mcp_url(),
        Some(&unknown),
        common::initialize_body(),
        &headers,
    )
    .await
    .status()
    .as_u16()
}

/// Spends a client's failed-authentication budget: three 401s, then 429.
async fn exhaust(gw: &Gateway, forwarded: Option<&str>) {
    for _ in 0..3 {
        assert_eq!(bad_key_from(gw, forwarded).await, 401, "{forwarded:?}");
    }
    assert_eq!(bad_key_from(gw, forwarded).await, 429, "{forwarded:?}");
}

/// The address recorded on the newest sign-in event, after signing in
/// with `forwarded` in the header.
async fn recorded_sign_in_address(gw: &Gateway, forwarded: &str) -> Option<String> {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/sign-in", gw.url()))
        .header("x-authgate-project", &gw.project_id)
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": "proxied@example.com", "password": "a fine password"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status(), 200);
    let events = common::stored_events(gw, Default::default()).await;
    events
        .iter()
        .find(|e| e.event_type == "sign_in.succeeded")
        .and_then(|e| {
            e.metadata
                .get("ip")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_trusted_proxy_are_told_apart_and_forgery_changes_nothing() {
    let overrides = [
        ("AUTHGATE_AUTH_FAILURE_LIMIT", LIMIT),
        ("AUTHGATE_TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
    ];
    common::each_backend(&overrides, async |gw| {
        // One client spends its budget; another behind the same proxy is
        // untouched (before the fix both were the proxy, one bucket).
        exhaust(gw, Some("192.0.2.10")).await;
        assert_eq!(
            bad_key_from(gw, Some("192.0.2.11")).await,
            401,
            "another client"
        );
        // A forged address prepended by the client changes nothing: the
        // proxy's own entry, the rightmost, is the client.
        assert_eq!(
            bad_key_from(gw, Some("198.51.100.7, 192.0.2.10")).await,
            429
        );
        assert_eq!(
            bad_key_from(gw, Some("192.0.2.10, 198.51.100.7")).await,
            401,
            "a new client"
        );
        // IPv6 clients share their /64.
        exhaust(gw, Some("2001:db8:0:1::1")).await;
        assert_eq!(
            bad_key_from(gw, Some("2001:db8:0:1:ffff::9")).await,
            429,
            "same /64"
        );
        assert_eq!(
            bad_key_from(gw, Some("2001:db8:0:2::1")).await,
            401,
            "another /64"
        );

        // Audit events record the forwarded client.
        sign_up(
            &gw.url(),
            &gw.project_id,
            "proxied@example.com",
            "a fine password",
        )
        .await;
        let ip = recorded_sign_in_address(gw, "198.51.100.7, 192.0.2.44").await;
        assert_eq!(ip.as_deref(), Some("192.0.2.44"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_forwarded_header_is_ignored() {
    common::each_backend(&[("AUTHGATE_AUTH_FAILURE_LIMIT", LIMIT)], async |gw| {
        // No trusted proxy: every header is the client's own word, so the
        // peer is the client and rotating the header escapes nothing.
        exhaust(gw, Some("192.0.2.10")).await;
        assert_eq!(bad_key_from(gw, Some("192.0.2.11")).await, 429);
        assert_eq!(bad_key_from(gw, None).await, 429);
        sign_up(
            &gw.url(),
            &gw.project_id,
            "proxied@example.com",
            "a fine password",
        )
        .await;
        let ip = recorded_sign_in_address(gw, "192.0.2.44").await;
        assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    })
    .await;
}
