//! The `authgate` binary as a user runs it: first run on an empty database
//! prints a project's admin key once and the `claude mcp add` line that
//! works; `migrate`, `project create` and `key create` do what they say.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::{self, ok};

const BIN: &str = env!("CARGO_BIN_EXE_authgate");

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The environment of a server the test starts on `db` at `port`, with
/// limits no test reaches (SQLite: the data folder it is started in).
pub(crate) fn server_env(
    db: &authgate_store::testing::TestDb, port: u16,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AUTHGATE_BIND", format!("127.0.0.1:{port}")),
        ("AUTHGATE_SECRET_KEY", common::SECRET.to_owned()),
        ("AUTHGATE_RATE_LIMIT", "100000/s burst 100000".to_owned()),
        (
            "AUTHGATE_PROJECT_RATE_LIMIT",
            "100000/s burst 100000".to_owned(),
        ),
    ];
    if db.backend == authgate_store::Backend::Postgres {
        env.push(("DATABASE_URL", db.url.clone()));
    }
    env
}

fn command(dir: &Path, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("AUTHGATE_SECRET_KEY")
        .env_remove("AUTHGATE_CONFIG")
        .env("RUST_LOG", "trace");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `authgate serve` and reads stdout up to the readiness of the port.
pub(crate) fn serve(dir: &Path, env: &[(&str, String)], port: u16) -> (Running, Vec<String>) {
    let mut child = command(dir, env)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("authgate serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The server's log, written whole (then renamed into place) when it
    // exits; a log left by an earlier server on this port is removed first,
    // so a reader never takes that one, or half of this one.
    let log_path = std::env::temp_dir().join(format!("authgate-cli-{port}.log"));
    let _ = std::fs::remove_file(&log_path);
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
        }
        let partial = log_path.with_extension("log.part");
        if std::fs::write(&partial, log).is_ok() {
            let _ = std::fs::rename(&partial, &log_path);
        }
    });
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Everything printed before the port opened, and whatever follows soon.
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
        lines.push(line);
    }
    (running, lines)
}

