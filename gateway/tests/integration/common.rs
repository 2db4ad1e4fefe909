//! The test harness: a real gateway on an ephemeral loopback port, a fresh
//! database per backend, a real rmcp client over Streamable HTTP, and a
//! capture of every log line the test binary writes.

use std::sync::{Arc, Mutex, OnceLock};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt as _};
use serde_json::{Value, json};

use authgate_core::{Clock, SystemClock};
use authgate_gateway::{Config, Server};
use authgate_store::testing::{self, TestDb};

pub const SECRET: &str = "test-secret-key-0123456789abcdef-0123456789";

// ------------------------------------------------------------- log capture

#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line written so far by this test binary, at every level
/// (`trace`), through the server's own log layer.
pub fn logs() -> String {
    let buffer = log_buffer();
    let bytes = buffer.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn log_buffer() -> &'static LogBuffer {
    static BUFFER: OnceLock<LogBuffer> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        let _ = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("trace"))
            .with(authgate_gateway::logging::layer(
                authgate_gateway::config::LogFormat::Text,
                false,
                move || writer.clone(),
            ))
            .try_init();
        buffer
    })
}

// ------------------------------------------------------------ node helpers

/// A Node.js stand-in the tests start (the identity providers, the webhook
/// receiver): it prints one JSON line when it listens and exits when its
/// stdin closes, so it never outlives the test process. Killed on drop.
pub struct NodeHelper {
    child: std::process::Child,
    _stdin: std::process::ChildStdin,
    /// Its first line.
    pub info: Value,
}

impl Drop for NodeHelper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeHelper {
    /// Runs `npm ci` in `dir` once per process (`once`) when `probe`
    /// (a path under `node_modules`) is missing, then starts `node script`
    /// there with `env` and reads its first line.
    pub fn start(
        once: &'static std::sync::Once, dir: &std::path::Path, probe: &str, script: &str,
        env: &[(&str, String)],
    ) -> NodeHelper {
        use std::io::{BufRead as _, BufReader};
        use std::process::{Command, Stdio};
        once.call_once(|| {
            if !dir.join("node_modules").join(probe).exists() {
                let status = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(dir)
                    .status()
                    .expect("npm runs");
                assert!(status.success(), "npm ci in {}", dir.display());
            }
        });
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("node starts {script}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{script} prints its first line: {e}"));
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{script}: one JSON line, got {line:?}: {e}"));
        NodeHelper {
            child,
            _stdin: stdin,
            info,
        }
    }
}

// ----------------------------------------------------------------- servers

pub struct Gateway {
    pub server: Server,
    pub admin_key: String,
    pub project_id: String,
    pub backend: &'static str,
}

impl Gateway {
    pub fn url(&self) -> String {
        self.server.url()
    }
    pub fn mcp_url(&self) -> String {
        format!("{}/api/mcp", self.server.url())
    }
    pub fn store(&self) -> &authgate_store::Store {
        &self.server.app.store
    }
}

/// A config for tests, with `overrides` applied over the environment the
/// test would otherwise get.
pub fn config(db: &TestDb, overrides: &[(&str, &str)]) -> Config {
    let mut env: Vec<(String, String)> = vec![
        ("AUTHGATE_BIND".into(), "127.0.0.1:0".into()),
        ("DATABASE_URL".into(), db.url.clone()),
        ("AUTHGATE_SECRET_KEY".into(), SECRET.into()),
        ("AUTHGATE_RATE_LIMIT".into(), "10000/s burst 10000".into()),
        (
            "AUTHGATE_PROJECT_RATE_LIMIT".into(),
            "10000/s burst 10000".into(),
        ),
        (
            "AUTHGATE_AUTH_FAILURE_LIMIT".into(),
            "10000/s burst 10000".into(),
        ),
        (
            "AUTHGATE_PUBLIC_RATE_LIMIT".into(),
            "10000/s burst 10000".into(),
        ),
        // Each gateway's development mailbox is a folder of its own, removed
        // when the test's gateway stops.
        (
            "AUTHGATE_MAIL_DIR".into(),
            std::env::temp_dir()
                .join(format!("authgate-test-mail-{}", ulid::Ulid::new()))
                .display()
                .to_string(),
        ),
    ];
    for (k, v) in overrides {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    Config::load(None, move |k| {
        env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.clone())
    })
    .expect("test config loads")
}

/// Starts a gateway on `db` with a first project and its admin key.
pub async fn start(db: &TestDb, overrides: &[(&str, &str)]) -> Gateway {
    log_buffer();
    let store = db.store().await;
    let (project, key) = create_project(&store, "Project A", "live").await;
    let server = Server::start(
        config(db, overrides),
        store,
        SECRET.as_bytes(),
        Arc::new(SystemClock),
    )
    .await
    .expect("gateway starts");
    Gateway {
        server,
        admin_key: key.key,
        project_id: project.id,
        backend: db.backend.name(),
    }
}

