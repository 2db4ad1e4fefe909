//! Security review 2, fault 11: nothing bounded the unauthenticated data
//! plane. Requests for random addresses each added rows, an unknown
//! refresh token opened a write unit, and spent tokens were never removed.
//! Now a per-address public budget (`AUTHGATE_PUBLIC_RATE_LIMIT`) answers
//! 429 before any work, an unknown refresh token is refused after a read,
//! and spent and expired tokens are pruned after a retention.

use std::time::Duration;

use serde_json::json;

use crate::common::{self, post, query_n, sign_in, sign_up};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_endpoints_share_a_budget_per_address() {
    common::each_backend(&[("AUTHGATE_PUBLIC_RATE_LIMIT", "1/s burst 5")], async |gw| {
        let url = gw.url();
        let p = gw.project_id.as_str();
        let before = query_n(gw.store(), "SELECT COUNT(*) AS n FROM auth_throttle").await;
        let mut statuses = Vec::new();
        for i in 0..8 {
            let path = if i % 2 == 0 {
                "/api/v1/auth/resend-verification"
            } else {
                "/api/v1/auth/sign-in"
            };
            let body = json!({"email": format!("random-{i}@example.com"), "password": "whatever it is"});
            let a = post(&url, path, Some(p), body).await;
            if a.status == 429 {
                assert!(a.headers.get("retry-after").is_some(), "{a:?}");
                assert_eq!(a.body["error"]["code"], "rate_limited");
            }
            statuses.push(a.status);
        }
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 3, "{statuses:?}");
        assert!(statuses[..5].iter().all(|s| *s != 429), "{statuses:?}");
        let after = query_n(gw.store(), "SELECT COUNT(*) AS n FROM auth_throttle").await;
        assert!(after - before <= 10, "refused requests wrote nothing ({before} → {after})");
        // Endpoints that need a key or a token do not spend it.
        let jwks = common::rest(reqwest::Method::GET, &url, &format!("/api/v1/projects/{p}/jwks.json"), None, None, None).await;
        assert_eq!(jwks.status, 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_refresh_token_is_refused_without_a_write() {
    let db = authgate_store::testing::sqlite();
    let gw = common::start(&db, &[]).await;
    let url = gw.url();
    // Another connection holds SQLite's write lock: any write unit waits.
    let holder_store = db.store().await;
    let (held, ready) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        holder_store
            .write(async |_c| {
                let _ = held.send(());
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok::<_, authgate_core::ToolError>(())
            })
            .await
    });
    ready.await.expect("the lock is held");
    let refresh = post(
        &url,
        "/api/v1/auth/refresh",
        Some(&gw.project_id),
        json!({"refresh_token": "not-a-token-we-issued"}),
    );
    let a = tokio::time::timeout(Duration::from_secs(1), refresh)
        .await
        .expect("answered while the write lock is held");
    a.refused(401, "unauthenticated");
    holder.await.expect("joined").expect("the holder's unit");
    gw.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spent_and_expired_tokens_are_pruned_after_the_retention() {
    common::each_backend(&[], async |gw| {
        let url = gw.url();
        let p = gw.project_id.as_str();
        sign_up(&url, p, "prune@example.com", "a fine password").await;
        let first = sign_in(&url, p, "prune@example.com", "a fine password").await;
        let next = post(
            &url,
            "/api/v1/auth/refresh",
            Some(p),
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
        assert_eq!(next.status, 200);
        let count = async || query_n(gw.store(), "SELECT COUNT(*) AS n FROM refresh_tokens").await;
        assert_eq!(count().await, 2, "the spent token and the live one");
        let retention = Duration::from_secs(7 * 86_400);
        let now = chrono::Utc::now();
        // Within the retention nothing goes.
        let pruned = authgate_identity::prune_tokens(gw.store(), retention, now)
            .await
            .expect("prune");
        assert_eq!(pruned.refresh_tokens, 0);
        // Eight days on, the spent token goes; the live one (valid 30 days) stays and works.
        let later = now + chrono::Duration::days(8);
        let pruned = authgate_identity::prune_tokens(gw.store(), retention, later)
            .await
            .expect("prune");
        assert_eq!(pruned.refresh_tokens, 1);
        assert_eq!(count().await, 1);
        let again = post(
            &url,
            "/api/v1/auth/refresh",
            Some(p),
            json!({"refresh_token": next.body["refresh_token"]}),
        )
        .await;
        assert_eq!(again.status, 200, "{again:?}");
        // Much later every token has expired and goes.
        let pruned = authgate_identity::prune_tokens(
            gw.store(),
            retention,
            now + chrono::Duration::days(400),
        )
        .await
        .expect("prune");
        assert_eq!(pruned.refresh_tokens, 2);
        assert_eq!(count().await, 0);
    })
    .await;
}
