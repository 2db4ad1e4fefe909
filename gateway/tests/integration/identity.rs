//! End users, sessions and tokens through the real REST API, a real SMTP
//! sink and the real MCP client, on every backend.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use authgate_core::ToolError;
use authgate_store::{Backend, with_conn};

use crate::common::{
    self, Answer, Gateway, err, link_token, mail_to, ok, post, requested, rest, sign_in, sign_up,
    six_digits, verify_link,
};

const PASSWORD: &str = "correct horse battery";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

async fn me(gw: &Gateway, token: &str) -> Answer {
    rest(
        Method::GET,
        &gw.url(),
        "/api/v1/me",
        None,
        Some(token),
        None,
    )
    .await
}

/// Verifies an access token's EdDSA signature with ed25519-dalek against
/// the published JWKS: a JWT check that shares no code with the server's.
async fn verify_independently(gw: &Gateway, project: &str, token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact token");
    let header: Value = serde_json::from_slice(&unb64(parts[0])).expect("header");
    assert_eq!(header["alg"], "EdDSA");
    let jwks = rest(
        Method::GET,
        &gw.url(),
        &format!("/api/v1/projects/{project}/jwks.json"),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(jwks.status, 200);
    let key = jwks.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("the JWKS publishes kid {}", header["kid"]))
        .clone();
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    let x: [u8; 32] = unb64(key["x"].as_str().expect("x"))
        .try_into()
        .expect("32 bytes");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).expect("a public key");
    let sig = ed25519_dalek::Signature::from_slice(&unb64(parts[2])).expect("a signature");
    vk.verify_strict(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the signature verifies against the JWKS");
    serde_json::from_slice(&unb64(parts[1])).expect("claims")
}

async fn count(store: &authgate_store::Store, table: &str, filter: &str) -> i64 {
    common::query_n(
        store,
        &format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}"),
    )
    .await
}

async fn run_sql(store: &authgate_store::Store, sql: &str) {
    common::run_sql(store, &[sql]).await;
}

