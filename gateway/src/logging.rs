//! Logging: one line per request, never a secret at any level. Third-party
//! crates that log requests or results verbatim are held below the levels
//! where they do (rmcp prints every tool call's arguments and result at
//! debug and trace), whatever `RUST_LOG` says; colour codes only when the
//! log goes to a terminal.

use std::io::IsTerminal as _;

use tracing::Level;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Targets that log message payloads below WARN, with the most they may log.
const QUIET: &[&str] = &["rmcp"];

/// Drops events of [`QUIET`] targets below WARN.
pub fn secret_guard<S>() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool + Clone> {
    tracing_subscriber::filter::filter_fn(|meta: &tracing::Metadata<'_>| {
        let quiet = QUIET
            .iter()
            .any(|t| meta.target() == *t || meta.target().starts_with(&format!("{t}::")));
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

/// Logs to stderr at the levels of `RUST_LOG` (default info).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer(format, ansi, std::io::stderr))
        .try_init();
}
