//! Security review 2, the low findings: CORS preflights, signing-key
//! rotation and TOTP steps under concurrency, bodies and slow clients, an
//! email change that waits for its new address, the export's audit record,
//! and MCP session ids no key opened.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::{
    self, access_token, ok, post, post_raw, query_n, query_texts, rest, run_sql, sign_in, sign_up,
    six_digits,
};

const PASSWORD: &str = "correct horse battery staple";

/// A preflight is one indexed lookup by origin: the stored origin is the
/// callback's, normalised as browsers send it, and an origin no project
/// has is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_look_origins_up_by_their_normal_form() {
    common::each_backend_with_client(&[], async |gw, c| {
        ok(
            c,
            "add_callback",
            json!({"url": "https://App.Example.com:443/auth/cb"}),
        )
        .await;
        let stored = query_texts(
            gw.store(),
            &format!(
                "SELECT origin AS s FROM callback_urls WHERE project_id = '{}'",
                gw.project_id
            ),
        )
        .await;
        assert_eq!(stored, vec!["https://app.example.com".to_owned()]);
        let preflight = async |origin: &str| {
            reqwest::Client::new()
                .request(Method::OPTIONS, format!("{}/api/v1/auth/sign-in", gw.url()))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        };
        assert_eq!(preflight("https://app.example.com").await, 204);
        assert_eq!(preflight("https://APP.example.com").await, 204);
        assert_eq!(preflight("https://app.example.com:8443").await, 403);
        assert_eq!(preflight("https://evil.example.com").await, 403);
        assert_eq!(preflight("null").await, 403);
    })
    .await;
}

/// Signers that find the key due together rotate it once (on PostgreSQL
/// each used to rotate again after the other, retiring the key just made
/// current).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_signing_key_rotates_once_under_parallel_signers() {
    common::each_backend(&[], async |gw| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        sign_up(&url, &p, "keys@example.com", PASSWORD).await;
        let mut refresh = Vec::new();
        for _ in 0..6 {
            let s = sign_in(&url, &p, "keys@example.com", PASSWORD).await;
            refresh.push(s["refresh_token"].as_str().expect("r").to_owned());
        }
        run_sql(
            gw.store(),
            &["UPDATE signing_keys SET activated_at = 1 WHERE state = 'current'"],
        )
        .await;
        let answers = futures::future::join_all(refresh.iter().map(|r| {
            post(
                &url,
                "/api/v1/auth/refresh",
                Some(&p),
                json!({"refresh_token": r}),
            )
        }))
        .await;
        for a in &answers {
            assert_eq!(a.status, 200, "{a:?}");
        }
        let count = async |state: &str| {
            query_n(
                gw.store(),
                &format!(
                    "SELECT COUNT(*) AS n FROM signing_keys WHERE project_id = '{p}' AND state = '{state}'"
                ),
            )
            .await
        };
        assert_eq!(count("retired").await, 1, "one rotation");
        assert_eq!(count("current").await, 1);
        assert_eq!(count("next").await, 1);
    })
    .await;
}

/// One TOTP code confirmed by several requests at once is accepted once:
/// the step is spent by a conditional update (the sealed value read), so
/// the guarantee no longer rests on the per-account throttle row happening
/// to queue the checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_totp_code_is_accepted_once_in_parallel() {
    common::each_backend(&[], async |gw| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        sign_up(&url, &p, "totp@example.com", PASSWORD).await;
        let access = access_token(&url, &p, "totp@example.com", PASSWORD).await;
        let e = rest(
            Method::POST,
            &url,
            "/api/v1/auth/mfa/totp/enroll",
            None,
            Some(&access),
            Some(json!({"password": PASSWORD})),
        )
        .await;
        assert_eq!(e.status, 200, "{e:?}");
        let totp =
            totp_rs::Totp::from_url(e.body["otpauth_uri"].as_str().expect("uri")).expect("uri");
        let code = totp.generate_current().to_string();
        let answers = futures::future::join_all((0..6).map(|_| {
            rest(
                Method::POST,
                &url,
                "/api/v1/auth/mfa/totp/verify",
                None,
                Some(&access),
                Some(json!({"code": code})),
            )
        }))
        .await;
        let accepted = answers.iter().filter(|a| a.status == 200).count();
        assert_eq!(accepted, 1, "{answers:?}");
        for a in answers.iter().filter(|a| a.status != 200) {
            a.refused(400, "invalid_argument");
        }
    })
    .await;
}