async fn event_types(gw: &Gateway) -> Vec<String> {
    common::stored_events(gw, Default::default())
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_verify_sign_in_refresh_and_reuse_end_to_end() {
    // No reuse interval: a spent token presented again at once is a replay
    // (the interval has a test of its own).
    let strict = [("AUTHGATE_REFRESH_REUSE_INTERVAL", "0s")];
    common::each_backend_with_mail_and_client(&strict, async |gw, c, inbox| {
        let url = gw.url();
        let project = gw.project_id.clone();

        // Sign up: 201 {user}, a code mailed through the outbox.
        let user = sign_up(&url, &project, "Ada@Example.com", PASSWORD).await;
        let user_id = user["id"].as_str().expect("id").to_owned();
        assert_eq!(user["email"], "ada@example.com");
        assert_eq!(user["email_verified"], false);
        let first = six_digits(&mail_to(inbox, "ada@example.com", "code", 1).await);
        let verify = async |code: &str| {
            post(
                &url,
                "/api/v1/auth/verify-email",
                Some(&project),
                json!({"email": "ada@example.com", "code": code}),
            )
            .await
        };
        // An expired code is refused, even the right one.
        run_sql(gw.store(), "UPDATE verification_codes SET expires_at = 1").await;
        assert_eq!(
            verify(&first).await.refused(400, "invalid_argument")["field"],
            "code"
        );
        // A fresh code; after five wrong tries it is dead too.
        let resend = post(
            &url,
            "/api/v1/auth/resend-verification",
            Some(&project),
            json!({"email": "ada@example.com"}),
        )
        .await;
        assert_eq!(resend.status, 202, "{resend:?}");
        let second = six_digits(&mail_to(inbox, "ada@example.com", "code", 2).await);
        assert_ne!(second, first);
        assert_eq!(
            verify(&first).await.status,
            400,
            "the old code stopped working"
        );
        for _ in 0..4 {
            let wrong = if second == "111111" {
                "222222"
            } else {
                "111111"
            };
            verify(wrong).await.refused(400, "invalid_argument");
        }
        assert_eq!(
            verify(&second).await.status,
            400,
            "five tries spent the code"
        );
        post(
            &url,
            "/api/v1/auth/resend-verification",
            Some(&project),
            json!({"email": "ada@example.com"}),
        )
        .await;
        let code = six_digits(&mail_to(inbox, "ada@example.com", "code", 3).await);

        // Verify the address with the code from the mail.
        let verified = post(
            &url,
            "/api/v1/auth/verify-email",
            Some(&project),
            json!({"email": "ada@example.com", "code": code}),
        )
        .await;
        assert_eq!(verified.status, 200, "{verified:?}");
        assert_eq!(verified.body["user"]["email_verified"], true);
        // The code is single use (and a verified address answers like a
        // wrong code: the answer tells nothing about the address).
        post(
            &url,
            "/api/v1/auth/verify-email",
            Some(&project),
            json!({"email": "ada@example.com", "code": code}),
        )
        .await
        .refused(400, "invalid_argument");

        // Sign in.
        let signed = sign_in(&url, &project, "ada@example.com", PASSWORD).await;
        let access = signed["access_token"].as_str().expect("access").to_owned();
        let refresh1 = signed["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        let session_id = signed["session_id"].as_str().expect("sid").to_owned();
        assert_eq!(signed["expires_in"], 900);
        assert_eq!(signed["user"]["id"], json!(user_id));

        // The token verifies with verify_token and independently.
        let v = ok(c, "verify_token", json!({"token": access})).await;
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["header"]["alg"], "EdDSA");
        let claims = verify_independently(gw, &project, &access).await;
        assert_eq!(claims["sub"], json!(user_id));
        assert_eq!(claims["aud"], json!(project));
        assert_eq!(claims["iss"], json!(gw.server.app.config.public_url));
        assert_eq!(claims["sid"], json!(session_id));
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
        assert_eq!(
            claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
            900
        );
        assert_eq!(v["claims"], claims);
        let who = me(gw, &access).await;
        assert_eq!(who.status, 200, "{who:?}");
        assert_eq!(who.body["user"]["id"], json!(user_id));
        assert_eq!(who.body["session"]["id"], json!(session_id));
        assert_eq!(who.body["memberships"], json!([]));

        // Refresh rotates: a new refresh token, same session.
        let r = post(
            &url,
            "/api/v1/auth/refresh",
            Some(&project),
            json!({"refresh_token": refresh1}),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        let refresh2 = r.body["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        let access2 = r.body["access_token"].as_str().expect("access").to_owned();
        assert_ne!(refresh2, refresh1);
        assert_eq!(r.body["session_id"], json!(session_id));
        verify_independently(gw, &project, &access2).await;

        // The spent token again: refused, and the whole session ends (its
        // newest token is refused after it).
        for refresh in [&refresh1, &refresh2] {
            post(
                &url,
                "/api/v1/auth/refresh",
                Some(&project),
                json!({"refresh_token": refresh}),
            )
            .await
            .refused(401, "unauthenticated");
        }
        let v = ok(c, "verify_token", json!({"token": access2})).await;
        assert_eq!(v["valid"], false);
        assert_eq!(v["reason"], "session_revoked");
        me(gw, &access2).await.refused(401, "unauthenticated");
        let session = ok(c, "get_session", json!({"session_id": session_id})).await;
        assert!(session["revoked_at"].is_string(), "{session}");

        // Sign-out ends a session on the next request.
        let s2 = sign_in(&url, &project, "ada@example.com", PASSWORD).await;
        let a2 = s2["access_token"].as_str().expect("access");
        assert_eq!(me(gw, a2).await.status, 200);
        let out = rest(
            Method::POST,
            &url,
            "/api/v1/auth/sign-out",
            None,
            Some(a2),
            None,
        )
        .await;
        assert_eq!(out.status, 204, "{out:?}");
        me(gw, a2).await.refused(401, "unauthenticated");

        // Every step is an auth event; none holds a secret.
        let types = event_types(gw).await;
        for t in [
            "sign_up",
            "email.verified",
            "sign_in.succeeded",
            "token.refresh_reused",
            "sign_out",
        ] {
            assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
        }
        let all = serde_json::to_string(&common::stored_events(gw, Default::default()).await)
            .expect("json");
        for secret in [
            PASSWORD,
            code.as_str(),
            access.as_str(),
            refresh1.as_str(),
            refresh2.as_str(),
        ] {
            assert!(!all.contains(secret), "an audit event holds a secret");
        }
        assert!(all.contains("127.0.0.1"), "events carry the client IP");
    })
    .await;
}

/// A token signed by `sign` over `header.payload`.
fn forge(header: Value, payload: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let head = b64(header.to_string().as_bytes());
    let body = b64(payload.to_string().as_bytes());
    let sig = sign(format!("{head}.{body}").as_bytes());
    format!("{head}.{body}.{}", b64(&sig))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_written() {
    use hmac::Mac as _;
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();
        let store = gw.store().clone();
        sign_up(&url, &p, "ada@example.com", PASSWORD).await;
        let users_before = count(&store, "end_users", "1 = 1").await;
        let mail_before = count(&store, "email_outbox", "1 = 1").await;

        let cases: Vec<(&str, Value, u16, &str)> = vec![
            (
                "malformed email",
                json!({"email": "ada", "password": PASSWORD}),
                400,
                "email",
            ),
            (
                "no domain dot",
                json!({"email": "ada@example", "password": PASSWORD}),
                400,
                "email",
            ),
            (
                "two ats",
                json!({"email": "a@b@example.com", "password": PASSWORD}),
                400,
                "email",
            ),
            (
                "space",
                json!({"email": "a da@example.com", "password": PASSWORD}),
                400,
                "email",
            ),
            (
                "empty email",
                json!({"email": "", "password": PASSWORD}),
                400,
                "email",
            ),
            (
                "empty password",
                json!({"email": "bo@example.com", "password": ""}),
                400,
                "password",
            ),
            (
                "short password",
                json!({"email": "bo@example.com", "password": "short"}),
                400,
                "password",
            ),
            (
                "huge password",
                json!({"email": "bo@example.com", "password": "x".repeat(10_000)}),
                400,
                "password",
            ),
            (
                "missing password",
                json!({"email": "bo@example.com"}),
                400,
                "password",
            ),
            (
                "wrong type",
                json!({"email": 7, "password": PASSWORD}),
                400,
                "email",
            ),
            (
                "unknown field",
                json!({"email": "bo@example.com", "password": PASSWORD, "role": "admin"}),
                400,
                "role",
            ),
            // NFKC-equal and case-different: the same address.
            (
                "fullwidth duplicate",
                json!({"email": "ＡＤＡ@example.com", "password": PASSWORD}),
                409,
                "email",
            ),
            (
                "case duplicate",
                json!({"email": " ADA@EXAMPLE.COM ", "password": PASSWORD}),
                409,
                "email",
            ),
        ];
        for (what, body, status, field) in cases {
            let a = post(&url, "/api/v1/auth/sign-up", Some(&p), body).await;
            assert_eq!(a.status, status, "{what}: {a:?}");
            assert_eq!(a.body["error"]["field"], json!(field), "{what}: {a:?}");
        }
        // Not JSON, or no project.
        let raw = reqwest::Client::new()
            .post(format!("{url}/api/v1/auth/sign-up"))
            .header("x-authgate-project", &p)
            .header("content-type", "text/plain")
            .body("email=a")
            .send()
            .await
            .expect("answered");
        assert_eq!(raw.status().as_u16(), 400);
        let a = post(
            &url,
            "/api/v1/auth/sign-up",
            None,
            json!({"email": "bo@example.com", "password": PASSWORD}),
        )
        .await;
        assert_eq!(
            a.refused(400, "invalid_argument")["field"],
            "X-AuthGate-Project"
        );
        let a = post(
            &url,
            "/api/v1/auth/sign-up",
            Some("prj_01JD8X3V9Q4K7M2N5P6R8S0T1W"),
            json!({"email": "bo@example.com", "password": PASSWORD}),
        )
        .await;
        a.refused(404, "not_found");
        assert_eq!(
            count(&store, "end_users", "1 = 1").await,
            users_before,
            "no user written"
        );
        assert_eq!(
            count(&store, "email_outbox", "1 = 1").await,
            mail_before,
            "no mail queued"
        );

        // Codes: wrong, expired, and (after a resend) the old one.
        let verify = async |code: &str| {
            post(
                &url,
                "/api/v1/auth/verify-email",
                Some(&p),
                json!({"email": "ada@example.com", "code": code}),
            )
            .await
        };
        for code in ["12345", "000000"] {
            assert_eq!(
                verify(code).await.refused(400, "invalid_argument")["field"],
                "code",
                "{code}"
            );
        }
        run_sql(&store, "UPDATE verification_codes SET expires_at = 0").await;
        // Whatever the code was, an expired one fails; a new one works.
        let user = ok(c, "list_end_users", json!({})).await["data"][0].clone();
        let sent = ok(
            c,
            "resend_verification_email",
            json!({"user_id": user["id"]}),
        )
        .await;
        assert!(sent["expires_at"].is_string());
        assert_eq!(
            count(&store, "verification_codes", "expires_at = 0").await,
            0,
            "a resend replaces old codes"
        );
        assert_eq!(
            count(&store, "end_users", "email_verified = TRUE").await,
            0,
            "nothing verified by a wrong code"
        );

        // Tokens that must not verify, each with its reason.
        let signed = sign_in(&url, &p, "ada@example.com", PASSWORD).await;
        let good = signed["access_token"].as_str().expect("access").to_owned();
        let parts: Vec<&str> = good.split('.').collect();
        let header: Value = serde_json::from_slice(&unb64(parts[0])).expect("header");
        let claims: Value = serde_json::from_slice(&unb64(parts[1])).expect("claims");
        let jwks = rest(
            Method::GET,
            &url,
            &format!("/api/v1/projects/{p}/jwks.json"),
            None,
            None,
            None,
        )
        .await;
        let x = jwks.body["keys"][0]["x"].as_str().expect("x").to_owned();
        let sig = unb64(parts[2]);
        let mut tampered = claims.clone();
        tampered["sub"] = json!("usr_01JD8X3V9Q4K7M2N5P6R8S0T1W");
        let (b_project, b_key) = common::second_project(gw, "Project B").await;
        sign_up(&url, &b_project, "eve@example.com", PASSWORD).await;
        let b_token = common::access_token(&url, &b_project, "eve@example.com", PASSWORD).await;
        let forged: Vec<(&str, String, &str)> = vec![
            ("not a JWT", "not-a-token".to_owned(), "malformed"),
            (
                "alg none",
                forge(json!({"alg": "none", "typ": "JWT"}), &claims, |_| {
                    Vec::new()
                }),
                "malformed",
            ),
            (
                "HS256 keyed with the public key",
                forge(
                    json!({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}),
                    &claims,
                    |m| {
                        let mut mac =
                            hmac::Hmac::<sha2::Sha256>::new_from_slice(x.as_bytes()).expect("key");
                        mac.update(m);
                        mac.finalize().into_bytes().to_vec()
                    },
                ),
                "bad_signature",
            ),
            (
                "tampered payload",
                forge(header.clone(), &tampered, |_| sig.clone()),
                "bad_signature",
            ),
            (
                "wrong kid",
                forge(
                    json!({"alg": "EdDSA", "typ": "JWT", "kid": "sk_unknown"}),
                    &claims,
                    |_| sig.clone(),
                ),
                "unknown_key",
            ),
            (
                "another project's token (wrong audience)",
                b_token.clone(),
                "wrong_project",
            ),
        ];
        for (what, token, reason) in &forged {
            let v = ok(c, "verify_token", json!({"token": token})).await;
            assert_eq!(v["valid"], false, "{what}: {v}");
            assert_eq!(v["reason"], json!(reason), "{what}: {v}");
            let a = rest(Method::GET, &url, "/api/v1/me", Some(&p), Some(token), None).await;
            assert_eq!(a.status, 401, "{what}: {a:?}");
            assert_eq!(a.body["error"]["field"], "Authorization", "{what}");
        }
        // B's token is valid for B.
        let b = common::connect(&gw.mcp_url(), &b_key).await;
        assert_eq!(
            ok(&b, "verify_token", json!({"token": b_token})).await["valid"],
            true
        );
        err(c, "verify_token", json!({"token": " "}), "invalid_argument").await;

        // Reset links: single use.
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.example.com/auth/callback"}),
        )
        .await;
        for (path, body, field) in [
            (
                "/api/v1/auth/password-reset/request",
                json!({"email": "ada@example.com", "redirect_url": "https://evil.example.com/cb"}),
                "redirect_url",
            ),
            (
                "/api/v1/auth/password-reset/confirm",
                json!({"token": "made-up", "new_password": "another good one"}),
                "token",
            ),
            (
                "/api/v1/auth/password-reset/confirm",
                json!({"token": "made-up", "new_password": "short"}),
                "new_password",
            ),
        ] {
            let a = post(&url, path, Some(&p), body.clone()).await;
            assert_eq!(
                a.refused(400, "invalid_argument")["field"],
                field,
                "{path} {body}"
            );
        }
        let _ = b.cancel().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_magic_link_and_totp_through_the_mail() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let url = gw.url();
        let p = gw.project_id.clone();
        sign_up(&url, &p, "ada@example.com", PASSWORD).await;
        let old = sign_in(&url, &p, "ada@example.com", PASSWORD).await;

        // No callback yet: the reset request names what is missing.
        let a = post(
            &url,
            "/api/v1/auth/password-reset/request",
            Some(&p),
            json!({"email": "ada@example.com"}),
        )
        .await;
        a.refused(412, "precondition_failed");
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.example.com/auth/callback"}),
        )
        .await;
        // 202 whether or not the address exists.
        requested(&url, &p, "/api/v1/auth/password-reset/request", "nobody@example.com").await;
        requested(&url, &p, "/api/v1/auth/password-reset/request", "ada@example.com").await;
        let mail = mail_to(inbox, "ada@example.com", "token=", 1).await;
        assert!(
            mail.contains("https://app.example.com/auth/callback?token="),
            "{mail}"
        );
        let token = link_token(&mail);
        let confirm = json!({"token": token, "new_password": "a brand new secret"});
        let a = post(
            &url,
            "/api/v1/auth/password-reset/confirm",
            Some(&p),
            confirm.clone(),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["user"]["email_verified"], true);
        post(
            &url,
            "/api/v1/auth/password-reset/confirm",
            Some(&p),
            confirm,
        )
        .await
        .refused(400, "invalid_argument");
        // Older sessions ended; the old password no longer works.
        me(gw, old["access_token"].as_str().expect("a"))
            .await
            .refused(401, "unauthenticated");
        post(
            &url,
            "/api/v1/auth/sign-in",
            Some(&p),
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await
        .refused(401, "unauthenticated");
        sign_in(&url, &p, "ada@example.com", "a brand new secret").await;

        // Magic links: off by default, then a single-use sign-in.
        let a = post(
            &url,
            "/api/v1/auth/magic-link/request",
            Some(&p),
            json!({"email": "ada@example.com"}),
        )
        .await;
        a.refused(412, "precondition_failed");
        ok(
            c,
            "configure_auth_providers",
            json!({"providers": [{"provider": "magic_link", "enabled": true}]}),
        )
        .await;
        let a = post(
            &url,
            "/api/v1/auth/magic-link/request",
            Some(&p),
            json!({"email": "ada@example.com"}),
        )
        .await;
        assert_eq!(a.status, 202, "{a:?}");
        let mail = mail_to(inbox, "ada@example.com", "token=", 2).await;
        let link = link_token(&mail);
        let a = verify_link(&url, &p, &link).await;
        assert_eq!(a.status, 200, "{a:?}");
        let access = a.body["access_token"].as_str().expect("access").to_owned();
        verify_link(&url, &p, &link).await
        .refused(400, "invalid_argument");

        // TOTP: enroll, a wrong code, the right one; sign-in then needs it.
        let e = rest(
            Method::POST,
            &url,
            "/api/v1/auth/mfa/totp/enroll",
            None,
            Some(&access),
            Some(json!({"password": "a brand new secret"})),
        )
        .await;
        assert_eq!(e.status, 200, "{e:?}");
        let uri = e.body["otpauth_uri"].as_str().expect("uri");
        assert!(uri.starts_with("otpauth://totp/"));
        let totp = totp_rs::Totp::from_url(uri).expect("a TOTP URI");
        let verify = async |code: &str| {
            rest(
                Method::POST,
                &url,
                "/api/v1/auth/mfa/totp/verify",
                None,
                Some(&access),
                Some(json!({"code": code})),
            )
            .await
        };
        let wrong = if totp.generate_current().to_string() == "000000" {
            "111111"
        } else {
            "000000"
        };
        verify(wrong).await.refused(400, "invalid_argument");
        let a = verify(&totp.generate_current().to_string()).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["status"], "active");
        let user = ok(c, "list_end_users", json!({})).await["data"][0]["id"].clone();
        let detail = ok(c, "get_end_user", json!({"user_id": user})).await;
        assert_eq!(detail["mfa"]["enrolled"], true);
        assert!(
            !detail
                .to_string()
                .contains(e.body["secret"].as_str().expect("secret"))
        );
        // Sign-in now needs a code, and the code just used is refused
        // (replay); the next step's is accepted (one step of skew).
        let used = totp.generate_current().to_string();
        for body in [
            json!({"email": "ada@example.com", "password": "a brand new secret"}),
            json!({"email": "ada@example.com", "password": "a brand new secret", "mfa_code": used}),
        ] {
            let a = post(&url, "/api/v1/auth/sign-in", Some(&p), body).await;
            assert_eq!(
                a.refused(401, "unauthenticated")["field"],
                "mfa_code",
                "{a:?}"
            );
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let next_step = totp.generate(now + 30).to_string();
        let a = post(&url, "/api/v1/auth/sign-in", Some(&p), json!({"email": "ada@example.com", "password": "a brand new secret", "mfa_code": next_step})).await;
        assert_eq!(a.status, 200, "{a:?}");

        let types = event_types(gw).await;
        for t in [
            "password_reset.requested",
            "password_reset.completed",
            "mfa.enrolled",
        ] {
            assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_run_at_most_the_allowed_verifications() {
    common::each_backend(&[], async |gw| {
        let url = gw.url();
        let p = gw.project_id.clone();
        sign_up(&url, &p, "ada@example.com", PASSWORD).await;
        let settings = &gw.server.app.auth.settings;
        let limit = settings.sign_in_per_account.max;
        let before = settings.passwords.verifications();
        let attempts = (0..200).map(|i| {
            let (url, p) = (url.clone(), p.clone());
            tokio::spawn(async move {
                post(
                    &url,
                    "/api/v1/auth/sign-in",
                    Some(&p),
                    json!({"email": "ada@example.com", "password": format!("wrong password {i}")}),
                )
                .await
            })
        });
        let answers = futures::future::join_all(attempts).await;
        let mut limited = 0;
        for a in answers {
            let a = a.expect("task");
            match a.status {
                401 => {}
                429 => {
                    limited += 1;
                    let after: u64 = a.headers["retry-after"]
                        .to_str()
                        .expect("ascii")
                        .parse()
                        .expect("seconds");
                    assert!(after >= 1, "{a:?}");
                }
                other => panic!("unexpected {other}: {a:?}"),
            }
        }
        let ran = settings.passwords.verifications() - before;
        assert!(
            ran <= limit as u64,
            "{ran} verifications ran; the limit is {limit} [{}]",
            gw.backend
        );
        assert_eq!(
            limited,
            200 - ran as usize,
            "every attempt past the limit is a 429 [{}]",
            gw.backend
        );
        // The right password is refused too until the window passes.
        post(
            &url,
            "/api/v1/auth/sign-in",
            Some(&p),
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await
        .refused(429, "rate_limited");
    })
    .await;
}

/// Tables with a `user_id` column, from the database's own catalogue.
async fn user_tables(store: &authgate_store::Store) -> Vec<String> {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let sql = match store.backend() {
        Backend::Sqlite => {
            "SELECT m.name AS name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND c.name = 'user_id' ORDER BY m.name"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'user_id' ORDER BY table_name"
        }
    };
    store
        .read(async |c| {
            let rows: Vec<T> = with_conn!(c, c => { diesel::sql_query(sql).load(c).await? });
            Ok::<_, ToolError>(rows.into_iter().map(|t| t.name).collect())
        })
        .await
        .expect("catalogue")
}

/// Per table, the rows of users other than `uid`.
async fn rows_of_others(store: &authgate_store::Store, tables: &[String], uid: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for t in tables {
        out.push(count(store, t, &format!("user_id <> '{uid}'")).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_end_user_removes_every_row_of_the_user_table_by_table() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();
        let store = gw.store().clone();
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.example.com/cb"}),
        )
        .await;
        // A user with a row in every table, and a bystander.
        let user = sign_up(&url, &p, "ada@example.com", PASSWORD).await;
        let other = sign_up(&url, &p, "bob@example.com", PASSWORD).await;
        sign_in(&url, &p, "bob@example.com", PASSWORD).await;
        let uid = user["id"].as_str().expect("id").to_owned();
        let s = sign_in(&url, &p, "ada@example.com", PASSWORD).await;
        post(
            &url,
            "/api/v1/auth/refresh",
            Some(&p),
            json!({"refresh_token": s["refresh_token"]}),
        )
        .await;
        rest(
            Method::POST,
            &url,
            "/api/v1/auth/mfa/totp/enroll",
            None,
            s["access_token"].as_str(),
            Some(json!({"password": PASSWORD})),
        )
        .await;
        ok(c, "send_password_reset", json!({"user_id": uid})).await;
        ok(
            c,
            "create_role",
            json!({"key": "member", "is_default": true}),
        )
        .await;
        let org = ok(c, "create_org", json!({"name": "Acme"})).await;
        ok(
            c,
            "add_org_member",
            json!({"org_id": org["id"], "user_id": uid}),
        )
        .await;
        ok(
            c,
            "add_org_member",
            json!({"org_id": org["id"], "user_id": other["id"]}),
        )
        .await;
        // Billing: a subscription and usage, for the user and the bystander.
        let plan = ok(c, "create_billing_plan", json!({"name": "Pro", "monthly_price": 19, "features": [{"key": "api_calls", "limit": 100}]})).await;
        for (n, who) in [uid.as_str(), other["id"].as_str().expect("id")]
            .into_iter()
            .enumerate()
        {
            let sub = rest(
                Method::POST,
                &url,
                "/api/v1/subscriptions",
                None,
                Some(&gw.admin_key),
                Some(json!({"user_id": who, "price_id": plan["prices"][0]["id"]})),
            )
            .await;
            assert_eq!(sub.status, 201, "{sub:?}");
            let events = json!([{"user_id": who, "meter": "api_calls", "quantity": 3, "idempotency_key": format!("k{n}")}]);
            assert_eq!(
                ok(c, "report_usage", json!({"events": events})).await["accepted"],
                1
            );
        }
        run_sql(
            &store,
            &format!(
                "INSERT INTO oauth_accounts (id, project_id, user_id, provider, provider_user_id, email, created_at) \
                 VALUES ('oa_1', '{p}', '{uid}', 'github', '42', 'ada@example.com', 0)"
            ),
        )
        .await;
        // A social sign-in's one-time code, not yet redeemed.
        run_sql(
            &store,
            &format!(
                "INSERT INTO oauth_codes (code_hash, project_id, user_id, provider, redirect_url, \
                 is_new_user, created_at, expires_at) \
                 VALUES ('h1', '{p}', '{uid}', 'github', 'https://app.example.com/cb', false, 0, 1)"
            ),
        )
        .await;

        // Every table with a user_id is covered by a registered section.
        let registry = common::registry();
        let mut covered: Vec<String> = registry
            .user_data()
            .iter()
            .flat_map(|s| s.tables().iter().map(|t| (*t).to_owned()))
            .collect();
        covered.sort();
        let tables = user_tables(&store).await;
        assert_eq!(
            tables, covered,
            "tables with a user_id column vs the registered user-data sections"
        );

        let mut before = serde_json::Map::new();
        for t in &tables {
            let n = count(&store, t, &format!("user_id = '{uid}'")).await;
            assert!(n > 0, "the fixture puts a row in {t}");
            before.insert(t.clone(), json!(n));
        }
        let others: Vec<i64> = rows_of_others(&store, &tables, &uid).await;

        let dry = ok(
            c,
            "delete_end_user",
            json!({"user_id": uid, "dry_run": true}),
        )
        .await;
        assert_eq!(
            dry["cascade"],
            Value::Object(before.clone()),
            "[{}]",
            gw.backend
        );
        assert_eq!(dry["user"]["id"], json!(uid));
        for t in &tables {
            assert_eq!(
                json!(count(&store, t, &format!("user_id = '{uid}'")).await),
                before[t],
                "dry run left {t}"
            );
        }
        let real = ok(c, "delete_end_user", json!({"user_id": uid})).await;
        assert_eq!(real["cascade"], dry["cascade"]);
        for t in &tables {
            assert_eq!(
                count(&store, t, &format!("user_id = '{uid}'")).await,
                0,
                "{t} still holds the user's rows"
            );
        }
        assert_eq!(
            count(&store, "end_users", &format!("id = '{uid}'")).await,
            0
        );
        let after: Vec<i64> = rows_of_others(&store, &tables, &uid).await;
        assert_eq!(after, others, "other users' rows are untouched");
        err(c, "get_end_user", json!({"user_id": uid}), "not_found").await;
        ok(c, "get_end_user", json!({"user_id": other["id"]})).await;
        let v = ok(c, "verify_token", json!({"token": s["access_token"]})).await;
        assert_eq!(v["reason"], "session_revoked");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_user_and_session_tools_work_through_the_mcp_client() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();
        let t0 = chrono::Utc::now();
        for name in ["ada", "bob", "cyd"] {
            sign_up(&url, &p, &format!("{name}@acme.com"), PASSWORD).await;
        }
        sign_up(&url, &p, "dan@other.org", PASSWORD).await;
        let t1 = chrono::Utc::now();

        // list_end_users: filters and paging.
        let all = ok(c, "list_end_users", json!({})).await;
        assert_eq!(all["data"].as_array().map(Vec::len), Some(4));
        let first = &all["data"][0];
        assert_eq!(first["email"], "ada@acme.com");
        assert_eq!(first["has_password"], true);
        assert_eq!(first["email_verified"], false);
        let acme = ok(c, "list_end_users", json!({"email_contains": "ACME"})).await;
        assert_eq!(acme["data"].as_array().map(Vec::len), Some(3));
        let none = ok(c, "list_end_users", json!({"email_contains": "%"})).await;
        assert_eq!(none["data"], json!([]), "LIKE wildcards are literal");
        let page = ok(c, "list_end_users", json!({"limit": 3})).await;
        assert_eq!(page["has_more"], true);
        let rest_page = ok(
            c,
            "list_end_users",
            json!({"limit": 3, "cursor": page["next_cursor"]}),
        )
        .await;
        assert_eq!(rest_page["data"][0]["email"], "dan@other.org");
        let before = ok(
            c,
            "list_end_users",
            json!({"created_before": t0.to_rfc3339()}),
        )
        .await;
        assert_eq!(before["data"], json!([]));
        let within = ok(
            c,
            "list_end_users",
            json!({"created_after": t0.to_rfc3339(), "created_before": t1.to_rfc3339()}),
        )
        .await;
        assert_eq!(within["data"].as_array().map(Vec::len), Some(4));
        let e = err(
            c,
            "list_end_users",
            json!({"created_after": "yesterday"}),
            "invalid_argument",
        )
        .await;
        assert_eq!(e["field"], "created_after");

        // get_end_user, set_email_verified, resend_verification_email.
        let uid = first["id"].clone();
        let d = ok(c, "get_end_user", json!({"user_id": uid})).await;
        assert_eq!(d["password"]["set"], true);
        assert_eq!(d["linked_accounts"], json!([]));
        assert_eq!(d["mfa"]["enrolled"], false);
        let sent = ok(c, "resend_verification_email", json!({"user_id": uid})).await;
        assert_eq!(sent["email"], "ada@acme.com");
        let v = ok(
            c,
            "set_email_verified",
            json!({"user_id": uid, "verified": true}),
        )
        .await;
        assert_eq!(v["email_verified"], true);
        let e = err(
            c,
            "resend_verification_email",
            json!({"user_id": uid}),
            "precondition_failed",
        )
        .await;
        assert_eq!(e["field"], "user_id");
        let v = ok(
            c,
            "set_email_verified",
            json!({"user_id": uid, "verified": false}),
        )
        .await;
        assert_eq!(v["email_verified"], false);
        for (user_id, code) in [
            ("usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "not_found"),
            ("ses_01JD8X3V9Q4K7M2N5P6R8S0T1W", "invalid_argument"),
        ] {
            err(c, "get_end_user", json!({"user_id": user_id}), code).await;
        }

        // send_password_reset: preconditions, then a mail in the outbox.
        let e = err(
            c,
            "send_password_reset",
            json!({"user_id": uid}),
            "precondition_failed",
        )
        .await;
        assert!(
            e["message"].as_str().expect("m").contains("callback"),
            "{e}"
        );
        ok(c, "add_callback", json!({"url": "https://app.acme.com/cb"})).await;
        let reset = ok(c, "send_password_reset", json!({"user_id": uid})).await;
        assert!(reset["email_id"].is_string());
        let ml = post(
            &url,
            "/api/v1/auth/magic-link/request",
            Some(&p),
            json!({"email": "new@acme.com"}),
        )
        .await;
        assert_eq!(ml.status, 412, "magic links are off by default");

        // Sessions.
        let s1 = sign_in(&url, &p, "ada@acme.com", PASSWORD).await;
        sign_in(&url, &p, "bob@acme.com", PASSWORD).await;
        let listed = ok(c, "list_sessions", json!({})).await;
        assert_eq!(listed["data"].as_array().map(Vec::len), Some(2));
        let mine = ok(c, "list_sessions", json!({"user_id": uid})).await;
        assert_eq!(mine["data"].as_array().map(Vec::len), Some(1));
        assert_eq!(mine["data"][0]["id"], s1["session_id"]);
        assert_eq!(mine["data"][0]["ip"], "127.0.0.1");
        let sess = ok(c, "get_session", json!({"session_id": s1["session_id"]})).await;
        assert_eq!(sess["user_id"], uid);
        let status = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["counts"]["end_users"], 4);
        assert_eq!(status["counts"]["active_sessions"], 2);
        let revoked = ok(c, "revoke_session", json!({"session_id": s1["session_id"]})).await;
        assert!(revoked["revoked_at"].is_string());
        me(gw, s1["access_token"].as_str().expect("a"))
            .await
            .refused(401, "unauthenticated");
        let v = ok(c, "verify_token", json!({"token": s1["access_token"]})).await;
        assert_eq!(v["reason"], "session_revoked");
        assert_eq!(
            ok(c, "list_sessions", json!({})).await["data"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let status = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["counts"]["active_sessions"], 1);
        assert!(event_types(gw).await.iter().any(|t| t == "session.revoked"));

        // SDK instructions for every framework, filled in.
        for fw in ["nextjs", "react", "node", "react-native", "flutter"] {
            let i = ok(c, "get_sdk_setup_instructions", json!({"framework": fw})).await;
            assert_eq!(i["project_id"], json!(p));
            assert_eq!(
                i["jwks_url"],
                json!(format!(
                    "{}/api/v1/projects/{p}/jwks.json",
                    gw.server.app.config.public_url
                ))
            );
            let text = i["files"].to_string();
            assert!(
                text.contains(&p) || i["env"].to_string().contains(&p),
                "{fw}: the project id is filled in"
            );
            assert!(!text.contains("{{"), "{fw}: no placeholder is left");
        }
        err(
            c,
            "get_sdk_setup_instructions",
            json!({"framework": "angular"}),
            "invalid_argument",
        )
        .await;

        // delete_end_user ends the user's sessions with them.
        let bob = ok(c, "list_end_users", json!({"email_contains": "bob@"})).await["data"][0]["id"]
            .clone();
        let d = ok(c, "delete_end_user", json!({"user_id": bob})).await;
        assert_eq!(d["cascade"]["sessions"], 1);
        assert_eq!(
            ok(c, "get_project_status", json!({})).await["counts"]["end_users"],
            3
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_may_call_only_from_the_projects_origins() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.acme.com/auth/callback"}),
        )
        .await;
        let http = reqwest::Client::new();
        let preflight = async |origin: &str| {
            http.request(Method::OPTIONS, format!("{url}/api/v1/auth/sign-in"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type, x-authgate-project",
                )
                .send()
                .await
                .expect("answered")
        };
        let ok_pre = preflight("https://app.acme.com").await;
        assert_eq!(ok_pre.status().as_u16(), 204);
        assert_eq!(
            ok_pre.headers()["access-control-allow-origin"],
            "https://app.acme.com"
        );
        assert!(
            ok_pre.headers()["access-control-allow-headers"]
                .to_str()
                .expect("h")
                .contains("x-authgate-project")
        );
        let bad_pre = preflight("https://evil.example.com").await;
        assert_eq!(bad_pre.status().as_u16(), 403);
        assert!(
            bad_pre
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        // Loopback is allowed for test projects only.
        assert_eq!(
            preflight("http://localhost:3000").await.status().as_u16(),
            403
        );
        let (b, _) = common::second_project(gw, "Test project").await;

        let sign_up_from = async |origin: &str, project: &str, email: &str| {
            http.post(format!("{url}/api/v1/auth/sign-up"))
                .header("origin", origin)
                .header("x-authgate-project", project)
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await
                .expect("answered")
        };
        let a = sign_up_from("https://app.acme.com", &p, "ada@acme.com").await;
        assert_eq!(a.status().as_u16(), 201);
        assert_eq!(
            a.headers()["access-control-allow-origin"],
            "https://app.acme.com"
        );
        let refused = sign_up_from("https://evil.example.com", &p, "eve@acme.com").await;
        assert_eq!(refused.status().as_u16(), 403);
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"]["field"], "Origin");
        // The live project refuses loopback; the test project allows it,
        // but not the live project's origin.
        assert_eq!(
            sign_up_from("http://localhost:3000", &p, "lo@acme.com")
                .await
                .status()
                .as_u16(),
            403
        );
        let t = sign_up_from("http://localhost:3000", &b, "lo@acme.com").await;
        assert_eq!(t.status().as_u16(), 201);
        assert_eq!(
            t.headers()["access-control-allow-origin"],
            "http://localhost:3000"
        );
        assert_eq!(
            sign_up_from("https://app.acme.com", &b, "x@acme.com")
                .await
                .status()
                .as_u16(),
            403
        );
        assert_eq!(
            ok(c, "list_end_users", json!({})).await["data"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "refused origins wrote nothing"
        );

        // The JWKS is public and cacheable.
        let j = http
            .get(format!("{url}/api/v1/projects/{p}/jwks.json"))
            .header("origin", "https://anyone.example.com")
            .send()
            .await
            .expect("answered");
        assert_eq!(j.status().as_u16(), 200);
        assert_eq!(j.headers()["access-control-allow-origin"], "*");
        assert_eq!(j.headers()["cache-control"], "public, max-age=300");
        let missing = http
            .get(format!(
                "{url}/api/v1/projects/prj_01JD8X3V9Q4K7M2N5P6R8S0T1W/jwks.json"
            ))
            .send()
            .await
            .expect("answered");
        assert_eq!(missing.status().as_u16(), 404);
    })
    .await;
}

fn kid_of(token: &str) -> String {
    let header: Value =
        serde_json::from_slice(&unb64(token.split('.').next().expect("header"))).expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

async fn published_kids(gw: &Gateway, project: &str) -> Vec<String> {
    let jwks = rest(
        Method::GET,
        &gw.url(),
        &format!("/api/v1/projects/{project}/jwks.json"),
        None,
        None,
        None,
    )
    .await;
    jwks.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_rotate_with_the_next_key_published_before_it_signs() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();
        sign_up(&url, &p, "ada@example.com", PASSWORD).await;
        let old = common::access_token(&url, &p, "ada@example.com", PASSWORD).await;
        let old_kid = kid_of(&old);
        let before = published_kids(gw, &p).await;
        assert_eq!(
            before.len(),
            2,
            "the current key and the next one: {before:?}"
        );
        assert!(before.contains(&old_kid));
        let next = before
            .iter()
            .find(|k| **k != old_kid)
            .expect("a next key")
            .clone();

        let encryption = gw.server.app.keys.encryption;
        let now = chrono::Utc::now();
        let signing = gw
            .store()
            .write(async |conn| {
                authgate_identity::rotate_signing_key(
                    conn,
                    &encryption,
                    &p,
                    chrono::Duration::minutes(15),
                    now,
                )
                .await
            })
            .await
            .expect("rotate");
        assert_eq!(
            signing, next,
            "the key that now signs was already published"
        );
        let after = published_kids(gw, &p).await;
        assert_eq!(
            after.len(),
            3,
            "retired, current and a fresh next key: {after:?}"
        );
        assert!(
            after.contains(&old_kid),
            "the retired key stays published while its tokens live"
        );

        // Old tokens keep verifying; new ones are signed by the next key.
        assert_eq!(
            ok(c, "verify_token", json!({"token": old})).await["valid"],
            true
        );
        let new = common::access_token(&url, &p, "ada@example.com", PASSWORD).await;
        assert_eq!(kid_of(&new), next);
        verify_independently(gw, &p, &new).await;
        assert_eq!(
            ok(c, "verify_token", json!({"token": new})).await["valid"],
            true
        );
    })
    .await;
}

/// Security review 2, fault 14: two tabs (or React's StrictMode double
/// effect) refreshing with the same token at once revoked the session as
/// a reuse. Within the reuse interval both now get a pair for the same
/// session and nothing is revoked; a reuse after it revokes as before; an
/// interval of 0s keeps the strict behaviour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_refreshes_within_the_reuse_interval_keep_the_session() {
    common::each_backend(&[("AUTHGATE_REFRESH_REUSE_INTERVAL", "2s")], async |gw| {
        let url = gw.url();
        let p = gw.project_id.clone();
        sign_up(&url, &p, "tabs@example.com", PASSWORD).await;
        let signed = sign_in(&url, &p, "tabs@example.com", PASSWORD).await;
        let token = signed["refresh_token"].clone();
        let refresh = |t: Value| {
            let (url, p) = (url.clone(), p.clone());
            async move {
                post(
                    &url,
                    "/api/v1/auth/refresh",
                    Some(&p),
                    json!({"refresh_token": t}),
                )
                .await
            }
        };
        let (a, b) = tokio::join!(refresh(token.clone()), refresh(token.clone()));
        assert_eq!((a.status, b.status), (200, 200), "{a:?} {b:?}");
        assert_eq!(a.body["session_id"], b.body["session_id"]);
        for pair in [&a, &b] {
            let access = pair.body["access_token"].as_str().expect("access");
            assert_eq!(me(gw, access).await.status, 200, "the session lives");
            let next = refresh(pair.body["refresh_token"].clone()).await;
            assert_eq!(next.status, 200, "each tab's next token works: {next:?}");
        }
        assert!(
            !event_types(gw)
                .await
                .iter()
                .any(|t| t == "token.refresh_reused")
        );

        // After the interval, the spent token is a replay: the session ends.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        refresh(token.clone()).await.refused(401, "unauthenticated");
        let access = a.body["access_token"].as_str().expect("access");
        me(gw, access).await.refused(401, "unauthenticated");
        assert!(
            event_types(gw)
                .await
                .iter()
                .any(|t| t == "token.refresh_reused")
        );
    })
    .await;
    common::each_backend(&[("AUTHGATE_REFRESH_REUSE_INTERVAL", "0s")], async |gw| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        sign_up(&url, &p, "strict@example.com", PASSWORD).await;
        let token =
            sign_in(&url, &p, "strict@example.com", PASSWORD).await["refresh_token"].clone();
        let first = post(
            &url,
            "/api/v1/auth/refresh",
            Some(&p),
            json!({"refresh_token": token}),
        )
        .await;
        assert_eq!(first.status, 200);
        post(
            &url,
            "/api/v1/auth/refresh",
            Some(&p),
            json!({"refresh_token": token}),
        )
        .await
        .refused(401, "unauthenticated");
        let access = first.body["access_token"].as_str().expect("access");
        me(gw, access).await.refused(401, "unauthenticated");
    })
    .await;
}
