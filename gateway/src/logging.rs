//! Logging: one line per request, never a secret at any level. Third-party
//! crates that log requests, statements or results verbatim are held below
//! the levels where they do, whatever `RUST_LOG` says: rmcp prints every
//! tool call's arguments and result at debug and trace, the PostgreSQL
//! driver every statement's bound parameters (codes, token hashes, Argon2
//! hashes, sealed secrets, as byte arrays) at debug, the HTTP and SMTP
//! clients what they send. Colour codes only when the log goes to a
//! terminal.

use std::io::{IsTerminal as _, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::Level;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Targets that log payloads (arguments, bound parameters, bodies) below
/// WARN: only their warnings and errors are kept.
const QUIET: &[&str] = &[
    "rmcp",
    "tokio_postgres",
    "postgres_protocol",
    "diesel",
    "diesel_async",
    "deadpool",
    "lettre",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
];

/// Drops events of [`QUIET`] targets below WARN.
pub fn secret_guard<S>() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool + Clone> {
    tracing_subscriber::filter::filter_fn(|meta: &tracing::Metadata<'_>| {
        let target = meta.target();
        let quiet = QUIET.iter().any(|t| {
            target
                .strip_prefix(t)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        });
        !quiet || *meta.level() <= Level::WARN
    })
}

/// The formatting layer, guarded, writing to `writer`.
pub fn layer<S, W>(format: LogFormat, ansi: bool, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => fmt.json().with_filter(secret_guard::<S>()).boxed(),
        LogFormat::Text => fmt.with_filter(secret_guard::<S>()).boxed(),
    }
}

/// Logs to stderr at the levels of `RUST_LOG` (default info), through a
/// [`BatchWriter`]. Keep the guard until exit: dropping it writes what is
/// still buffered.
pub fn init(format: LogFormat) -> FlushGuard {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let ansi = std::io::stderr().is_terminal();
    let writer = BatchWriter::stderr();
    let guard = FlushGuard(writer.clone());
    let _ = tracing_subscriber::registry()
        .with(filter)
        // Also a global filter: rmcp's spans and events below WARN are never
        // even built (a span per request otherwise), not just not printed.
        .with(secret_guard::<tracing_subscriber::Registry>())
        .with(layer(format, ansi, writer))
        .try_init();
    guard
}

/// Log lines go into per-thread-shard buffers that a thread of its own
/// writes out every [`FLUSH_EVERY`] in one `write` (or at once when a
/// buffer passes [`FLUSH_AT`] bytes): a request neither waits on a write
/// to stderr nor wakes another thread. A line is one `write` of the
/// formatter, so lines never tear; lines of different threads are ordered
/// within a flush window only (each carries its timestamp).
#[derive(Clone)]
pub struct BatchWriter {
    inner: Arc<Batches>,
}

struct Batches {
    shards: Vec<Mutex<Vec<u8>>>,
    out: Mutex<Box<dyn Write + Send>>,
}

const SHARDS: usize = 16;
/// How long a line may wait in a buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// A buffer this large is written at once.
const FLUSH_AT: usize = 64 * 1024;

impl BatchWriter {
    /// Writes to `out`, flushed by a thread of its own.
    pub fn new(out: impl Write + Send + 'static) -> Self {
        let inner = Arc::new(Batches {
            shards: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
            out: Mutex::new(Box::new(out)),
        });
        let weak = Arc::downgrade(&inner);
        let spawned = std::thread::Builder::new()
            .name("authgate-log".into())
            .spawn(move || {
                while let Some(batches) = weak.upgrade() {
                    batches.flush_all();
                    drop(batches);
                    std::thread::sleep(FLUSH_EVERY);
                }
            });
        if spawned.is_err() {
            // No flusher: every line is written at once.
            eprintln!("authgate: no log thread; logging unbuffered");
        }
        BatchWriter { inner }
    }

    pub fn stderr() -> Self {
        Self::new(std::io::stderr())
    }

    pub fn flush_all(&self) {
        self.inner.flush_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Batches {
    fn shard(&self) -> &Mutex<Vec<u8>> {
        thread_local! {
            static SHARD: usize = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::thread::current().id().hash(&mut h);
                h.finish() as usize % SHARDS
            };
        }
        &self.shards[SHARD.with(|s| *s)]
    }

    fn write_out(&self, bytes: &[u8]) {
        let mut out = lock(&self.out);
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    fn flush_all(&self) {
        let mut pending = Vec::new();
        for shard in &self.shards {
            let mut buf = lock(shard);
            if !buf.is_empty() {
                pending.append(&mut buf);
            }
        }
        if !pending.is_empty() {
            self.write_out(&pending);
        }
    }
}

/// One thread's handle on its shard.
pub struct ShardWriter<'a> {
    batches: &'a Batches,
}

impl Write for ShardWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buf = lock(self.batches.shard());
        buf.extend_from_slice(bytes);
        if buf.len() >= FLUSH_AT {
            let full = std::mem::take(&mut *buf);
            drop(buf);
            self.batches.write_out(&full);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = ShardWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        ShardWriter {
            batches: &self.inner,
        }
    }
}

/// Writes out what is buffered when dropped (at exit).
pub struct FlushGuard(BatchWriter);

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.0.flush_all();
    }
}