/// A raw HTTP/1.1 exchange on a fresh connection: what was answered, or
/// nothing if the server closed the connection first.
async fn raw(addr: std::net::SocketAddr, parts: &[&[u8]], pause: Duration) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        if s.write_all(part).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Bodies are read whole before anything runs: a chunked body over 1 MiB
/// is 413 like a declared one (it was read up to 2 MB), a body not sent
/// within the read timeout is 408, and headers not sent within it close
/// the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_bounded_in_size_and_time() {
    common::each_backend(&[("AUTHGATE_REQUEST_READ_TIMEOUT", "1s")], async |gw| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        // 1.5 MiB streamed in chunks, no Content-Length.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..24).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
        let resp = reqwest::Client::new()
            .post(format!("{url}/api/v1/auth/sign-in"))
            .header("x-authgate-project", &p)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .expect("answered");
        assert_eq!(resp.status().as_u16(), 413);
        // Just under the limit, streamed, is read and answered.
        let mut small = serde_json::to_vec(&json!({"email": "a@example.com", "password": "x"}))
            .expect("json");
        small.resize(1024 * 1024 - 16, b' ');
        let resp = reqwest::Client::new()
            .post(format!("{url}/api/v1/auth/sign-in"))
            .header("x-authgate-project", &p)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures::stream::iter([Ok::<
                _,
                std::io::Error,
            >(
                small
            )])))
            .send()
            .await
            .expect("answered");
        assert_eq!(resp.status().as_u16(), 401, "a wrong password, read whole");

        let addr = gw.server.addr;
        // A body that stops coming.
        let head = format!(
            "POST /api/v1/auth/sign-in HTTP/1.1\r\nhost: {addr}\r\nx-authgate-project: {p}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
        );
        let answer = raw(addr, &[head.as_bytes(), b"{\"email\":"], Duration::ZERO).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        // Headers that stop coming: the connection is closed unanswered.
        let started = std::time::Instant::now();
        let answer = raw(
            addr,
            &[b"GET /healthz HTTP/1.1\r\nhost: x\r\n"],
            Duration::ZERO,
        )
        .await;
        assert!(!answer.contains("200 OK"), "{answer}");
        assert!(started.elapsed() < Duration::from_secs(8), "closed at the timeout");
        // A client that sends its request on time is served.
        let answer = raw(
            addr,
            &[b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"],
            Duration::ZERO,
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    })
    .await;
}

/// An email change waits for the new address: the account keeps its
/// address (sign-in, resets) until the code mailed to the new one is
/// entered, and the old address is told of the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_change_waits_for_the_new_address_and_tells_the_old_one() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        let user = sign_up(&url, &p, "old@example.com", PASSWORD).await["id"].clone();
        let access = access_token(&url, &p, "old@example.com", PASSWORD).await;
        let a = rest(
            Method::POST,
            &url,
            "/api/v1/auth/change-email",
            None,
            Some(&access),
            Some(json!({"new_email": "new@example.com", "password": PASSWORD})),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["user"]["email"], "old@example.com");
        assert_eq!(a.body["user"]["pending_email"], "new@example.com");
        let detail = ok(c, "get_end_user", json!({"user_id": user})).await;
        assert_eq!(detail["email"], "old@example.com", "{detail}");
        // The old address is told, naming the new one.
        let notice = common::mail_to(inbox, "old@example.com", "new@example.com", 1).await;
        assert!(notice.contains("asked to change"), "{notice}");
        // The account still signs in with the old address.
        sign_in(&url, &p, "old@example.com", PASSWORD).await;
        let code = six_digits(&common::mail_to(inbox, "new@example.com", "code", 1).await);
        let verify = async |email: &str| {
            post(
                &url,
                "/api/v1/auth/verify-email",
                Some(&p),
                json!({"email": email, "code": code}),
            )
            .await
        };
        // The code proves the new address only.
        verify("old@example.com")
            .await
            .refused(400, "invalid_argument");
        let a = verify("new@example.com").await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["user"]["email"], "new@example.com");
        assert_eq!(a.body["user"]["email_verified"], true);
        assert_eq!(a.body["user"].get("pending_email"), None);
        sign_in(&url, &p, "new@example.com", PASSWORD).await;
        let a = post(
            &url,
            "/api/v1/auth/sign-in",
            Some(&p),
            json!({"email": "old@example.com", "password": PASSWORD}),
        )
        .await;
        a.refused(401, "unauthenticated");
        let types = query_texts(
            gw.store(),
            &format!(
                "SELECT event_type AS s FROM audit_events WHERE project_id = '{p}' AND event_type LIKE 'email.change%' ORDER BY id"
            ),
        )
        .await;
        assert_eq!(types, vec!["email.change_requested", "email.changed"]);
    })
    .await;
}

