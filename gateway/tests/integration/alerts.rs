//! Security alerts: each detection rule fired by a fixture of its own (and
//! no other rule), dedup under 200 parallel failures, the alert states
//! and their audit, on every backend; and the audit completeness of the
//! REST API, derived from its route table.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use authgate_email::testing::Inbox;

use crate::common::{
    self, Client, Gateway, err, link_token, mail_to, ok, post, rest, sign_in, sign_up, six_digits,
};

const PASSWORD: &str = "correct horse battery";

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("a string: {v}"))
        .to_owned()
}

/// The open alerts of the client's project.
async fn alerts(c: &Client) -> Vec<Value> {
    ok(c, "list_security_alerts", json!({"limit": 100})).await["data"]
        .as_array()
        .expect("data")
        .clone()
}

async fn wrong_sign_in(url: &str, p: &str, email: &str) -> u16 {
    post(
        url,
        "/api/v1/auth/sign-in",
        Some(p),
        json!({"email": email, "password": "not the password"}),
    )
    .await
    .status
}

/// Sign-in with a given user agent.
async fn sign_in_as(url: &str, p: &str, email: &str, agent: &str) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/sign-in"))
        .header("x-authgate-project", p)
        .header("user-agent", agent)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("JSON")
}

async fn access_post(url: &str, path: &str, token: &str, body: Value) -> common::Answer {
    rest(Method::POST, url, path, None, Some(token), Some(body)).await
}

