//! What a delivery worker runs with: the webhooks settings
//! (`AUTHGATE_WEBHOOKS_*`) and the worker's own options.

use std::sync::Arc;
use std::time::Duration;

use authgate_core::Clock;

/// The webhooks settings (`AUTHGATE_WEBHOOKS_*`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Plain http and loopback targets (development and tests only).
    pub allow_loopback: bool,
    /// The waits before each retry; after the last, a delivery fails.
    pub retry_schedule: Vec<Duration>,
    /// The limit on one attempt, connection to last byte read.
    pub timeout: Duration,
    /// How long settled messages are kept.
    pub retention: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        let h = |n: u64| Duration::from_secs(n * 3600);
        WebhookSettings {
            allow_loopback: false,
            retry_schedule: vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(1800),
                h(2),
                h(5),
                h(10),
                h(10),
            ],
            timeout: Duration::from_secs(15),
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

impl WebhookSettings {
    /// How long a claim holds a row: a whole pass of attempts and more.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

/// What a worker runs with.
#[derive(Clone)]
pub struct WorkerOptions {
    pub settings: WebhookSettings,
    pub encryption_key: [u8; 32],
    pub clock: Arc<dyn Clock>,
    /// How often it looks for work queued by other gateways or due for a retry.
    pub poll_interval: Duration,
    /// Rows claimed a pass, and attempts in flight at once.
    pub batch: i64,
    pub concurrency: usize,
}

impl WorkerOptions {
    pub fn new(settings: WebhookSettings, encryption_key: [u8; 32], clock: Arc<dyn Clock>) -> Self {
        WorkerOptions {
            settings,
            encryption_key,
            clock,
            poll_interval: Duration::from_millis(500),
            batch: 200,
            concurrency: 128,
        }
    }
}