/// Stops a server started by [`serve`] and returns its whole log, waiting
/// (up to 5 s) for the file its stderr is written to when it exits.
pub(crate) async fn log_of(running: Running, port: u16) -> String {
    // Log lines are written in batches (every 20 ms): let the last go.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(running);
    let path = std::env::temp_dir().join(format!("authgate-cli-{port}.log"));
    for _ in 0..50 {
        if let Ok(log) = std::fs::read_to_string(&path) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no log written for the server on port {port}");
}

/// The admin key a first run printed in its `claude mcp add` line.
pub(crate) fn first_run_key(lines: &[String]) -> String {
    let add = lines
        .iter()
        .find(|l| l.contains("claude mcp add"))
        .unwrap_or_else(|| panic!("no key printed: {lines:?}"));
    extract_key(add)
}

pub(crate) fn extract_key(line: &str) -> String {
    let start = line.find("Bearer ").expect("Bearer in the line") + "Bearer ".len();
    line[start..].trim_end_matches('"').to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_prints_a_working_claude_mcp_add_line() {
    for db in common::databases().await {
        let dir = std::env::temp_dir().join(format!("authgate-cli-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = free_port();
        let mut env = vec![("AUTHGATE_BIND", format!("127.0.0.1:{port}"))];
        if db.backend == authgate_store::Backend::Postgres {
            env.push(("DATABASE_URL", db.url.clone()));
            env.push(("AUTHGATE_SECRET_KEY", common::SECRET.to_owned()));
        }
        let (running, lines) = serve(&dir, &env, port);
        let text = lines.join("\n");
        let add = lines
            .iter()
            .find(|l| l.contains("claude mcp add --transport http authgate"))
            .unwrap_or_else(|| panic!("no claude line in: {text}"));
        let url = format!("http://127.0.0.1:{port}/api/mcp");
        assert!(
            add.contains(&format!(
                "authgate {url} --header \"Authorization: Bearer ag_live_"
            )),
            "{add}"
        );
        let key = extract_key(add);
        assert_eq!(
            text.matches(&key).count(),
            2,
            "the key is printed once, and once in the command"
        );
        if db.backend == authgate_store::Backend::Sqlite {
            assert!(
                dir.join("data/authgate.db").exists(),
                "default database path"
            );
            assert!(dir.join("data/secret.key").exists(), "generated secret key");
        }
        let client = common::connect(&url, &key).await;
        let me = ok(&client, "whoami", json!({})).await;
        assert_eq!(me["scopes"], json!(["admin"]));
        let project_id = me["project"]["id"].as_str().expect("project").to_owned();
        let _ = client.cancel().await;
        let log = log_of(running, port).await;
        assert!(log.contains("request"), "request lines are logged: {log}");
        assert!(
            !log.contains(&key),
            "the key is never logged, even at trace"
        );
        assert!(
            !log.contains('\u{1b}'),
            "no colour codes when the log is not a terminal"
        );

        // A second start finds the project and prints no key.
        let port2 = free_port();
        env[0] = ("AUTHGATE_BIND", format!("127.0.0.1:{port2}"));
        let (second, lines2) = serve(&dir, &env, port2);
        assert!(!lines2.iter().any(|l| l.contains("ag_live_")), "{lines2:?}");
        drop(second);

        let migrate = command(&dir, &env)
            .arg("migrate")
            .output()
            .expect("migrate runs");
        assert!(migrate.status.success());
        let created = command(&dir, &env)
            .args(["project", "create", "--name", "Second app"])
            .output()
            .expect("project create runs");
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        let out = String::from_utf8_lossy(&created.stdout).into_owned();
        assert!(
            out.contains("project: prj_") && out.contains("ag_live_"),
            "{out}"
        );
        let key_out = command(&dir, &env)
            .args([
                "key",
                "create",
                "--project",
                &project_id,
                "--scopes",
                "read,write",
                "--name",
                "ci",
            ])
            .output()
            .expect("key create runs");
        assert!(
            key_out.status.success(),
            "{}",
            String::from_utf8_lossy(&key_out.stderr)
        );
        let key_text = String::from_utf8_lossy(&key_out.stdout).into_owned();
        let new_key = key_text
            .lines()
            .find_map(|l| l.strip_prefix("key (shown once): "))
            .expect("key printed")
            .to_owned();
        let bad = command(&dir, &env)
            .args([
                "key",
                "create",
                "--project",
                &project_id,
                "--scopes",
                "root",
            ])
            .output()
            .expect("runs");
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("--scopes"));

        let port3 = free_port();
        env[0] = ("AUTHGATE_BIND", format!("127.0.0.1:{port3}"));
        let (_third, _) = serve(&dir, &env, port3);
        let client = common::connect(&format!("http://127.0.0.1:{port3}/api/mcp"), &new_key).await;
        let me = ok(&client, "whoami", json!({})).await;
        assert_eq!(me["scopes"], json!(["read", "write"]));
        assert_eq!(me["name"], "ci");
        let _ = client.cancel().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `authgate admin login` prints a one-time link of 10 minutes: it opens
/// an operator session (every project) once, and never again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_login_prints_a_one_time_link() {
    for db in common::databases().await {
        let dir = std::env::temp_dir().join(format!("authgate-cli-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = free_port();
        let env = server_env(&db, port);
        let (running, _) = serve(&dir, &env, port);
        let out = command(&dir, &env)
            .args(["admin", "login"])
            .output()
            .expect("authgate admin login runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let prefix = format!("http://127.0.0.1:{port}/admin/login?token=agl_");
        let link = text
            .split_whitespace()
            .find(|w| w.starts_with(&prefix))
            .unwrap_or_else(|| panic!("a link in: {text}"))
            .to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let first = http.get(&link).send().await.expect("answered");
        assert_eq!(first.status().as_u16(), 303);
        let cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let page = http
            .get(format!("http://127.0.0.1:{port}/admin/login"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("answered");
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("the operator (every project)")
        );
        let again = http.get(&link).send().await.expect("answered");
        assert_eq!(again.status().as_u16(), 401, "a link works once");
        assert!(again.headers().get("set-cookie").is_none());
        let unknown = command(&dir, &env)
            .args([
                "admin",
                "login",
                "--project",
                "prj_00000000000000000000000000",
            ])
            .output()
            .expect("runs");
        assert!(!unknown.status.success(), "an unknown project is refused");
        drop(running);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// SIGTERM: a request in flight when the signal comes is answered in full,
/// and the process exits 0 within 10 seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_exits_zero() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let db = common::databases().await.remove(0);
    let dir = std::env::temp_dir().join(format!("authgate-cli-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let env = server_env(&db, port);
    let (mut running, lines) = serve(&dir, &env, port);
    let key = first_run_key(&lines);
    let body = common::initialize_body();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    let request = format!(
        "POST /api/mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    );
    conn.write_all(request.as_bytes())
        .await
        .expect("half a request");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = running.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.write_all(tail.as_bytes())
        .await
        .expect("the rest of it");
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_string(&mut answer)).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request in flight is answered: {answer}"
    );
    assert!(
        answer.contains("mcp-session-id") || answer.contains("protocolVersion"),
        "{answer}"
    );
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().expect("waits") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "exits within 10 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "exit 0 on SIGTERM");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_on_a_healthy_gateway_and_one_otherwise() {
    let db = common::databases().await.remove(0);
    let dir = std::env::temp_dir().join(format!("authgate-cli-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let env = server_env(&db, port);
    let (_running, _) = serve(&dir, &env, port);
    let check = |env: &[(&str, String)], args: &[&str]| {
        command(&dir, env)
            .arg("healthcheck")
            .args(args)
            .output()
            .expect("healthcheck runs")
    };
    // From AUTHGATE_BIND, as a container's HEALTHCHECK runs it (0.0.0.0
    // read as loopback).
    let bound = check(&[("AUTHGATE_BIND", format!("0.0.0.0:{port}"))], &[]);
    assert_eq!(bound.status.code(), Some(0), "{bound:?}");
    let given = check(&[], &["--url", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_eq!(given.status.code(), Some(0), "{given:?}");
    let not_found = check(&[], &["--url", &format!("http://127.0.0.1:{port}/nope")]);
    assert_eq!(not_found.status.code(), Some(1), "{not_found:?}");
    assert!(
        String::from_utf8_lossy(&not_found.stderr).contains("404"),
        "{not_found:?}"
    );
    let closed = check(
        &[],
        &[
            "--url",
            &format!("http://127.0.0.1:{}/healthz", free_port()),
        ],
    );
    assert_eq!(closed.status.code(), Some(1), "{closed:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