/// Runs the fixture of `rule` in the project of `c` (`p`); returns the
/// count its alert should show.
async fn fire(rule: &str, gw: &Gateway, inbox: &Inbox, c: &Client, p: &str) -> i64 {
    let url = gw.url();
    let url = url.as_str();
    let email = format!("{rule}@example.com");
    match rule {
        "brute_force" => {
            sign_up(url, p, &email, PASSWORD).await;
            for _ in 0..10 {
                assert_eq!(wrong_sign_in(url, p, &email).await, 401);
            }
            10
        }
        "credential_stuffing" => {
            for i in 0..5 {
                let email = format!("nobody{i}@example.com");
                assert_eq!(wrong_sign_in(url, p, &email).await, 401);
            }
            5
        }
        "sign_in_after_failures" => {
            sign_up(url, p, &email, PASSWORD).await;
            sign_in_as(url, p, &email, "Laptop/1.0").await;
            for _ in 0..3 {
                assert_eq!(wrong_sign_in(url, p, &email).await, 401);
            }
            sign_in_as(url, p, &email, "Elsewhere/9.9").await;
            1
        }
        "danger_burst" => {
            let mut users = Vec::new();
            for i in 0..5 {
                users.push(
                    sign_up(url, p, &format!("d{i}@example.com"), PASSWORD).await["id"].clone(),
                );
            }
            // A dry run is no danger.
            ok(
                c,
                "delete_end_user",
                json!({"user_id": users[0], "dry_run": true}),
            )
            .await;
            for u in &users {
                ok(c, "delete_end_user", json!({"user_id": u})).await;
            }
            5
        }
        "wildcard_role_assigned" => {
            ok(
                c,
                "create_role",
                json!({"key": "reader", "permissions": ["posts:read"]}),
            )
            .await;
            ok(
                c,
                "create_role",
                json!({"key": "owner", "permissions": ["*"]}),
            )
            .await;
            let org = ok(c, "create_org", json!({"name": "Acme"})).await["id"].clone();
            let u = sign_up(url, p, &email, PASSWORD).await["id"].clone();
            let v = sign_up(url, p, "other@example.com", PASSWORD).await["id"].clone();
            // A role without `*` raises nothing.
            ok(
                c,
                "add_org_member",
                json!({"org_id": org, "user_id": v, "role": "reader"}),
            )
            .await;
            ok(
                c,
                "add_org_member",
                json!({"org_id": org, "user_id": u, "role": "owner"}),
            )
            .await;
            1
        }
        "revoked_key_used" => {
            let key = ok(c, "create_api_key", json!({"name": "leaked"})).await;
            ok(c, "revoke_api_key", json!({"key_id": key["id"]})).await;
            let resp = common::post_raw(
                &gw.mcp_url(),
                Some(&s(&key["key"])),
                common::initialize_body(),
                &[],
            )
            .await;
            assert_eq!(resp.status(), 401);
            1
        }
        "refresh_token_reuse" => {
            sign_up(url, p, &email, PASSWORD).await;
            let first = sign_in(url, p, &email, PASSWORD).await;
            let refresh = json!({"refresh_token": first["refresh_token"]});
            assert_eq!(
                post(url, "/api/v1/auth/refresh", Some(p), refresh.clone())
                    .await
                    .status,
                200
            );
            post(url, "/api/v1/auth/refresh", Some(p), refresh)
                .await
                .refused(401, "unauthenticated");
            1
        }
        "mass_session_revocation" => {
            sign_up(url, p, &email, PASSWORD).await;
            let mut sessions = Vec::new();
            for _ in 0..10 {
                sessions.push(sign_in(url, p, &email, PASSWORD).await["session_id"].clone());
            }
            for sid in sessions {
                ok(c, "revoke_session", json!({"session_id": sid})).await;
            }
            10
        }
        "mfa_factor_removed" => {
            sign_up(url, p, &email, PASSWORD).await;
            let token = s(&sign_in(url, p, &email, PASSWORD).await["access_token"]);
            let e = access_post(
                url,
                "/api/v1/auth/mfa/totp/enroll",
                &token,
                json!({"password": PASSWORD}),
            )
            .await;
            assert_eq!(e.status, 200, "{e:?}");
            let totp = totp_rs::Totp::from_url(s(&e.body["otpauth_uri"])).expect("TOTP URI");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs();
            let code = totp.generate(now).to_string();
            let a = access_post(
                url,
                "/api/v1/auth/mfa/totp/verify",
                &token,
                json!({"code": code}),
            )
            .await;
            assert_eq!(a.status, 200, "{a:?}");
            // The next step's code (the current one is spent).
            let next = totp.generate(now + 30).to_string();
            let a = access_post(
                url,
                "/api/v1/auth/mfa/totp/remove",
                &token,
                json!({"code": next, "password": PASSWORD}),
            )
            .await;
            assert_eq!(a.status, 200, "{a:?}");
            assert_eq!(a.body["status"], "removed");
            1
        }
        "email_change_then_reset" => {
            ok(
                c,
                "add_callback",
                json!({"url": "https://app.example.com/reset"}),
            )
            .await;
            sign_up(url, p, &email, PASSWORD).await;
            let token = s(&sign_in(url, p, &email, PASSWORD).await["access_token"]);
            let new = "taken-over@example.com";
            let a = access_post(
                url,
                "/api/v1/auth/change-email",
                &token,
                json!({"new_email": new, "password": PASSWORD}),
            )
            .await;
            assert_eq!(a.status, 200, "{a:?}");
            assert_eq!(a.body["user"]["pending_email"], new);
            // The change is done when the code mailed to the new address
            // is entered.
            let code = six_digits(&mail_to(inbox, new, "verify your email", 1).await);
            let a = post(
                url,
                "/api/v1/auth/verify-email",
                Some(p),
                json!({"email": new, "code": code}),
            )
            .await;
            assert_eq!(a.status, 200, "{a:?}");
            assert_eq!(a.body["user"]["email"], new);
            let a = post(
                url,
                "/api/v1/auth/password-reset/request",
                Some(p),
                json!({"email": new}),
            )
            .await;
            assert_eq!(a.status, 202);
            let reset = link_token(&mail_to(inbox, new, "token=", 1).await);
            let a = post(
                url,
                "/api/v1/auth/password-reset/confirm",
                Some(p),
                json!({"token": reset, "new_password": "an entirely new secret"}),
            )
            .await;
            assert_eq!(a.status, 200, "{a:?}");
            1
        }
        "permission_probing" => {
            let read = ok(
                c,
                "create_api_key",
                json!({"name": "ro", "scopes": ["read"]}),
            )
            .await;
            let ro = common::connect(&gw.mcp_url(), &s(&read["key"])).await;
            for i in 0..10 {
                let url = format!("https://probe.example.com/{i}");
                err(
                    &ro,
                    "add_callback",
                    json!({"url": url}),
                    "permission_denied",
                )
                .await;
            }
            ro.cancel().await.ok();
            10
        }
        "sign_up_burst" => {
            for i in 0..10 {
                sign_up(url, p, &format!("burst{i}@example.com"), PASSWORD).await;
            }
            10
        }
        "sms_pumping" => {
            let change = json!({"provider": "sms", "enabled": true,
                "client_id": "AC0123456789abcdef0123456789abcdef",
                "client_secret": "twilio-token", "sender": "+15005550006"});
            ok(
                c,
                "configure_auth_providers",
                json!({"providers": [change]}),
            )
            .await;
            let phone = json!({"phone": "+14155550100"});
            for _ in 0..3 {
                let a = post(url, "/api/v1/auth/sms/request", Some(p), phone.clone()).await;
                assert_eq!(a.status, 202);
            }
            post(url, "/api/v1/auth/sms/request", Some(p), phone)
                .await
                .refused(429, "rate_limited");
            1
        }
        "webhook_endpoint_disabled" => {
            // A receiver that answers 410 Gone disables its endpoint at once.
            let rx = crate::webhooks::Receiver::start(None);
            let ep = ok(
                c,
                "create_webhook_endpoint",
                json!({"url": rx.url("/status/410"), "events": ["organization.created"]}),
            )
            .await;
            ok(c, "create_org", json!({"name": "Gone"})).await;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            loop {
                let eps = ok(c, "list_webhook_endpoints", json!({})).await;
                if eps["data"][0]["disabled"] == true {
                    assert_eq!(eps["data"][0]["id"], ep["id"]);
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "not disabled: {eps}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            1
        }
        other => panic!("no fixture for rule {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_fires_exactly_its_alert_once() {
    // No reuse interval: the replay rule's refresh token is presented again at once.
    // SMS goes to the tests' Twilio stand-in.
    let twilio = crate::sms::Twilio::start().await;
    let strict = [
        ("AUTHGATE_REFRESH_REUSE_INTERVAL", "0s"),
        ("AUTHGATE_SMS_TWILIO_BASE_URL", twilio.base.as_str()),
        ("AUTHGATE_WEBHOOKS_ALLOW_LOOPBACK", "true"),
    ];
    common::each_backend_with_mail(&strict, async |gw, inbox| {
        let rules: Vec<&str> = authgate_security::RULES.iter().map(|r| r.key).collect();
        assert_eq!(rules.len(), 14);
        for rule in rules {
            let (p, key) = common::second_project(gw, rule).await;
            let c = common::connect(&gw.mcp_url(), &key).await;
            let expected = fire(rule, gw, inbox, &c, &p).await;
            let got = alerts(&c).await;
            let fired: Vec<&str> = got.iter().filter_map(|a| a["rule"].as_str()).collect();
            assert_eq!(
                fired,
                [rule],
                "the {rule} fixture raised {got:?} [{}]",
                gw.backend
            );
            let alert = &got[0];
            assert_eq!(alert["status"], "open", "{alert}");
            assert_eq!(alert["count"], expected, "{rule}: {alert} [{}]", gw.backend);
            assert!(alert["severity"].is_string());
            // Both are timestamps (two missing ones would compare equal).
            let (first_seen, last_seen) = (s(&alert["first_seen"]), s(&alert["last_seen"]));
            assert!(first_seen <= last_seen, "{alert}");
            c.cancel().await.ok();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_failed_sign_ins_make_one_brute_force_alert_with_the_right_count() {
    common::each_backend(&[], async |gw| {
        let url = gw.url();
        let p = gw.project_id.clone();
        let user = sign_up(&url, &p, "ada@example.com", PASSWORD).await["id"].clone();
        let attempts = (0..200).map(|_| {
            let (url, p) = (url.clone(), p.clone());
            tokio::spawn(async move { wrong_sign_in(&url, &p, "ada@example.com").await })
        });
        for a in futures::future::join_all(attempts).await {
            let status = a.expect("task");
            assert!(status == 401 || status == 429, "{status}");
        }
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let got = alerts(&c).await;
        let brute: Vec<&Value> = got.iter().filter(|a| a["rule"] == "brute_force").collect();
        assert_eq!(brute.len(), 1, "{got:?}");
        assert_eq!(brute[0]["subject"], user);
        let failed = ok(
            &c,
            "list_audit_events",
            json!({"event_type": "sign_in.failed", "target_id": user, "limit": 100}),
        )
        .await;
        let recorded = common::query_n(
            gw.store(),
            &format!(
                "SELECT COUNT(*) AS n FROM audit_events e JOIN audit_event_targets t \
                 ON t.event_id = e.id WHERE e.event_type = 'sign_in.failed' AND t.target_id = '{}'",
                s(&user)
            ),
        )
        .await;
        assert_eq!(recorded, 200, "every attempt is recorded [{}]", gw.backend);
        assert_eq!(failed["has_more"], true);
        assert_eq!(brute[0]["count"], 200, "{} [{}]", brute[0], gw.backend);
        // The rest of the project saw one IP fail on one account only.
        assert!(
            got.iter().all(|a| a["rule"] != "credential_stuffing"),
            "{got:?}"
        );
        c.cancel().await.ok();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_walk_open_acknowledged_resolved_and_each_change_is_audited() {
    common::each_backend_with_client(&[], async |gw, c| {
        let inbox_unused = Inbox::default();
        let p = gw.project_id.clone();
        fire("revoked_key_used", gw, &inbox_unused, c, &p).await;
        let status = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["counts"]["open_security_alerts"], 1, "{status}");
        let alert = alerts(c).await[0].clone();
        let id = s(&alert["id"]);

        let stats = ok(c, "get_security_stats", json!({})).await;
        assert_eq!(
            stats["by_status"],
            json!({"open": 1, "acknowledged": 0, "resolved": 0})
        );
        assert_eq!(stats["by_severity"]["high"], 1);
        assert_eq!(stats["by_rule"], json!({"revoked_key_used": 1}));

        let acked = ok(c, "acknowledge_security_alert", json!({"alert_id": id})).await;
        assert_eq!(acked["status"], "acknowledged");
        assert!(acked["acknowledged_at"].is_string());
        err(
            c,
            "acknowledge_security_alert",
            json!({"alert_id": id}),
            "conflict",
        )
        .await;
        let status = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["counts"]["open_security_alerts"], 0);

        let note = "rotated; the old key was in a CI secret";
        let resolved = ok(
            c,
            "resolve_security_alert",
            json!({"alert_id": id, "note": note}),
        )
        .await;
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["note"], note);
        let again = err(
            c,
            "resolve_security_alert",
            json!({"alert_id": id}),
            "conflict",
        )
        .await;
        assert_eq!(again["field"], "alert_id");
        err(
            c,
            "acknowledge_security_alert",
            json!({"alert_id": id}),
            "conflict",
        )
        .await;
        let open = ok(c, "list_security_alerts", json!({"status": "open"})).await;
        assert_eq!(open["data"], json!([]));
        let done = ok(c, "list_security_alerts", json!({"status": "resolved"})).await;
        assert_eq!(done["data"][0]["id"], id);

        // Every change is in the audit log, with the alert as target;
        // the refused ones as errors.
        let events = ok(
            c,
            "list_audit_events",
            json!({"target_id": id, "limit": 100}),
        )
        .await;
        let seen: Vec<(String, String)> = events["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| (s(&e["type"]), s(&e["outcome"])))
            .collect();
        for want in [
            ("tool.acknowledge_security_alert", "success"),
            ("tool.resolve_security_alert", "success"),
            ("tool.resolve_security_alert", "error"),
            ("tool.acknowledge_security_alert", "error"),
        ] {
            assert!(
                seen.contains(&(want.0.to_owned(), want.1.to_owned())),
                "{want:?} not in {seen:?}"
            );
        }

        // Bad input names the field and changes nothing.
        let long = "x".repeat(1001);
        let missing = authgate_core::new_id("alr");
        for (tool, args, code, field) in [
            (
                "resolve_security_alert",
                json!({"alert_id": "alr_nope"}),
                "invalid_argument",
                Some("alert_id"),
            ),
            (
                "resolve_security_alert",
                json!({"alert_id": id, "note": long}),
                "invalid_argument",
                Some("note"),
            ),
            (
                "acknowledge_security_alert",
                json!({"alert_id": missing}),
                "not_found",
                None,
            ),
            (
                "list_security_alerts",
                json!({"status": "pending"}),
                "invalid_argument",
                None,
            ),
        ] {
            let bad = err(c, tool, args, code).await;
            if let Some(field) = field {
                assert_eq!(bad["field"], field, "{tool}: {bad}");
            }
        }

        // A resolved alert steps aside: the next use opens a new one.
        let key = ok(c, "create_api_key", json!({"name": "again"})).await;
        ok(c, "revoke_api_key", json!({"key_id": key["id"]})).await;
        let resp = common::post_raw(
            &gw.mcp_url(),
            Some(&s(&key["key"])),
            common::initialize_body(),
            &[],
        )
        .await;
        assert_eq!(resp.status(), 401);
        let now_open = ok(c, "list_security_alerts", json!({"status": "open"})).await;
        assert_eq!(now_open["data"].as_array().map(Vec::len), Some(1));
        assert_ne!(s(&now_open["data"][0]["id"]), id);
    })
    .await;
}

/// Calls a route and checks that it answered 2xx and wrote an audit event;
/// records it as covered.
async fn audited(
    gw: &Gateway, covered: &mut BTreeSet<(&'static str, &'static str)>, method: &'static str,
    path: &'static str, call: impl std::future::Future<Output = common::Answer>,
) -> common::Answer {
    let events =
        async || common::query_n(gw.store(), "SELECT COUNT(*) AS n FROM audit_events").await;
    let before = events().await;
    let answer = call.await;
    assert!(answer.status < 300, "{method} {path}: {answer:?}");
    assert!(
        events().await > before,
        "{method} {path} wrote no audit event [{}]",
        gw.backend
    );
    covered.insert((method, path));
    answer
}

/// Every REST route that changes something writes an audit event: the
/// script below calls each route of the router's own table; a route added
/// without a step here (or one whose step writes no event) fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rest_auth_endpoint_writes_an_audit_event() {
    // Reads: answers only, nothing to audit (a permission check decides
    // and changes nothing).
    let reads = [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/projects/{project_id}/jwks.json"),
        ("POST", "/api/v1/permissions/check"),
        // Needs Stripe; stripe.rs checks its audit event (subscription.synced).
        ("POST", "/api/v1/webhooks/stripe"),
        // Social sign-in needs identity providers: social.rs checks its audit
        // events (sign_up, account.linked, sign_in.succeeded and every refusal's
        // sign_in.failed). Start only writes the sign-in's state.
        ("GET", "/api/v1/auth/oauth/{provider}/start"),
        ("GET", "/api/v1/auth/oauth/{provider}/callback"),
        ("POST", "/api/v1/auth/oauth/{provider}/callback"),
        ("POST", "/api/v1/auth/oauth/token"),
        // SMS needs the Twilio stand-in: sms.rs checks sms.code_sent,
        // sign_up, sign_in.failed and sms.limited.
        ("POST", "/api/v1/auth/sms/request"),
        ("POST", "/api/v1/auth/sms/verify"),
    ];
    let routes: BTreeSet<(&str, &str)> = authgate_gateway::rest::ROUTES
        .iter()
        .map(|r| (r.method, r.path))
        .filter(|r| !reads.contains(r))
        .collect();
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let url = gw.url();
        let url = url.as_str();
        let p = gw.project_id.clone();
        let p = p.as_str();
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.example.com/cb"}),
        )
        .await;
        ok(
            c,
            "configure_auth_providers",
            json!({"providers": [{"provider": "magic_link", "enabled": true}]}),
        )
        .await;
        let mut covered: BTreeSet<(&str, &str)> = BTreeSet::new();
        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/sign-up",
            post(
                url,
                "/api/v1/auth/sign-up",
                Some(p),
                json!({"email": "ada@example.com", "password": PASSWORD}),
            ),
        )
        .await;
        let user = s(&ok(c, "list_end_users", json!({})).await["data"][0]["id"]);

        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/resend-verification",
            post(
                url,
                "/api/v1/auth/resend-verification",
                Some(p),
                json!({"email": "ada@example.com"}),
            ),
        )
        .await;

        // The resent code (the first is void now).
        let code = six_digits(&mail_to(inbox, "ada@example.com", "verify your email", 2).await);
        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/verify-email",
            post(
                url,
                "/api/v1/auth/verify-email",
                Some(p),
                json!({"email": "ada@example.com", "code": code}),
            ),
        )
        .await;

        let a = audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/sign-in",
            post(
                url,
                "/api/v1/auth/sign-in",
                Some(p),
                json!({"email": "ada@example.com", "password": PASSWORD}),
            ),
        )
        .await;
        let signed = a.body.clone();
        let access = s(&signed["access_token"]);

        let a = audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/refresh",
            post(
                url,
                "/api/v1/auth/refresh",
                Some(p),
                json!({"refresh_token": signed["refresh_token"]}),
            ),
        )
        .await;
        let access = a.body["access_token"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(access);

        let a = audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/mfa/totp/enroll",
            access_post(
                url,
                "/api/v1/auth/mfa/totp/enroll",
                &access,
                json!({"password": PASSWORD}),
            ),
        )
        .await;
        let totp = totp_rs::Totp::from_url(a.body["otpauth_uri"].as_str().unwrap_or_default());
        let totp = totp.expect("TOTP URI");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/mfa/totp/verify",
            access_post(
                url,
                "/api/v1/auth/mfa/totp/verify",
                &access,
                json!({"code": totp.generate(now).to_string()}),
            ),
        )
        .await;
        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/mfa/totp/remove",
            access_post(
                url,
                "/api/v1/auth/mfa/totp/remove",
                &access,
                json!({"code": totp.generate(now + 30).to_string(), "password": PASSWORD}),
            ),
        )
        .await;

        let org = ok(c, "create_org", json!({"name": "Acme"})).await["id"].clone();
        ok(
            c,
            "create_role",
            json!({"key": "member", "permissions": ["posts:read"]}),
        )
        .await;
        ok(
            c,
            "invite_org_member",
            json!({"org_id": org, "email": "ada@example.com", "role": "member"}),
        )
        .await;
        let invitation = link_token(&mail_to(inbox, "ada@example.com", "Join Acme", 1).await);
        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/invitations/accept",
            access_post(
                url,
                "/api/v1/invitations/accept",
                &access,
                json!({"token": invitation}),
            ),
        )
        .await;

        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/active-org",
            access_post(
                url,
                "/api/v1/auth/active-org",
                &access,
                json!({"org_id": org}),
            ),
        )
        .await;

        let plan = ok(
            c,
            "create_billing_plan",
            json!({"name": "Pro", "monthly_price": 1900}),
        )
        .await;
        let a = audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/subscriptions",
            rest(
                Method::POST,
                url,
                "/api/v1/subscriptions",
                None,
                Some(&gw.admin_key),
                Some(json!({"user_id": user, "price_id": plan["prices"][0]["id"]})),
            ),
        )
        .await;
        let sub = s(&a.body["subscription"]["id"]);
        audited(
            gw,
            &mut covered,
            "DELETE",
            "/api/v1/subscriptions/{id}",
            rest(
                Method::DELETE,
                url,
                &format!("/api/v1/subscriptions/{sub}"),
                None,
                Some(&gw.admin_key),
                None,
            ),
        )
        .await;

        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/change-email",
            access_post(
                url,
                "/api/v1/auth/change-email",
                &access,
                json!({"new_email": "ada.l@example.com", "password": PASSWORD}),
            ),
        )
        .await;
        let code = six_digits(&mail_to(inbox, "ada.l@example.com", "verify your email", 1).await);
        let a = post(
            url,
            "/api/v1/auth/verify-email",
            Some(p),
            json!({"email": "ada.l@example.com", "code": code}),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");

        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/password-reset/request",
            post(
                url,
                "/api/v1/auth/password-reset/request",
                Some(p),
                json!({"email": "ada.l@example.com"}),
            ),
        )
        .await;
        let reset = link_token(&mail_to(inbox, "ada.l@example.com", "token=", 1).await);
        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/password-reset/confirm",
            post(
                url,
                "/api/v1/auth/password-reset/confirm",
                Some(p),
                json!({"token": reset, "new_password": "another long secret"}),
            ),
        )
        .await;

        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/magic-link/request",
            post(
                url,
                "/api/v1/auth/magic-link/request",
                Some(p),
                json!({"email": "ada.l@example.com"}),
            ),
        )
        .await;
        let magic = link_token(&mail_to(inbox, "ada.l@example.com", "No password needed", 1).await);
        let a = audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/magic-link/verify",
            post(
                url,
                "/api/v1/auth/magic-link/verify",
                Some(p),
                json!({"token": magic}),
            ),
        )
        .await;
        let last = s(&a.body["access_token"]);

        audited(
            gw,
            &mut covered,
            "POST",
            "/api/v1/auth/sign-out",
            access_post(url, "/api/v1/auth/sign-out", &last, json!({})),
        )
        .await;

        assert_eq!(
            covered, routes,
            "routes without an audited step [{}]",
            gw.backend
        );
    })
    .await;
}