/// One fresh database per backend under test.
pub async fn databases() -> Vec<TestDb> {
    testing::databases().await
}

/// Runs `test` once per backend under test (SQLite, and PostgreSQL when
/// `AUTHGATE_TEST_DATABASE_URL` is set), each time on a fresh database
/// with a gateway started with `overrides`, which is stopped afterwards.
pub async fn each_backend(overrides: &[(&str, &str)], test: impl AsyncFn(&Gateway)) {
    for db in databases().await {
        let gw = start(&db, overrides).await;
        test(&gw).await;
        let mailbox = gw.server.app.config.dev_mailbox();
        gw.server.stop().await;
        let _ = std::fs::remove_dir_all(mailbox);
    }
}

/// Like [`each_backend`], with an MCP client of the admin key connected
/// (and closed afterwards).
pub async fn each_backend_with_client(
    overrides: &[(&str, &str)], test: impl AsyncFn(&Gateway, &Client),
) {
    each_backend(overrides, async |gw| {
        let c = connect(&gw.mcp_url(), &gw.admin_key).await;
        test(gw, &c).await;
        let _ = c.cancel().await;
    })
    .await;
}

/// Like [`each_backend`], with an SMTP sink started for each backend: the
/// gateway's `SMTP_URL` points at it and `test` reads its inbox.
pub async fn each_backend_with_mail(
    overrides: &[(&str, &str)], test: impl AsyncFn(&Gateway, &authgate_email::testing::Inbox),
) {
    for db in databases().await {
        let (inbox, port, sink) = authgate_email::testing::sink(std::time::Duration::ZERO).await;
        let smtp = format!("smtp://127.0.0.1:{port}");
        let mut overrides = overrides.to_vec();
        overrides.push(("SMTP_URL", &smtp));
        let gw = start(&db, &overrides).await;
        test(&gw, &inbox).await;
        gw.server.stop().await;
        sink.abort();
    }
}

/// Like [`each_backend_with_mail`], with an MCP client of the admin key
/// connected (and closed afterwards).
pub async fn each_backend_with_mail_and_client(
    overrides: &[(&str, &str)],
    test: impl AsyncFn(&Gateway, &Client, &authgate_email::testing::Inbox),
) {
    each_backend_with_mail(overrides, async |gw, inbox| {
        let c = connect(&gw.mcp_url(), &gw.admin_key).await;
        test(gw, &c, inbox).await;
        let _ = c.cancel().await;
    })
    .await;
}

pub async fn create_project(
    store: &authgate_store::Store, name: &str, environment: &str,
) -> (authgate_project::Project, authgate_project::CreatedApiKey) {
    let now = SystemClock.now();
    store
        .write(async |c| authgate_project::create_project(c, name, environment, now).await)
        .await
        .expect("project")
}

/// Another project on the same server, with its admin key.
pub async fn second_project(gw: &Gateway, name: &str) -> (String, String) {
    let (project, key) = create_project(gw.store(), name, "test").await;
    (project.id, key.key)
}

/// The registry the gateway serves: tests take tool lists and counts from
/// it, never from a hand-kept list.
pub fn registry() -> authgate_core::Registry {
    authgate_gateway::registry().expect("the registry builds")
}

/// Names of the registered tools of `kind`, in name order.
pub fn tools_of(kind: authgate_core::ToolKind) -> Vec<&'static str> {
    registry()
        .iter()
        .filter(|t| t.meta().kind == kind)
        .map(|t| t.meta().name)
        .collect()
}

// ------------------------------------------------------------------ client

pub type Client = RunningService<RoleClient, ClientConfig>;

pub fn client_info(version: ProtocolVersion) -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("authgate-tests", "9.9.9"),
    )
    .with_protocol_version(version)
}

/// A real rmcp client over Streamable HTTP, with a session (2025-11-25).
pub async fn connect(url: &str, key: &str) -> Client {
    connect_with(url, key, ProtocolVersion::LATEST_WITH_INITIALIZE).await
}

pub async fn connect_with(url: &str, key: &str, version: ProtocolVersion) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(key.to_owned()),
    );
    client_info(version)
        .serve(transport)
        .await
        .unwrap_or_else(|e| panic!("MCP client connects to {url}: {e}"))
}

pub async fn call_raw(client: &Client, name: &str, args: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    client
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("tools/call {name} answered a protocol error: {e}"))
}

/// A tools/call whose transport may fail (the server may die mid-call).
pub async fn call_raw_result(
    client: &Client, name: &str, args: Value,
) -> Result<CallToolResult, String> {
    let mut params = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    client.call_tool(params).await.map_err(|e| e.to_string())
}

