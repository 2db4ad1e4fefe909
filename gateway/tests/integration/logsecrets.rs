//! Fault 12 of the second security review: at `RUST_LOG=debug` the
//! PostgreSQL driver printed every statement's bound parameters (codes,
//! token hashes, Argon2 hashes, sealed secrets) as byte arrays. The release
//! binary runs here with `RUST_LOG=debug` and then `trace`, on each
//! backend, through every flow that handles a secret; its whole log is then
//! searched for each secret as text, as a decimal byte list (how a byte
//! array is debug-printed) and as hex.

use std::time::Duration;

use http::Method;
use serde_json::json;

use crate::cli::{first_run_key, free_port, log_of, serve};
use crate::common::{self, mail_to, ok, post, rest, sign_in, sign_up};

const PASSWORD: &str = "log-secret password 1";
const NEW_PASSWORD: &str = "log-secret password 2";

/// The ways a secret could stand in a log line.
fn renderings(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let decimal = bytes
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    vec![secret.to_owned(), decimal, authgate_core::hash::hex(bytes)]
}

/// Searches `log` for every rendering of every secret; short secrets
/// (codes) are searched as JSON strings and byte lists only, since six
/// digits may stand in a log line by chance (a latency).
fn assert_absent(log: &str, secrets: &[(&str, String)], level: &str, backend: &str) {
    for (what, secret) in secrets {
        for (i, r) in renderings(secret).into_iter().enumerate() {
            let needle = if secret.len() < 12 && i == 0 {
                format!("\"{r}\"")
            } else {
                r
            };
            assert!(
                !log.contains(&needle),
                "{what} appears in the log at {level} on {backend} (rendering {i})"
            );
        }
    }
}

/// The secrets one run handles, each named.
async fn exercise(
    url: &str, key: &str, inbox: &authgate_email::testing::Inbox,
) -> Vec<(&'static str, String)> {
    let mut secrets: Vec<(&'static str, String)> = vec![("admin key", key.to_owned())];
    let c = common::connect(&format!("{url}/api/mcp"), key).await;
    let p = ok(&c, "whoami", json!({})).await["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    let client_secret = format!("provider-secret-{}", ulid::Ulid::new());
    ok(
        &c,
        "add_callback",
        json!({"url": "https://app.example.com/cb"}),
    )
    .await;
    ok(
        &c,
        "configure_auth_providers",
        json!({"providers": [
            {"provider": "magic_link", "enabled": true},
            {"provider": "discord", "enabled": true, "client_id": "cid", "client_secret": client_secret}
        ]}),
    )
    .await;
    secrets.push(("provider client secret", client_secret));
    secrets.push(("password", PASSWORD.to_owned()));
    secrets.push(("new password", NEW_PASSWORD.to_owned()));

    sign_up(url, &p, "logs@example.com", PASSWORD).await;
    let mail = mail_to(inbox, "logs@example.com", "code", 1).await;
    let code = common::six_digits(&mail);
    let a = post(
        url,
        "/api/v1/auth/verify-email",
        Some(&p),
        json!({"email": "logs@example.com", "code": code}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    secrets.push(("verification code", code));

    let signed = sign_in(url, &p, "logs@example.com", PASSWORD).await;
    let refresh = signed["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let a = post(
        url,
        "/api/v1/auth/refresh",
        Some(&p),
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    for (what, token) in [
        ("access token", signed["access_token"].clone()),
        ("refresh token", signed["refresh_token"].clone()),
        ("next access token", a.body["access_token"].clone()),
        ("next refresh token", a.body["refresh_token"].clone()),
    ] {
        let token = token.as_str().expect("token").to_owned();
        secrets.push((what, authgate_core::hash::sha256_hex(&token)));
        secrets.push((what, token));
    }

    let a = post(
        url,
        "/api/v1/auth/magic-link/request",
        Some(&p),
        json!({"email": "logs@example.com"}),
    )
    .await;
    assert_eq!(a.status, 202, "{a:?}");
    let link = common::link_token(&mail_to(inbox, "logs@example.com", "token=", 1).await);
    let a = post(
        url,
        "/api/v1/auth/magic-link/verify",
        Some(&p),
        json!({"token": link}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let access = a.body["access_token"].as_str().expect("access").to_owned();
    secrets.push(("magic link token", link));

    let a = post(
        url,
        "/api/v1/auth/password-reset/request",
        Some(&p),
        json!({"email": "logs@example.com"}),
    )
    .await;
    assert_eq!(a.status, 202, "{a:?}");
    let reset = common::link_token(&mail_to(inbox, "logs@example.com", "token=", 2).await);
    let a = post(
        url,
        "/api/v1/auth/password-reset/confirm",
        Some(&p),
        json!({"token": reset, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    secrets.push(("reset token", reset));

    let signed = sign_in(url, &p, "logs@example.com", NEW_PASSWORD).await;
    let access = signed["access_token"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or(access);
    let e = rest(
        Method::POST,
        url,
        "/api/v1/auth/mfa/totp/enroll",
        None,
        Some(&access),
        Some(json!({"password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(e.status, 200, "{e:?}");
    let totp = totp_rs::Totp::from_url(e.body["otpauth_uri"].as_str().expect("uri")).expect("uri");
    let code = totp.generate_current().to_string();
    let a = rest(
        Method::POST,
        url,
        "/api/v1/auth/mfa/totp/verify",
        None,
        Some(&access),
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    secrets.push((
        "TOTP secret",
        e.body["secret"].as_str().expect("secret").to_owned(),
    ));
    secrets.push(("TOTP code", code));
    let _ = c.cancel().await;
    secrets
}

/// What the database keeps of the secrets: Argon2 hashes and sealed
/// secrets, which bound parameters would carry.
async fn stored_secrets(store: &authgate_store::Store) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (what, sql) in [
        (
            "argon2 hash",
            "SELECT password_hash AS s FROM password_credentials",
        ),
        (
            "sealed provider secret",
            "SELECT client_secret_enc AS s FROM auth_providers WHERE client_secret_enc IS NOT NULL",
        ),
        (
            "sealed TOTP secret",
            "SELECT secret_enc AS s FROM mfa_factors",
        ),
    ] {
        let values = common::query_texts(store, sql).await;
        assert!(!values.is_empty(), "{what}: the flows stored one");
        out.extend(values.into_iter().map(|v| (what, v)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_at_debug_or_trace() {
    for level in ["debug", "trace"] {
        for db in common::databases().await {
            let backend = db.backend.name();
            let (inbox, smtp_port, sink) = authgate_email::testing::sink(Duration::ZERO).await;
            let dir = std::env::temp_dir().join(format!("authgate-logs-{}", ulid::Ulid::new()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let port = free_port();
            let env = vec![
                ("AUTHGATE_BIND", format!("127.0.0.1:{port}")),
                ("DATABASE_URL", db.url.clone()),
                ("AUTHGATE_SECRET_KEY", common::SECRET.to_owned()),
                ("SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}")),
                ("RUST_LOG", level.to_owned()),
            ];
            let (running, lines) = serve(&dir, &env, port);
            let key = first_run_key(&lines);
            let url = format!("http://127.0.0.1:{port}");
            let mut secrets = exercise(&url, &key, &inbox).await;
            let store = db.store().await;
            secrets.extend(stored_secrets(&store).await);
            let log = log_of(running, port).await;
            sink.abort();
            assert!(
                log.contains("DEBUG"),
                "the server logged at {level}: {}",
                &log[..log.len().min(500)]
            );
            assert_absent(&log, &secrets, level, backend);
        }
    }
}
