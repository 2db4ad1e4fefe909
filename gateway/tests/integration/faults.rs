//! Faults of the database under load, on a PostgreSQL cluster of the
//! test's own (`initdb` in a temporary folder on a free port, run as user
//! `postgres`; the shared server is never touched), with two `authgate
//! serve` processes on it:
//!
//! - stopped (`pg_ctl stop -m immediate`) and then frozen (SIGSTOP on
//!   every server process): every request answers within 2 s; those that
//!   need the database 503 `unavailable` with `Retry-After` (a tool: a
//!   tool error `unavailable`, retryable), never a 500; /readyz 503,
//!   /healthz 200, the JWKS from the keys published before;
//! - started again (SIGCONT): /readyz 200, calls succeed without a restart
//!   of the gateways, and a key revoked on one gateway is refused on the
//!   other at once (LISTEN/NOTIFY reconnected).
//!
//! PostgreSQL only (SQLite runs in the gateway's process); skipped, saying
//! so, where the test cannot run a cluster of its own (not root, no
//! `pg_ctl`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{Running, first_run_key, free_port, serve};
use crate::common::{self, ok};

/// A PostgreSQL cluster of the test's own.
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    frozen: Mutex<Vec<String>>,
}

fn succeeded(cmd: &mut Command) -> bool {
    cmd.status().is_ok_and(|s| s.success())
}

fn output(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

impl Cluster {
    /// `None` (said on stderr) where no cluster can be made here.
    fn create() -> Option<Cluster> {
        if output(Command::new("id").arg("-u")) != "0" {
            eprintln!("faults: skipped, `runuser -u postgres` needs root");
            return None;
        }
        let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists() && b.join("initdb").exists())
            .collect();
        bins.sort();
        let Some(bin) = bins.pop() else {
            eprintln!("faults: skipped, no pg_ctl under /usr/lib/postgresql");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("authgate-pg-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        assert!(
            succeeded(Command::new("chown").args(["postgres:postgres", &dir.to_string_lossy()])),
            "the cluster folder is given to postgres"
        );
        let cluster = Cluster {
            bin,
            port: free_port(),
            dir,
            frozen: Mutex::new(Vec::new()),
        };
        let data = cluster.data();
        assert!(
            cluster.as_postgres(
                "initdb",
                &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]
            ),
            "initdb makes the cluster"
        );
        cluster.start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> bool {
        succeeded(
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join(program))
                .args(args)
                .stdout(std::process::Stdio::null()),
        )
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            self.dir.to_string_lossy()
        );
        let log = self.dir.join("log").to_string_lossy().into_owned();
        let data = self.data();
        assert!(
            self.as_postgres(
                "pg_ctl",
                &["-D", &data, "-o", &options, "-l", &log, "-w", "start"]
            ),
            "the cluster starts: {}",
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    fn stop_immediately(&self) {
        let data = self.data();
        assert!(
            self.as_postgres("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]),
            "the cluster stops"
        );
    }

    /// SIGSTOP on the postmaster and every process it started.
    fn freeze(&self) {
        let pid_file = Path::new(&self.data()).join("postmaster.pid");
        let postmaster = std::fs::read_to_string(pid_file)
            .expect("postmaster.pid")
            .lines()
            .next()
            .expect("its first line is the pid")
            .trim()
            .to_owned();
        let mut pids = vec![postmaster.clone()];
        pids.extend(
            output(Command::new("pgrep").args(["-P", &postmaster]))
                .lines()
                .map(str::to_owned),
        );
        assert!(
            succeeded(Command::new("kill").arg("-STOP").args(&pids)),
            "SIGSTOP {pids:?}"
        );
        *self.frozen.lock().expect("pids") = pids;
    }

    fn thaw(&self) {
        let pids = std::mem::take(&mut *self.frozen.lock().expect("pids"));
        if !pids.is_empty() {
            assert!(
                succeeded(Command::new("kill").arg("-CONT").args(&pids)),
                "SIGCONT {pids:?}"
            );
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pids = std::mem::take(&mut *self.frozen.lock().unwrap_or_else(|e| e.into_inner()));
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-CONT").args(&pids).status();
        }
        let data = self.data();
        let _ = self.as_postgres("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the load saw: one request.
#[derive(Debug, Clone)]
struct Sample {
    op: &'static str,
    phase: u8,
    status: u16,
    elapsed: Duration,
    retry_after: Option<String>,
    body: Value,
}

const UP: u8 = 0;
const STOPPED: u8 = 1;
const FROZEN: u8 = 2;
const CHANGING: u8 = 3;

struct Target {
    url: String,
    project: String,
    key: String,
    token: String,
}

/// A tool call as one stateless request (2026-07-28: no initialize).
fn tool_call(
    http: &reqwest::Client, url: &str, key: &str, tool: &str, arguments: Value,
) -> reqwest::RequestBuilder {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "faults", "version": "1.0"},
            "io.modelcontextprotocol/clientCapabilities": {}
        }
    }});
    http.post(format!("{url}/api/mcp"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
}

/// A JSON body, or the JSON of an SSE answer's data line.
fn json_of(text: &str) -> Value {
    let data = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("data:")
                .map(str::trim)
                .filter(|d| !d.is_empty())
        })
        .unwrap_or(text);
    serde_json::from_str(data).unwrap_or(Value::String(text.to_owned()))
}