/// The text of a result's first content block.
fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Calls a tool that must succeed; returns its structured content, after
/// checking that the text block carries the same JSON.
pub async fn ok(client: &Client, name: &str, args: Value) -> Value {
    let result = call_raw(client, name, args.clone()).await;
    let structured = result.structured_content.clone().unwrap_or(Value::Null);
    assert_ne!(
        result.is_error,
        Some(true),
        "{name} failed: {structured} {}",
        text_of(&result)
    );
    assert!(
        structured.is_object(),
        "{name} returned non-object {structured}"
    );
    let text = text_of(&result);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("text block is JSON"),
        structured,
        "text block and structuredContent differ for {name}"
    );
    structured
}

/// Calls a tool that must fail with `code`; returns the `error` object.
pub async fn err(client: &Client, name: &str, args: Value, code: &str) -> Value {
    let result = call_raw(client, name, args.clone()).await;
    assert!(
        result.structured_content.is_none(),
        "an error carries no structuredContent (clients check it against the output schema)"
    );
    let text = text_of(&result);
    assert_eq!(
        result.is_error,
        Some(true),
        "{name}({args}) should fail: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("the error text is JSON");
    let error = body["error"].clone();
    assert_eq!(error["code"], json!(code), "{name}({args}): {error}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        error["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req_"))
    );
    let status = match code {
        "invalid_argument" => 400,
        "permission_denied" => 403,
        "not_found" => 404,
        "conflict" => 409,
        "precondition_failed" => 412,
        "limit_exceeded" => 422,
        "internal" => 500,
        "unavailable" => 503,
        other => panic!("unexpected code {other}"),
    };
    assert_eq!(error["status"], json!(status), "{error}");
    error
}

/// Raw JSON-RPC over HTTP, for what an SDK client will not send.
pub async fn post_raw(
    url: &str, key: Option<&str>, body: impl Into<reqwest::Body>, extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.expect("HTTP request is answered")
}

pub fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw-http", "version": "1.0"}
        }
    })
    .to_string()
}

/// Every audit event of the gateway's first project matching `filter`,
/// read past the tools, newest first.
pub async fn stored_events(
    gw: &Gateway, filter: authgate_audit::EventFilter,
) -> Vec<authgate_audit::AuditEvent> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let req = authgate_core::PageRequest::new(
            authgate_core::pagination::CursorCodec::new(gw.server.app.keys.cursor),
            "stored_events",
            &gw.project_id,
            Some(100),
            cursor.as_deref(),
        )
        .expect("page");
        let page = gw
            .store()
            .read(async |c| authgate_audit::list_events(c, &gw.project_id, &filter, &req).await)
            .await
            .expect("events");
        out.extend(page.data);
        if !page.has_more {
            return out;
        }
        cursor = page.next_cursor;
    }
}

// -------------------------------------------------------------------- REST

/// An answer of the end-user REST API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `error` object of a refusal, after checking its status and code.
    pub fn refused(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["error"]["code"], json!(code), "{self:?}");
        &self.body["error"]
    }
}

