//! `GET /metrics` in Prometheus text format. Series (SPEC 3): requests by
//! endpoint and status, tool calls by tool and outcome with a latency
//! histogram, failed authentications by reason, rate-limited requests by
//! limit, the connection pool, the outbox, webhook deliveries by outcome
//! and their queue depth, the key cache, build info. Every
//! label value comes from a closed set (route templates, registered tool
//! names, fixed words); none is a key, an email or anything a client types.

use std::sync::OnceLock;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use http::{HeaderValue, StatusCode, header};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::AppState;

pub const REQUESTS: &str = "authgate_http_requests_total";
pub const TOOL_CALLS: &str = "authgate_tool_calls_total";
pub const TOOL_DURATION: &str = "authgate_tool_call_duration_seconds";
pub const AUTH_FAILURES: &str = "authgate_auth_failures_total";
pub const RATE_LIMITED: &str = "authgate_rate_limited_total";

/// Latency buckets in seconds, 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often the recorder's upkeep runs: it folds the histogram samples
/// recorded since into their buckets. Without it every sample is kept
/// until a scrape of /metrics drains them, so memory grows with the calls
/// served whenever nobody scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The process's recorder, installed once (every gateway in a process, as
/// in the test suite, shares it), with a thread of its own running its
/// upkeep every [`UPKEEP_EVERY`].
pub fn handle() -> &'static Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(TOOL_DURATION.into()), BUCKETS)
            .map(|b| b.build_recorder());
        match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                match metrics::set_global_recorder(recorder) {
                    Ok(()) => {
                        metrics::gauge!("authgate_build_info", "version" => env!("CARGO_PKG_VERSION"))
                            .set(1.0);
                        start_upkeep(handle.clone());
                        Some(handle)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "another metrics recorder is installed; /metrics is empty");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics are off");
                None
            }
        }
    })
}

fn start_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no metrics upkeep thread; memory grows until /metrics is scraped");
    }
}

/// Counts a request by its route template (not its path) and status. The
/// counter's handle is kept per (route, status), so a request costs an
/// atomic add, not a lookup of its labels.
pub fn request(route: Option<String>, status: StatusCode) {
    static HANDLES: OnceLock<DashMap<(Option<String>, u16), Counter>> = OnceLock::new();
    let handles = HANDLES.get_or_init(DashMap::new);
    let key = (route, status.as_u16());
    if let Some(counter) = handles.get(&key) {
        counter.increment(1);
        return;
    }
    let endpoint = key.0.clone().unwrap_or_else(|| "unmatched".to_owned());
    let counter =
        metrics::counter!(REQUESTS, "endpoint" => endpoint, "status" => status.as_str().to_owned());
    counter.increment(1);
    handles.insert(key, counter);
}

/// A tool call's count and latency, through handles kept per tool.
pub fn tool_call(tool: &'static str, outcome: &'static str, seconds: f64) {
    type Handles = DashMap<(&'static str, &'static str), (Counter, Histogram)>;
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    let handles = HANDLES.get_or_init(DashMap::new);
    let key = (tool, outcome);
    let (counter, histogram) = match handles.get(&key) {
        Some(h) => h.clone(),
        None => {
            let made = (
                metrics::counter!(TOOL_CALLS, "tool" => tool, "outcome" => outcome),
                metrics::histogram!(TOOL_DURATION, "tool" => tool),
            );
            handles.insert(key, made.clone());
            made
        }
    };
    counter.increment(1);
    histogram.record(seconds);
}

pub fn auth_failure(reason: &'static str) {
    metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(1);
}

pub fn rate_limited(limit: &'static str) {
    metrics::counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// `GET /metrics`: gauges are read now (pool, outbox, cache), then every
/// series is rendered.
pub async fn render(State(app): State<std::sync::Arc<AppState>>) -> Response {
    let Some(handle) = handle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are off").into_response();
    };
    let pool = app.store.pool_status();
    metrics::gauge!("authgate_db_pool_connections", "state" => "size").set(pool.size as f64);
    metrics::gauge!("authgate_db_pool_connections", "state" => "in_use").set(pool.in_use as f64);
    metrics::gauge!("authgate_db_pool_waiters").set(pool.waiting as f64);
    metrics::gauge!("authgate_key_cache_entries").set(app.key_cache.len() as f64);
    match authgate_email::outbox_counts(&app.store).await {
        Ok(counts) => {
            metrics::gauge!("authgate_outbox_messages", "status" => "pending")
                .set(counts.pending as f64);
            metrics::gauge!("authgate_outbox_messages", "status" => "failed")
                .set(counts.failed as f64);
        }
        Err(e) => tracing::warn!(error = %e, "could not count the outbox for /metrics"),
    }
    match authgate_webhooks::queue_depth(&app.store).await {
        Ok(n) => metrics::gauge!("authgate_webhook_queue_depth").set(n as f64),
        Err(e) => tracing::warn!(error = %e, "could not count queued webhooks for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident memory of this process, in bytes (Linux).
    fn rss() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .expect("rss")
            .parse()
            .expect("pages");
        pages * 4096
    }

    /// The soak: tool-call latencies recorded without a pause for thirteen
    /// seconds and nobody scraping. Keeping every sample costs at least 8
    /// bytes each; with the upkeep the recorder holds about one second of
    /// them, so after a warm-up resident memory stays flat. What the
    /// allocator keeps of a late upkeep (a busy machine) does not grow with
    /// the window, so the window is long enough for kept samples to stand
    /// well clear of it.
    #[test]
    fn memory_stays_flat_under_steady_load_without_a_scrape() {
        assert!(handle().is_some(), "the recorder is installed");
        let record_for = |d: std::time::Duration| {
            let start = std::time::Instant::now();
            let mut n = 0u64;
            while start.elapsed() < d {
                for _ in 0..1000 {
                    tool_call("whoami", "success", 0.000_25);
                }
                n += 1000;
            }
            n
        };
        // Warm-up: the allocator's pools and a second of samples in flight.
        record_for(std::time::Duration::from_secs(3));
        let before = rss();
        let samples = record_for(std::time::Duration::from_secs(10));
        let grown = rss().saturating_sub(before);
        // Kept samples would add at least samples × 8 bytes; half of that
        // leaves room for two late seconds of samples in flight.
        let bound = (samples * 4).max(8 << 20);
        assert!(
            grown < bound,
            "resident memory grew by {grown} bytes over {samples} recorded samples (bound {bound})"
        );
    }
}