/// An export of a user's data leaves an audit record naming the user and
/// the key that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_user_data_is_audited() {
    common::each_backend_with_client(&[], async |gw, c| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        let user = sign_up(&url, &p, "gdpr@example.com", PASSWORD).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let exported = ok(c, "export_user_data", json!({"user_id": user})).await;
        assert_eq!(exported["user_id"], user.as_str(), "{exported}");
        let rows = query_texts(
            gw.store(),
            &format!(
                "SELECT targets AS s FROM audit_events WHERE project_id = '{p}' AND tool = 'export_user_data' AND outcome = 'success'"
            ),
        )
        .await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert!(rows[0].contains(&user), "{rows:?}");
    })
    .await;
}

/// An MCP session id no key opened here is refused with 404 (clients then
/// initialize afresh); before, the request went through unbound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbound_mcp_session_id_is_refused() {
    common::each_backend(&[], async |gw| {
        let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
        let resp = post_raw(
            &gw.mcp_url(),
            Some(&gw.admin_key),
            body,
            &[
                ("mcp-session-id", "0f1e2d3c-made-up"),
                ("mcp-protocol-version", "2025-06-18"),
            ],
        )
        .await;
        assert_eq!(resp.status().as_u16(), 404);
        let answer: Value = resp.json().await.expect("json");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("initialize a new session")),
            "{answer}"
        );
    })
    .await;
}

/// A raw session opened with `key`: its id, initialized.
async fn raw_session(gw: &crate::common::Gateway) -> String {
    let init = crate::common::post_raw(
        &gw.mcp_url(),
        Some(&gw.admin_key),
        crate::common::initialize_body(),
        &[],
    )
    .await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .expect("session")
        .to_owned();
    let _ = init.text().await;
    let _ = crate::common::post_raw(
        &gw.mcp_url(),
        Some(&gw.admin_key),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        &[
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-06-18"),
        ],
    )
    .await;
    session
}

/// The status of a tools/list in `session`.
async fn list_in(gw: &crate::common::Gateway, session: &str) -> u16 {
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}).to_string();
    crate::common::post_raw(
        &gw.mcp_url(),
        Some(&gw.admin_key),
        body,
        &[
            ("mcp-session-id", session),
            ("mcp-protocol-version", "2025-06-18"),
        ],
    )
    .await
    .status()
    .as_u16()
}

/// Memory is bounded by design: a key holds at most
/// AUTHGATE_MAX_SESSIONS_PER_KEY sessions (the oldest ends first, with a
/// 404 clients re-initialize on), and a session idle for
/// AUTHGATE_SESSION_IDLE_TIMEOUT ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_capped_per_key_and_idle_ones_end() {
    crate::common::each_backend(
        &[
            ("AUTHGATE_MAX_SESSIONS_PER_KEY", "2"),
            ("AUTHGATE_SESSION_IDLE_TIMEOUT", "2s"),
        ],
        async |gw| {
            let first = raw_session(gw).await;
            let second = raw_session(gw).await;
            assert_eq!(list_in(gw, &first).await, 200);
            let third = raw_session(gw).await;
            assert_eq!(list_in(gw, &first).await, 404, "the oldest session ended");
            assert_eq!(list_in(gw, &second).await, 200);
            assert_eq!(list_in(gw, &third).await, 200);
            assert_eq!(gw.server.app.sessions.len(), 2);
            tokio::time::sleep(Duration::from_millis(3500)).await;
            assert_eq!(list_in(gw, &third).await, 404, "an idle session ended");
        },
    )
    .await;
}
