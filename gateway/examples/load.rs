//! Load driver: round trips of a read tool (get_project_status) through the
//! gateway, with real rmcp clients over Streamable HTTP on loopback.
//!
//! cargo run --release -p authgate-gateway --example load -- \
//!     --backend sqlite|postgres --mode stateful|stateless --clients 16 --seconds 10
//!
//! The gateway runs in this process; clients and server share the machine.
//! PostgreSQL uses AUTHGATE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)
//! and a fresh database that is dropped afterwards. Every loop is bounded by
//! --seconds and only loopback is contacted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use authgate_core::{Clock, SystemClock};
use authgate_gateway::{Config, Server};
use authgate_store::testing;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "sqlite")]
    backend: String,
    #[arg(long, default_value = "stateful")]
    mode: String,
    #[arg(long, default_value_t = 1)]
    clients: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value = "get_project_status")]
    tool: String,
    /// `rmcp` (the SDK client) or `raw` (plain JSON-RPC POSTs with reqwest;
    /// stateless mode only), to tell the server's cost from the client's.
    #[arg(long, default_value = "rmcp")]
    client: String,
}

/// One client of the raw kind: a JSON-RPC POST per call, JSON answers.
async fn raw_client(
    url: String, key: String, tool: String, start: Instant, warmup: Duration, measure: Duration,
) -> (Vec<u32>, u64) {
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": {}}
    })
    .to_string();
    let mut tally = Tally::new(start, warmup, measure);
    while let Some(now) = tally.next() {
        let resp = http
            .post(&url)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.clone())
            .send()
            .await;
        let ok = match resp {
            Ok(r) if r.status() == 200 => r
                .text()
                .await
                .is_ok_and(|t| t.contains("structuredContent")),
            _ => false,
        };
        tally.record(now, ok);
    }
    (tally.latencies, tally.errors)
}

/// The round trips of one client: each call's latency in microseconds and
/// the failed calls, of those begun after the warm-up.
struct Tally {
    start: Instant,
    warmup: Duration,
    measure: Duration,
    latencies: Vec<u32>,
    errors: u64,
}

impl Tally {
    fn new(start: Instant, warmup: Duration, measure: Duration) -> Self {
        Tally {
            start,
            warmup,
            measure,
            latencies: Vec::new(),
            errors: 0,
        }
    }

    /// When the next call begins; none once the run is over.
    fn next(&self) -> Option<Instant> {
        let now = Instant::now();
        (now.duration_since(self.start) < self.warmup + self.measure).then_some(now)
    }

    fn record(&mut self, began: Instant, ok: bool) {
        if began.duration_since(self.start) < self.warmup {
            return;
        }
        if ok {
            self.latencies
                .push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        } else {
            self.errors += 1;
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let db = match args.backend.as_str() {
        "sqlite" => testing::sqlite(),
        "postgres" => {
            let url = std::env::var(testing::TEST_DATABASE_URL_VAR)
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            testing::postgres(&url).await
        }
        other => return Err(format!("--backend must be sqlite or postgres, got {other}").into()),
    };
    let stateless = match args.mode.as_str() {
        "stateful" => "false",
        "stateless" => "true",
        other => return Err(format!("--mode must be stateful or stateless, got {other}").into()),
    };
    if args.client == "raw" && stateless != "true" {
        return Err("--client raw needs --mode stateless".into());
    }
    let env = [
        ("AUTHGATE_BIND", "127.0.0.1:0".to_string()),
        ("DATABASE_URL", db.url.clone()),
        (
            "AUTHGATE_SECRET_KEY",
            "load-test-secret-0123456789abcdef0123".to_string(),
        ),
        ("AUTHGATE_RATE_LIMIT", "1000000/s burst 1000000".to_string()),
        (
            "AUTHGATE_PROJECT_RATE_LIMIT",
            "1000000/s burst 1000000".to_string(),
        ),
        ("AUTHGATE_STATELESS", stateless.to_string()),
    ];
    let config = Config::load(None, |k| {
        env.iter().find(|(ek, _)| *ek == k).map(|(_, v)| v.clone())
    })?;
    let store = db.store().await;
    let now = SystemClock.now();
    let (_, key) = store
        .write(async |c| authgate_project::create_project(c, "Load", "live", now).await)
        .await?;
    let server = Server::start(
        config,
        store,
        b"load-test-secret-0123456789abcdef0123",
        Arc::new(SystemClock),
    )
    .await?;
    let url = format!("{}/api/mcp", server.url());

    let warmup = Duration::from_secs(1);
    let measure = Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let url = url.clone();
        let key = key.key.clone();
        let tool = args.tool.clone();
        if args.client == "raw" {
            tasks.push(tokio::spawn(raw_client(
                url, key, tool, start, warmup, measure,
            )));
            continue;
        }
        tasks.push(tokio::spawn(async move {
            let transport = StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url).auth_header(key),
            );
            let client = ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("load", "1"),
            )
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
            .serve(transport)
            .await
            .expect("client connects");
            let mut tally = Tally::new(start, warmup, measure);
            while let Some(now) = tally.next() {
                let result = client
                    .call_tool(
                        CallToolRequestParams::new(tool.clone()).with_arguments(Default::default()),
                    )
                    .await;
                let ok = matches!(&result, Ok(r) if r.is_error != Some(true));
                tally.record(now, ok);
            }
            let _ = client.cancel().await;
            (tally.latencies, tally.errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    server.stop().await;
    all.sort_unstable();
    println!(
        "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |",
        args.tool,
        args.client,
        args.backend,
        args.mode,
        args.clients,
        all.len() as f64 / measure.as_secs_f64(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        errors
    );
    Ok(())
}