/// A call of the end-user REST API: `project` goes in X-AuthGate-Project,
/// `bearer` in Authorization.
pub async fn rest(
    method: reqwest::Method, url: &str, path: &str, project: Option<&str>, bearer: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = reqwest::Client::new().request(method, format!("{url}{path}"));
    if let Some(p) = project {
        req = req.header("x-authgate-project", p);
    }
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("REST request is answered");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn post(url: &str, path: &str, project: Option<&str>, body: Value) -> Answer {
    rest(reqwest::Method::POST, url, path, project, None, Some(body)).await
}

/// Signs up a user; returns the user.
pub async fn sign_up(url: &str, project: &str, email: &str, password: &str) -> Value {
    let a = post(
        url,
        "/api/v1/auth/sign-up",
        Some(project),
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(a.status, 201, "sign-up: {a:?}");
    a.body["user"].clone()
}

/// Signs in; returns {user, session_id, access_token, refresh_token, expires_in}.
pub async fn sign_in(url: &str, project: &str, email: &str, password: &str) -> Value {
    let a = post(
        url,
        "/api/v1/auth/sign-in",
        Some(project),
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(a.status, 200, "sign-in: {a:?}");
    a.body
}

/// Signs in; returns the access token.
pub async fn access_token(url: &str, project: &str, email: &str, password: &str) -> String {
    let signed = sign_in(url, project, email, password).await;
    signed["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// A mail-sending request (`path`: magic-link or password-reset request)
/// for `email`, answered 202 as every such request is.
pub async fn requested(url: &str, project: &str, path: &str, email: &str) {
    let a = post(url, path, Some(project), json!({"email": email})).await;
    assert_eq!(a.status, 202, "{path}: {a:?}");
}

/// The answer to a magic link's token.
pub async fn verify_link(url: &str, project: &str, token: &str) -> Answer {
    post(
        url,
        "/api/v1/auth/magic-link/verify",
        Some(project),
        json!({"token": token}),
    )
    .await
}

/// The answer to a password reset link's token with a new password.
pub async fn confirm_reset(url: &str, project: &str, token: &str, new_password: &str) -> Answer {
    post(
        url,
        "/api/v1/auth/password-reset/confirm",
        Some(project),
        json!({"token": token, "new_password": new_password}),
    )
    .await
}

/// Links have somewhere to lead (https://app.example.com/auth) and magic
/// links are on.
pub async fn enable_links(c: &Client) {
    ok(
        c,
        "add_callback",
        json!({"url": "https://app.example.com/auth"}),
    )
    .await;
    ok(
        c,
        "configure_auth_providers",
        json!({"providers": [{"provider": "magic_link", "enabled": true}]}),
    )
    .await;
}

/// A new user of the project of `client` (found with whoami), signed in:
/// the sign-in answer.
pub async fn signed_in_user(url: &str, client: &Client) -> Value {
    let me = ok(client, "whoami", json!({})).await;
    let project = me["project"]["id"].as_str().expect("project id").to_owned();
    let email = format!(
        "u{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    sign_up(url, &project, &email, "correct horse battery").await;
    sign_in(url, &project, &email, "correct horse battery").await
}

// --------------------------------------------------------------------- SQL

/// Makes every audit insert fail (a trigger), so a write call's unit of
/// work rolls back; [`allow_audit_rows`] undoes it.
pub async fn refuse_audit_rows(store: &authgate_store::Store) {
    let ddl: &[&str] = match store.backend() {
        authgate_store::Backend::Sqlite => {
            &["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit refused'); END"]
        }
        authgate_store::Backend::Postgres => &[
            "CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ],
    };
    run_sql(store, ddl).await;
}

/// Drops the trigger of [`refuse_audit_rows`].
pub async fn allow_audit_rows(store: &authgate_store::Store) {
    let drop = match store.backend() {
        authgate_store::Backend::Sqlite => "DROP TRIGGER refuse_audit",
        authgate_store::Backend::Postgres => "DROP TRIGGER refuse_audit ON audit_events",
    };
    run_sql(store, &[drop]).await;
}

/// Runs statements past the tools (fixtures, triggers), each in a write
/// unit of its own.
pub async fn run_sql(store: &authgate_store::Store, statements: &[&str]) {
    use diesel_async::RunQueryDsl;
    for sql in statements {
        store
            .write(async |c| {
                authgate_store::with_conn!(c, c => {
                    diesel::sql_query(*sql).execute(c).await?;
                });
                Ok::<_, authgate_core::ToolError>(())
            })
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// The BIGINT a query returns in its column `n`.
pub async fn query_n(store: &authgate_store::Store, sql: &str) -> i64 {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    store
        .read(async |c| {
            let n: N =
                authgate_store::with_conn!(c, c => { diesel::sql_query(sql).get_result(c).await? });
            Ok::<_, authgate_core::ToolError>(n.n)
        })
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

// -------------------------------------------------------------------- mail

/// The plain-text body of the newest mail to `to` that contains `needle`,
/// waiting (up to 10 s) until there are at least `n` such mails.
pub async fn mail_to(
    inbox: &authgate_email::testing::Inbox, to: &str, needle: &str, n: usize,
) -> String {
    for _ in 0..100 {
        let mine: Vec<String> = inbox
            .messages()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {to}")))
            .map(|m| authgate_email::testing::part(&m, "text/plain"))
            .filter(|text| text.contains(needle))
            .collect();
        if mine.len() >= n {
            return mine.last().expect("a mail").clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no mail to {to} arrived: {:?}", inbox.messages());
}

/// The token of the first `token=` link in a mail.
pub fn link_token(text: &str) -> String {
    let start = text.find("token=").expect("a link with a token") + 6;
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// The first 6-digit code standing alone in a mail.
pub fn six_digits(text: &str) -> String {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5))
        .find(|&i| {
            bytes[i..i + 6].iter().all(u8::is_ascii_digit)
                && (i == 0 || !bytes[i - 1].is_ascii_digit())
                && bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit())
        })
        .map(|i| text[i..i + 6].to_owned())
        .unwrap_or_else(|| panic!("no 6-digit code in {text}"))
}

/// The TEXT values a query returns in its column `s`.
pub async fn query_texts(store: &authgate_store::Store, sql: &str) -> Vec<String> {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct S {
        #[diesel(sql_type = diesel::sql_types::Text)]
        s: String,
    }
    store
        .read(async |c| {
            let rows: Vec<S> =
                authgate_store::with_conn!(c, c => { diesel::sql_query(sql).load(c).await? });
            Ok::<_, authgate_core::ToolError>(rows.into_iter().map(|r| r.s).collect::<Vec<_>>())
        })
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
