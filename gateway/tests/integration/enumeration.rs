//! Security review 2, fault 5: answers told addresses apart. verify-email
//! answered 412 "already verified" for verified addresses and 400 for
//! unknown ones; magic-link/request answered 429 for unknown addresses and
//! 202 for known ones once a client's sign-up budget was spent. Now
//! existing and unknown addresses get the same status and body, and
//! unknown addresses spend nothing.

use serde_json::{Value, json};

use crate::common::{self, Answer, mail_to, post, query_n, sign_up};

/// The error object without its request id (unique to each request).
fn body_of(a: &Answer) -> Value {
    let mut error = a.body["error"].clone();
    error["request_id"] = Value::Null;
    json!({"status": a.status, "error": error})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_email_answers_the_same_for_every_address() {
    common::each_backend_with_mail(&[], async |gw, inbox| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        sign_up(&url, &p, "verified@example.com", "a fine password").await;
        let code = common::six_digits(&mail_to(inbox, "verified@example.com", "code", 1).await);
        let a = post(
            &url,
            "/api/v1/auth/verify-email",
            Some(&p),
            json!({"email": "verified@example.com", "code": code}),
        )
        .await;
        assert_eq!(a.status, 200);
        sign_up(&url, &p, "pending@example.com", "a fine password").await;
        let verify = async |email: &str| {
            post(
                &url,
                "/api/v1/auth/verify-email",
                Some(&p),
                json!({"email": email, "code": "000001"}),
            )
            .await
        };
        let unknown = body_of(&verify("nobody@example.com").await);
        assert_eq!(unknown["status"], 400, "{unknown}");
        assert_eq!(
            body_of(&verify("verified@example.com").await),
            unknown,
            "a verified address"
        );
        assert_eq!(
            body_of(&verify("pending@example.com").await),
            unknown,
            "a wrong code"
        );
        // Unknown addresses spend nothing.
        let rows = async || {
            query_n(
                gw.store(),
                "SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) AS n FROM verification_codes",
            )
            .await
                + query_n(gw.store(), "SELECT COUNT(*) AS n FROM auth_throttle").await
        };
        let before = rows().await;
        for _ in 0..3 {
            verify("nobody@example.com").await;
        }
        assert_eq!(
            rows().await,
            before,
            "no try or counter for an unknown address"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_link_requests_answer_202_for_every_address() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        common::enable_links(c).await;
        sign_up(&url, &p, "known@example.com", "a fine password").await;
        // Spend this client's sign-up budget (20 an hour) with new addresses.
        let request = async |email: &str| {
            post(
                &url,
                "/api/v1/auth/magic-link/request",
                Some(&p),
                json!({"email": email}),
            )
            .await
        };
        for i in 0..20 {
            assert_eq!(request(&format!("new-{i}@example.com")).await.status, 202);
        }
        let unknown = request("one-more@example.com").await;
        let known = request("known@example.com").await;
        assert_eq!(
            (unknown.status, known.status),
            (202, 202),
            "{unknown:?} {known:?}"
        );
        assert_eq!(unknown.body, known.body);
        mail_to(inbox, "known@example.com", "token=", 1).await;
        let made = query_n(
            gw.store(),
            "SELECT COUNT(*) AS n FROM end_users WHERE email = 'one-more@example.com'",
        )
        .await;
        assert_eq!(made, 0, "no account past the budget");
    })
    .await;
}
