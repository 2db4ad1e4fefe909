//! What a developer touches first (issue 20): the development mailbox and
//! the token lifetimes.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::cli::{free_port, serve};
use crate::common::{self, ok, post, sign_in, sign_up, six_digits};

const BIN: &str = env!("CARGO_BIN_EXE_authgate");
const PASSWORD: &str = "correct horse battery staple";

/// `authgate mail ...` in `dir`, as a developer types it: its stdout.
fn mail_command(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("AUTHGATE_MAIL_DIR")
        .env_remove("AUTHGATE_CONFIG")
        .arg("mail")
        .args(args)
        .output()
        .expect("authgate mail runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Started with no SMTP server, the first-run banner names the mailbox;
/// a sign-up's verification code is a file there, and `authgate mail list`
/// and `authgate mail show` read it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_lands_in_the_development_mailbox() {
    let dir = std::env::temp_dir().join(format!("authgate-devbox-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let (running, lines) = serve(
        &dir,
        &[("AUTHGATE_BIND", format!("127.0.0.1:{port}"))],
        port,
    );
    let banner = lines.join("\n");
    assert!(
        banner.contains("mail is written to ./data/mail") && banner.contains("authgate mail list"),
        "{banner}"
    );
    let url = format!("http://127.0.0.1:{port}");
    let key = crate::cli::extract_key(
        lines
            .iter()
            .find(|l| l.contains("Bearer "))
            .expect("the admin key"),
    );
    let client = common::connect(&format!("{url}/api/mcp"), &key).await;
    let project = ok(&client, "whoami", json!({})).await["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    let _ = client.cancel().await;
    sign_up(&url, &project, "first@example.com", PASSWORD).await;
    sign_up(&url, &project, "second@example.com", PASSWORD).await;
    let mut listed = String::new();
    for _ in 0..100 {
        listed = mail_command(&dir, &["list", "--to", "first@example.com"]);
        if listed.contains("verification code") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line = listed
        .lines()
        .find(|l| l.contains("verification code"))
        .unwrap_or_else(|| panic!("no verification mail listed: {listed}"));
    assert!(line.contains("first@example.com"), "{line}");
    assert!(!listed.contains("second@example.com"), "{listed}");
    let files = std::fs::read_dir(dir.join("data/mail"))
        .expect("the mailbox folder")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
        .count();
    assert!(
        files >= 3,
        "a verification and a welcome for the first, and more: {files}"
    );
    let id = line.split_whitespace().next().expect("an id");
    let shown = mail_command(&dir, &["show", id]);
    assert!(shown.contains("To: first@example.com"), "{shown}");
    let code = six_digits(&shown);
    let verified = post(
        &url,
        "/api/v1/auth/verify-email",
        Some(&project),
        json!({"email": "first@example.com", "code": code}),
    )
    .await;
    assert_eq!(verified.status, 200, "{verified:?}");
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With an SMTP server nothing is written to the mailbox folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_smtp_nothing_is_written_to_the_mailbox() {
    common::each_backend_with_mail(&[], async |gw, inbox| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        sign_up(&url, &p, "smtp@example.com", PASSWORD).await;
        common::mail_to(inbox, "smtp@example.com", "code", 1).await;
        let folder = gw.server.app.config.dev_mailbox();
        assert!(!folder.exists(), "{} exists", folder.display());
    })
    .await;
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The access token's and the session's lifetimes are settings; the
/// answers carry the access lifetime in `expires_in`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lifetimes_follow_the_settings() {
    let settings = [
        ("AUTHGATE_ACCESS_TOKEN_TTL", "3s"),
        ("AUTHGATE_REFRESH_TOKEN_TTL", "2h"),
    ];
    common::each_backend_with_client(&settings, async |gw, c| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        sign_up(&url, &p, "ttl@example.com", PASSWORD).await;
        let signed = sign_in(&url, &p, "ttl@example.com", PASSWORD).await;
        assert_eq!(signed["expires_in"], 3);
        let refresh_left = signed["refresh_expires_in"]
            .as_i64()
            .expect("refresh_expires_in");
        assert!((7190..=7200).contains(&refresh_left), "{signed}");
        let access = signed["access_token"].as_str().expect("access");
        let c1 = claims(access);
        assert_eq!(
            c1["exp"].as_i64().expect("exp") - c1["iat"].as_i64().expect("iat"),
            3
        );
        let session = ok(
            c,
            "get_session",
            json!({"session_id": signed["session_id"]}),
        )
        .await;
        let at = |k: &str| {
            chrono::DateTime::parse_from_rfc3339(session[k].as_str().expect("time"))
                .expect("RFC 3339")
        };
        assert_eq!(
            (at("expires_at") - at("created_at")).num_seconds(),
            7200,
            "{session}"
        );
        // Past its 3 seconds the token is refused; a refresh gives another.
        tokio::time::sleep(Duration::from_millis(4100)).await;
        let me = common::rest(
            reqwest::Method::GET,
            &url,
            "/api/v1/me",
            None,
            Some(access),
            None,
        )
        .await;
        me.refused(401, "unauthenticated");
        let r = post(
            &url,
            "/api/v1/auth/refresh",
            Some(&p),
            json!({"refresh_token": signed["refresh_token"]}),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["expires_in"], 3);
        let refresh_left = r.body["refresh_expires_in"]
            .as_i64()
            .expect("refresh_expires_in");
        assert!((7180..=7200).contains(&refresh_left), "{:?}", r.body);
    })
    .await;
}

/// The tool names a client sees.
async fn listed(client: &common::Client) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// A connection narrows itself with `?toolsets=` and `?read_only=true`:
/// tools/list shows only those tools, any other call is refused as a key's
/// allow-list refuses it, whoami says so, and a key's own allow-list is
/// never widened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_narrows_itself_to_toolsets_and_read_only() {
    common::each_backend_with_client(&[], async |gw, admin| {
        let all = listed(admin).await;
        let narrow_url = format!("{}?toolsets=project,end_users&read_only=true", gw.mcp_url());
        let c = common::connect(&narrow_url, &gw.admin_key).await;
        let names = listed(&c).await;
        let registry = common::registry();
        let catalog = registry.catalog();
        let expected: Vec<String> = all
            .iter()
            .filter(|n| {
                let group = catalog.group_of(n).expect("a group");
                let read = common::tools_of(authgate_core::ToolKind::Read).contains(&n.as_str());
                read && (group == "project" || group == "end_users")
            })
            .cloned()
            .collect();
        assert_eq!(names, expected);
        assert!(names.contains(&"list_end_users".to_owned()), "{names:?}");
        assert!(!names.contains(&"delete_end_user".to_owned()), "{names:?}");
        let me = ok(&c, "whoami", json!({})).await;
        assert_eq!(
            me["connection"],
            json!({"toolsets": ["project", "end_users"], "read_only": true})
        );
        let refused = common::err(&c, "list_orgs", json!({}), "permission_denied").await;
        assert!(
            refused["message"]
                .as_str()
                .is_some_and(|m| m.contains("toolsets")),
            "{refused}"
        );
        let user = sign_up(&gw.url(), &gw.project_id, "narrow@example.com", PASSWORD).await;
        common::err(
            &c,
            "delete_end_user",
            json!({"user_id": user["id"], "dry_run": true}),
            "permission_denied",
        )
        .await;
        let _ = c.cancel().await;
        // A key limited to one tool sees only it, whatever the URL asks.
        let key = ok(
            admin,
            "create_api_key",
            json!({"name": "one", "scopes": ["read"], "tools": ["list_end_users"]}),
        )
        .await;
        let wide_url = format!("{}?toolsets=end_users,organizations", gw.mcp_url());
        let one = common::connect(&wide_url, key["key"].as_str().expect("key")).await;
        assert_eq!(listed(&one).await, vec!["list_end_users".to_owned()]);
        let _ = one.cancel().await;
        // A toolset that does not exist is refused, naming the groups.
        let resp = common::post_raw(
            &format!("{}?toolsets=identity", gw.mcp_url()),
            Some(&gw.admin_key),
            common::initialize_body(),
            &[],
        )
        .await;
        assert_eq!(resp.status().as_u16(), 400);
        let body: Value = resp.json().await.expect("json");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("'identity' is not a tool group") && message.contains("end_users"),
            "{message}"
        );
    })
    .await;
}