async fn request(
    http: &reqwest::Client, t: &Target, op: &'static str,
) -> (u16, Option<String>, Value) {
    let req = match op {
        "healthz" => http.get(format!("{}/healthz", t.url)),
        "readyz" => http.get(format!("{}/readyz", t.url)),
        "jwks" => http.get(format!("{}/api/v1/projects/{}/jwks.json", t.url, t.project)),
        "me" => http
            .get(format!("{}/api/v1/me", t.url))
            .header("x-authgate-project", &t.project)
            .header("authorization", format!("Bearer {}", t.token)),
        _ => tool_call(http, &t.url, &t.key, "get_project_status", json!({})),
    };
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = resp.text().await.unwrap_or_default();
            (status, retry_after, json_of(&text))
        }
        // No answer at all (the client's own 5 s limit): recorded as 0.
        Err(e) => (0, None, Value::String(e.to_string())),
    }
}

const OPS: [&str; 5] = ["healthz", "readyz", "jwks", "me", "tool"];

/// Six clients sending the five requests in turn until `stop`.
fn load(
    t: Arc<Target>, phase: Arc<AtomicU8>, samples: Arc<Mutex<Vec<Sample>>>,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..6)
        .map(|i| {
            let (t, phase, samples, stop) =
                (t.clone(), phase.clone(), samples.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("client");
                let mut n = i;
                while !stop.is_cancelled() {
                    let op = OPS[n % OPS.len()];
                    n += 1;
                    let at = phase.load(Ordering::SeqCst);
                    let started = Instant::now();
                    let (status, retry_after, body) = request(&http, &t, op).await;
                    let sample = Sample {
                        op,
                        phase: at,
                        status,
                        elapsed: started.elapsed(),
                        retry_after,
                        body,
                    };
                    // A request that spanned a change belongs to neither side.
                    let phase = if phase.load(Ordering::SeqCst) == at {
                        at
                    } else {
                        CHANGING
                    };
                    samples
                        .lock()
                        .expect("samples")
                        .push(Sample { phase, ..sample });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect()
}

/// Every request of a phase, by operation, checked against what the
/// phase allows.
fn check_phase(samples: &[Sample], phase: u8, jwks: &Value) {
    for op in OPS {
        let of: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.phase == phase && s.op == op)
            .collect();
        assert!(!of.is_empty(), "phase {phase}: no {op} request was sent");
        for s in of {
            let down = phase != UP;
            match (op, down) {
                ("healthz", _) => assert_eq!(s.status, 200, "{s:?}"),
                ("readyz", true) => assert_eq!(s.status, 503, "{s:?}"),
                ("jwks", _) => {
                    assert_eq!(s.status, 200, "{s:?}");
                    assert_eq!(&s.body, jwks, "the keys published before");
                }
                ("me", true) => {
                    assert_eq!(s.status, 503, "{s:?}");
                    assert_eq!(s.body["error"]["code"], "unavailable", "{s:?}");
                    assert!(s.retry_after.is_some(), "Retry-After: {s:?}");
                }
                ("tool", true) => {
                    if s.status == 503 {
                        // Refused before the tool ran (the key not cached).
                        assert!(s.retry_after.is_some(), "Retry-After: {s:?}");
                    } else {
                        assert_eq!(s.status, 200, "{s:?}");
                        let result = &s.body["result"];
                        assert_eq!(result["isError"], true, "{s:?}");
                        let text = result["content"][0]["text"].as_str().unwrap_or_default();
                        let error = &json_of(text)["error"];
                        assert_eq!(error["code"], "unavailable", "{s:?}");
                        assert_eq!(error["retryable"], true, "{s:?}");
                    }
                }
                (_, false) => {
                    assert_eq!(s.status, 200, "{s:?}");
                    assert_ne!(s.body["result"]["isError"], true, "{s:?}");
                }
                _ => unreachable!(),
            }
        }
    }
}

/// Waits (up to 30 s) for /readyz 200, then for the outage window to pass.
async fn until_ready(url: &str) {
    let started = Instant::now();
    loop {
        let ready = reqwest::get(format!("{url}/readyz")).await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "/readyz 200 again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

fn gateway_env(cluster: &Cluster, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AUTHGATE_BIND", format!("127.0.0.1:{port}")),
        ("AUTHGATE_SECRET_KEY", common::SECRET.to_owned()),
        ("DATABASE_URL", cluster.url()),
        ("AUTHGATE_DB_TIMEOUT", "1s".to_owned()),
        ("AUTHGATE_RATE_LIMIT", "100000/s burst 100000".to_owned()),
        (
            "AUTHGATE_PROJECT_RATE_LIMIT",
            "100000/s burst 100000".to_owned(),
        ),
        (
            "AUTHGATE_PUBLIC_RATE_LIMIT",
            "100000/s burst 100000".to_owned(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stopped_or_frozen_under_load_answers_503_in_bounded_time_and_recovers() {
    if std::env::var(authgate_store::testing::TEST_DATABASE_URL_VAR).is_err() {
        eprintln!("faults: skipped on the SQLite-only pass");
        return;
    }
    let Some(cluster) = Cluster::create() else {
        return;
    };
    let work = std::env::temp_dir().join(format!("authgate-faults-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&work).expect("work dir");
    let (port_a, port_b) = (free_port(), free_port());
    let (_a, lines): (Running, _) = serve(&work, &gateway_env(&cluster, port_a), port_a);
    let key = first_run_key(&lines);
    let (_b, _) = serve(&work, &gateway_env(&cluster, port_b), port_b);
    let url = format!("http://127.0.0.1:{port_a}");
    let url_b = format!("http://127.0.0.1:{port_b}");

    let admin = common::connect(&format!("{url}/api/mcp"), &key).await;
    let project = ok(&admin, "whoami", json!({})).await["project"]["id"]
        .as_str()
        .expect("project id")
        .to_owned();
    let password = "correct horse battery staple 9";
    common::sign_up(&url, &project, "faults@example.com", password).await;
    let token = common::access_token(&url, &project, "faults@example.com", password).await;
    let jwks = reqwest::get(format!("{url}/api/v1/projects/{project}/jwks.json"))
        .await
        .expect("jwks")
        .json::<Value>()
        .await
        .expect("JSON");
    assert!(!jwks["keys"].as_array().expect("keys").is_empty(), "{jwks}");
    let _ = admin.cancel().await;

    let target = Arc::new(Target {
        url: url.clone(),
        project: project.clone(),
        key: key.clone(),
        token,
    });
    let phase = Arc::new(AtomicU8::new(UP));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let clients = load(target.clone(), phase.clone(), samples.clone(), stop.clone());
    let pause = Duration::from_millis(2500);

    tokio::time::sleep(pause).await;
    phase.store(CHANGING, Ordering::SeqCst);
    cluster.stop_immediately();
    // The connections' ends reach the gateway, and the first units fail.
    tokio::time::sleep(Duration::from_millis(300)).await;
    phase.store(STOPPED, Ordering::SeqCst);
    tokio::time::sleep(pause).await;
    phase.store(CHANGING, Ordering::SeqCst);
    cluster.start();
    until_ready(&url).await;
    phase.store(UP, Ordering::SeqCst);
    tokio::time::sleep(pause).await;

    phase.store(CHANGING, Ordering::SeqCst);
    cluster.freeze();
    // Requests in flight meet their deadline first.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    phase.store(FROZEN, Ordering::SeqCst);
    tokio::time::sleep(pause).await;
    phase.store(CHANGING, Ordering::SeqCst);
    cluster.thaw();
    until_ready(&url).await;
    phase.store(UP, Ordering::SeqCst);
    tokio::time::sleep(pause).await;
    stop.cancel();
    for c in clients {
        c.await.expect("a load client");
    }

    let samples = std::mem::take(&mut *samples.lock().expect("samples"));
    for s in &samples {
        assert!(
            s.status != 0 && s.status != 500,
            "answered, never 500: {s:?}"
        );
        assert!(s.elapsed < Duration::from_secs(2), "within 2 s: {s:?}");
    }
    for p in [UP, STOPPED, FROZEN] {
        check_phase(&samples, p, &jwks);
    }
    let count = |p: u8| samples.iter().filter(|s| s.phase == p).count();
    eprintln!(
        "faults: {} requests ({} up, {} stopped, {} frozen), slowest {:?}",
        samples.len(),
        count(UP),
        count(STOPPED),
        count(FROZEN),
        samples.iter().map(|s| s.elapsed).max()
    );

    // Revocation crosses gateways again: a key used on B, revoked on A,
    // is refused on B long before its cache entry would expire (10 s).
    let admin = common::connect(&format!("{url}/api/mcp"), &key).await;
    let made = ok(
        &admin,
        "create_api_key",
        json!({"name": "faults", "scopes": ["read"]}),
    )
    .await;
    let other = made["key"].as_str().expect("key").to_owned();
    let on_b = Target {
        url: url_b.clone(),
        ..Target {
            url: String::new(),
            project: project.clone(),
            key: other.clone(),
            token: String::new(),
        }
    };
    let http = reqwest::Client::new();
    let whoami = |t: &Target| tool_call(&http, &t.url, &t.key, "whoami", json!({})).send();
    let before = whoami(&on_b).await.expect("B answers");
    assert_eq!(before.status(), 200, "the new key works on B");
    ok(&admin, "revoke_api_key", json!({"key_id": made["id"]})).await;
    let revoked = Instant::now();
    loop {
        let status = whoami(&on_b).await.expect("B answers").status();
        if status == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(3),
            "B refuses the revoked key within 3 s (NOTIFY), got {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = admin.cancel().await;
    drop(cluster);
    let _ = std::fs::remove_dir_all(&work);
}

/// One `report_usage` batch as a stateless tools/call; `None` when no
/// answer came (the gateway was killed under it, or is down).
async fn report(http: &reqwest::Client, url: &str, key: &str, batch: &Value) -> Option<Value> {
    let resp = tool_call(http, url, key, "report_usage", json!({"events": batch}))
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let answer = json_of(&resp.text().await.ok()?);
    let result = &answer["result"];
    if result["isError"] == true {
        return None;
    }
    Some(result["structuredContent"].clone())
}

const BATCHES: usize = 120;
const PER_BATCH: usize = 100;

/// kill -9 of the gateway five times at random moments while a client
/// reports usage in batches, re-sending (same idempotency keys) every batch
/// it got no answer for: every event counts exactly once, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_usage_reports_counts_every_event_once() {
    for db in common::databases().await {
        let work = std::env::temp_dir().join(format!("authgate-kill-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&work).expect("work dir");
        let port = free_port();
        let mut env = crate::cli::server_env(&db, port);
        if db.backend == authgate_store::Backend::Sqlite {
            env.push(("DATABASE_URL", db.url.clone()));
        }
        let (running, lines) = serve(&work, &env, port);
        let mut running = Some(running);
        let key = first_run_key(&lines);
        let url = format!("http://127.0.0.1:{port}");
        let admin = common::connect(&format!("{url}/api/mcp"), &key).await;
        let project = ok(&admin, "whoami", json!({})).await["project"]["id"]
            .as_str()
            .expect("project id")
            .to_owned();
        ok(
            &admin,
            "create_billing_plan",
            json!({"name": "Metered", "features": [{"key": "api_calls", "limit": 1_000_000_000}]}),
        )
        .await;
        let mut users = Vec::new();
        for i in 0..2 {
            let user = common::sign_up(
                &url,
                &project,
                &format!("k{i}@example.com"),
                "correct horse battery staple 9",
            )
            .await;
            users.push(user["id"].as_str().expect("id").to_owned());
        }
        let _ = admin.cancel().await;
        let batches: Vec<Value> = (0..BATCHES)
            .map(|b| {
                Value::Array(
                    (0..PER_BATCH)
                        .map(|i| {
                            let n = b * PER_BATCH + i;
                            json!({"user_id": users[n % 2], "meter": "api_calls",
                                "quantity": 1 + n % 5, "idempotency_key": format!("kill-{n}")})
                        })
                        .collect(),
                )
            })
            .collect();
        let expected: i64 = (0..BATCHES * PER_BATCH).map(|n| 1 + (n % 5) as i64).sum();

        // The killer: five kills at random moments 50-250 ms apart, each
        // followed by a restart on the same port and database.
        let seed = u64::from(std::process::id()) ^ (ulid::Ulid::new().random() as u64);
        let mut rng = seed;
        let mut next = move || {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            50 + (rng >> 33) % 200
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let (mut acked, mut resent, mut kills) = (0usize, 0usize, 0usize);
        let mut kill_at = Instant::now() + Duration::from_millis(next());
        let mut accepted = 0i64;
        for batch in &batches {
            loop {
                if kills < 5 && Instant::now() >= kill_at {
                    if let Some(r) = running.take() {
                        let pid = r.0.id().to_string();
                        assert!(
                            succeeded(Command::new("kill").args(["-9", &pid])),
                            "kill -9"
                        );
                        drop(r);
                    }
                    kills += 1;
                    let (r, _) = serve(&work, &env, port);
                    running = Some(r);
                    kill_at = Instant::now() + Duration::from_millis(next());
                }
                // A kill may land while the batch is in flight.
                let sent = report(&http, &url, &key, batch);
                let answered = if kills < 5 {
                    let until = tokio::time::sleep_until(kill_at.into());
                    tokio::select! {
                        a = sent => a,
                        () = until => None,
                    }
                } else {
                    sent.await
                };
                match answered {
                    Some(out) => {
                        assert_eq!(out["rejected"], json!([]), "{out}");
                        let a = out["accepted"].as_i64().expect("accepted");
                        let d = out["duplicates"].as_i64().expect("duplicates");
                        assert_eq!(a + d, PER_BATCH as i64, "{out}");
                        accepted += a;
                        acked += 1;
                        break;
                    }
                    None => {
                        resent += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        while kills < 5 {
            // The batches went faster than the kills: the rest on idle.
            if let Some(r) = running.take() {
                let pid = r.0.id().to_string();
                assert!(
                    succeeded(Command::new("kill").args(["-9", &pid])),
                    "kill -9"
                );
            }
            kills += 1;
            running = Some(serve(&work, &env, port).0);
        }
        assert_eq!(acked, BATCHES);
        let store = db.store().await;
        let counted = common::query_n(
            &store,
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS n FROM usage_events",
        )
        .await;
        let events = common::query_n(&store, "SELECT COUNT(*) AS n FROM usage_events").await;
        eprintln!(
            "kill -9 [{:?}]: seed {seed}, {kills} kills, {resent} re-sends, {accepted} events accepted in answers",
            db.backend
        );
        let all = (BATCHES * PER_BATCH) as i64;
        assert_eq!(events, all, "every event stored once [{:?}]", db.backend);
        assert_eq!(
            counted, expected,
            "every quantity counted once [{:?}]",
            db.backend
        );
        assert!(
            accepted <= all,
            "no event accepted twice [{:?}]",
            db.backend
        );
        drop(running);
        let _ = std::fs::remove_dir_all(&work);
    }
}
