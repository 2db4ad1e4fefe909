//! The hot path's guarantees: cached keys are revoked exactly (on the
//! gateway that revoked, at once; on another gateway on the same
//! PostgreSQL, through LISTEN/NOTIFY), and /metrics.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{self, ok, post_raw};

fn whoami_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "whoami", "arguments": {}}})
    .to_string()
}

async fn status_of(url: &str, key: &str) -> u16 {
    post_raw(
        url,
        Some(key),
        whoami_body(),
        &[("mcp-protocol-version", "2025-06-18")],
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regenerate_refuses_every_cached_key_on_the_next_request() {
    common::each_backend_with_client(&[("AUTHGATE_STATELESS", "true")], async |gw, admin| {
        let other = ok(admin, "create_api_key", json!({"scopes": ["read"]})).await;
        let other = other["key"].as_str().expect("key").to_owned();
        // Both keys are now cached.
        assert_eq!(status_of(&gw.mcp_url(), &other).await, 200);
        assert_eq!(status_of(&gw.mcp_url(), &gw.admin_key).await, 200);
        assert!(gw.server.app.key_cache.len() >= 2);
        let regen = ok(admin, "regenerate_api_key", json!({})).await;
        for old in [&other, &gw.admin_key] {
            assert_eq!(
                status_of(&gw.mcp_url(), old).await,
                401,
                "the very next request"
            );
        }
        let fresh = regen["key"].as_str().expect("key");
        assert_eq!(status_of(&gw.mcp_url(), fresh).await, 200);
    })
    .await;
}

/// Two gateways on one PostgreSQL: a key revoked through one is refused by
/// the other, which had it cached, as soon as the notification arrives:
/// well inside the cache TTL that would otherwise bound it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_gateway_is_refused_by_another() {
    let Some(db) = authgate_store::testing::postgres_only(
        "a_key_revoked_on_one_gateway_is_refused_by_another",
    )
    .await
    else {
        return;
    };
    let a = common::start(&db, &[("AUTHGATE_STATELESS", "true")]).await;
    let b_store = db.store().await;
    let b = authgate_gateway::Server::start(
        common::config(&db, &[("AUTHGATE_STATELESS", "true")]),
        b_store,
        common::SECRET.as_bytes(),
        std::sync::Arc::new(authgate_core::SystemClock),
    )
    .await
    .expect("second gateway");
    let b_url = format!("{}/api/mcp", b.url());
    let admin = common::connect(&a.mcp_url(), &a.admin_key).await;
    let victim = ok(&admin, "create_api_key", json!({"scopes": ["read"]})).await;
    let key = victim["key"].as_str().expect("key").to_owned();
    assert_eq!(status_of(&b_url, &key).await, 200, "B caches the key");
    assert_eq!(b.app.key_cache.len(), 1);
    // Give B's listener a moment to be connected before the revocation.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ok(&admin, "revoke_api_key", json!({"key_id": victim["id"]})).await;
    assert_eq!(status_of(&a.mcp_url(), &key).await, 401, "at once on A");
    let started = Instant::now();
    let mut status = 200;
    while started.elapsed() < Duration::from_secs(3) {
        status = status_of(&b_url, &key).await;
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 401, "B refuses it within 3 s, before its 10 s TTL");
    b.stop().await;
    a.server.stop().await;
}

/// Label values of every series in a Prometheus text rendering.
fn label_values(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(start) = line.find('{') else {
            continue;
        };
        let Some(end) = line.rfind('}') else { continue };
        for pair in line[start + 1..end].split("\",") {
            if let Some((k, v)) = pair.split_once("=\"") {
                out.push((k.to_owned(), v.trim_end_matches('"').to_owned()));
            }
        }
    }
    out
}

fn value_of(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_with_bounded_labels() {
    common::each_backend_with_client(&[], async |gw, c| {
        for _ in 0..3 {
            ok(c, "whoami", json!({})).await;
        }
        ok(
            c,
            "add_callback",
            json!({"url": "https://m.example.com/cb"}),
        )
        .await;
        let unknown = format!("ag_live_{}", "M".repeat(40));
        post_raw(
            &gw.mcp_url(),
            Some(&unknown),
            common::initialize_body(),
            &[],
        )
        .await;
        let scrape = || async {
            let resp = reqwest::get(format!("{}/metrics", gw.url()))
                .await
                .expect("answered");
            assert_eq!(resp.status(), 200);
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap_or_default()
                    .starts_with("text/plain")
            );
            resp.text().await.expect("text")
        };
        let first = scrape().await;
        let calls = r#"authgate_tool_calls_total{tool="whoami",outcome="success"}"#;
        let before = value_of(&first, calls);
        assert!(before >= 3.0, "{first}");
        for series in [
            r#"authgate_tool_call_duration_seconds_bucket{tool="whoami",le="0.01"}"#,
            r#"authgate_tool_call_duration_seconds_count{tool="whoami"}"#,
            r#"authgate_tool_calls_total{tool="add_callback",outcome="success"}"#,
            r#"authgate_auth_failures_total{reason="unknown"}"#,
            r#"authgate_http_requests_total{endpoint="/api/mcp",status="200"}"#,
            r#"authgate_db_pool_connections{state="size"}"#,
            r#"authgate_outbox_messages{status="pending"}"#,
            "authgate_build_info{version=",
        ] {
            assert!(first.contains(series), "{series} in\n{first}");
        }
        ok(c, "whoami", json!({})).await;
        let second = scrape().await;
        assert!(value_of(&second, calls) > before, "the counter grows");
        let histogram = r#"authgate_tool_call_duration_seconds_count{tool="whoami"}"#;
        assert!(value_of(&second, histogram) > value_of(&first, histogram));

        // Every label value is from a closed set.
        let tools: BTreeSet<String> = common::registry()
            .iter()
            .map(|t| t.meta().name.to_owned())
            .chain(["unknown".to_owned()])
            .collect();
        for (label, value) in label_values(&second) {
            let bounded = match label.as_str() {
                "tool" => tools.contains(&value),
                // Tool calls; webhook deliveries.
                "outcome" => [
                    "success",
                    "error",
                    "denied",
                    "delivered",
                    "retried",
                    "failed",
                ]
                .contains(&value.as_str()),
                "status" => {
                    value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit())
                        || ["pending", "failed"].contains(&value.as_str())
                }
                "endpoint" => value.starts_with('/') || value == "unmatched",
                "reason" => [
                    "missing",
                    "malformed",
                    "unknown",
                    "revoked",
                    "unavailable",
                    "admin_login",
                ]
                .contains(&value.as_str()),
                "limit" => [
                    "per_key",
                    "per_project",
                    "auth_failures_per_ip",
                    "public_per_ip",
                    "oauth_register_per_ip",
                ]
                .contains(&value.as_str()),
                "state" => ["size", "in_use"].contains(&value.as_str()),
                "le" | "quantile" => value.parse::<f64>().is_ok() || value == "+Inf",
                "version" => value == env!("CARGO_PKG_VERSION"),
                _ => false,
            };
            assert!(bounded, "label {label}={value} is not from a closed set");
            assert!(!value.contains("ag_") && !value.contains('@') && !value.contains("prj_"));
        }
    })
    .await;
}