/// Pending counts and signals that can no longer count are removed; open
/// alerts and fresh state stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_removes_only_stale_detection_state() {
    common::each_backend(&[], async |gw| {
        let p = gw.project_id.clone();
        let now = chrono::Utc::now();
        let old = authgate_core::time::to_micros(now - chrono::Duration::days(3));
        let fresh = authgate_core::time::to_micros(now);
        let alert = |id: &str, status: &str, subject: &str, at: i64| {
            format!(
                "INSERT INTO security_alerts (id, project_id, rule, subject, severity, status, summary, count, first_seen, last_seen, opened_at) \
                 VALUES ('{id}', '{p}', 'brute_force', '{subject}', 'high', '{status}', 'x', 1, {at}, {at}, NULL)"
            )
        };
        let signal = |value: &str, at: i64| {
            format!(
                "INSERT INTO security_signals (project_id, rule, subject, value, seen_at) \
                 VALUES ('{p}', 'credential_stuffing', '203.0.113.9', '{value}', {at})"
            )
        };
        let (stale, live, open) = (
            authgate_core::new_id("alr"),
            authgate_core::new_id("alr"),
            authgate_core::new_id("alr"),
        );
        common::run_sql(
            gw.store(),
            &[
                &alert(&stale, "pending", "a", old),
                &alert(&live, "pending", "b", fresh),
                &alert(&open, "open", "c", old),
                &signal("old", old),
                &signal("new", fresh),
            ],
        )
        .await;
        let swept = authgate_security::sweep(gw.store(), &gw.server.app.config.security, now)
            .await
            .expect("sweeps");
        assert_eq!(swept, (1, 1), "[{}]", gw.backend);
        let left = async |sql: &str| common::query_n(gw.store(), sql).await;
        assert_eq!(
            left(&format!(
                "SELECT COUNT(*) AS n FROM security_alerts WHERE id IN ('{live}', '{open}')"
            ))
            .await,
            2
        );
        assert_eq!(
            left(&format!(
                "SELECT COUNT(*) AS n FROM security_alerts WHERE id = '{stale}'"
            ))
            .await,
            0
        );
        assert_eq!(
            left("SELECT COUNT(*) AS n FROM security_signals WHERE value = 'new'").await,
            1
        );
    })
    .await;
}
