//! Configuration: environment variables over an optional `authgate.toml`
//! (the same names in lower case without `AUTHGATE_`). Loading takes the
//! environment as a function so tests can drive it without touching the
//! process environment. `source.rs` finds a setting's text, `parse.rs`
//! reads it.

mod debug;
mod oauth;
mod outbound;
mod parse;
mod source;
mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngCore as _;

pub use parse::{
    RateLimit, parse_bool, parse_cidrs, parse_count, parse_duration, parse_interval, redact_url,
};
use source::Source;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/authgate.db";
pub const DEFAULT_RATE_LIMIT: &str = "50/s burst 100";
pub const DEFAULT_PROJECT_RATE_LIMIT: &str = "200/s burst 400";
pub const DEFAULT_AUTH_FAILURE_LIMIT: &str = "10/s burst 50";
pub const DEFAULT_MAX_ACTIVE_KEYS: u32 = 100;
pub const DEFAULT_OUTBOX_RETENTION: &str = "7d";
pub const DEFAULT_PUBLIC_RATE_LIMIT: &str = "10/s burst 60";
pub const DEFAULT_REFRESH_REUSE_INTERVAL: &str = "10s";
pub const DEFAULT_TOKEN_RETENTION: &str = "7d";
pub const DEFAULT_REQUEST_READ_TIMEOUT: &str = "30s";
pub const DEFAULT_ACCESS_TOKEN_TTL: &str = "15m";
pub const DEFAULT_REFRESH_TOKEN_TTL: &str = "30d";
/// Request bodies over this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    /// None: generated into the data directory on first run.
    pub secret_key: Option<String>,
    pub public_url: String,
    /// Host headers the MCP endpoints accept; `*` accepts any.
    pub allowed_hosts: Vec<String>,
    pub stateless: bool,
    /// Per API key.
    pub rate_limit: RateLimit,
    /// Per project, all its keys together.
    pub project_rate_limit: RateLimit,
    /// Failed authentications per client IP.
    pub auth_failure_limit: RateLimit,
    /// Requests per client address across the unauthenticated REST
    /// endpoints (sign-up, sign-in, refresh, codes and links).
    pub public_rate_limit: RateLimit,
    /// Proxies whose `X-Forwarded-For` is believed (none by default).
    pub trusted_proxies: Vec<authgate_core::net::Cidr>,
    /// How long a spent refresh token presented again still answers with a
    /// pair for its session (two tabs refreshing at once); zero turns it off.
    pub refresh_reuse_interval: std::time::Duration,
    /// Spent and expired refresh tokens and one-time tokens are pruned this
    /// long after they stopped working.
    pub token_retention: std::time::Duration,
    /// End users' access tokens live this long.
    pub access_token_ttl: std::time::Duration,
    /// End users' sessions, and so their refresh tokens, live this long
    /// from sign-in.
    pub refresh_token_ttl: std::time::Duration,
    /// How long a client has to send a request's headers, and then its
    /// body (an idle kept-alive connection is closed after it too).
    pub request_read_timeout: std::time::Duration,
    pub max_active_keys: u32,
    pub outbox_retention: std::time::Duration,
    pub smtp_url: Option<String>,
    /// The development mailbox, used when `smtp_url` is not set (None:
    /// `<data dir>/mail`).
    pub mail_dir: Option<PathBuf>,
    /// The sender of AuthGate's mail.
    pub email_from: String,
    pub stripe_secret_key: Option<String>,
    /// The webhook endpoint's signing secret (`whsec_...`).
    pub stripe_webhook_secret: Option<String>,
    /// Another Stripe API root (a stand-in such as localstripe).
    pub stripe_api_base: Option<String>,
    pub log_format: LogFormat,
    /// The detection rules' thresholds (`[security]` in the file only).
    pub security: authgate_security::SecurityConfig,
    /// Where the social sign-in providers are (`AUTHGATE_OAUTH_*`).
    pub social: authgate_identity::social::SocialEndpoints,
    /// Twilio's API root (`AUTHGATE_SMS_TWILIO_BASE_URL`).
    pub sms_twilio_base: String,
    /// SMS codes a project may send a day (`AUTHGATE_SMS_DAILY_CAP`).
    pub sms_daily_cap: u32,
    /// `AUTHGATE_WEBHOOKS_*`.
    pub webhooks: authgate_webhooks::WebhookSettings,
    /// `AUTHGATE_OAUTH_ACCESS_TTL`, `_CIMD_ALLOW_LOOPBACK`, `_EXTRA_CA_FILE`.
    pub oauth: oauth::OAuthConfig,
    /// An MCP session with no request this long ends
    /// (`AUTHGATE_SESSION_IDLE_TIMEOUT`, 30 min).
    pub session_idle_timeout: std::time::Duration,
    /// The most MCP sessions one key holds; the oldest ends first
    /// (`AUTHGATE_MAX_SESSIONS_PER_KEY`, 100).
    pub max_sessions_per_key: u32,
    /// PostgreSQL: the most a unit of work may take, its wait for a
    /// connection included, before the request answers 503 `unavailable`
    /// (`AUTHGATE_DB_TIMEOUT`, 1500 ms).
    pub db_timeout: std::time::Duration,
}

impl Config {
    /// Reads `file` (when it exists) and then the environment through `env`.
    pub fn load(
        file: Option<&Path>, env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let src = Source::new(file, &env)?;
        let bind: SocketAddr = src.get("AUTHGATE_BIND", DEFAULT_BIND, |var, v| {
            v.parse()
                .map_err(|_| format!("{var} must be host:port such as {DEFAULT_BIND}, got '{v}'"))
        })?;
        let public_url = src.get("AUTHGATE_PUBLIC_URL", &format!("http://{bind}"), public_url)?;
        let config = Config {
            email_from: src.get(
                "AUTHGATE_EMAIL_FROM",
                &default_sender(&public_url),
                |_, v| Ok(v.to_owned()),
            )?,
            allowed_hosts: allowed_hosts(&src, &public_url)?,
            bind,
            database_url: src.get(
                "DATABASE_URL",
                DEFAULT_DATABASE_URL,
                |_, v| Ok(v.to_owned()),
            )?,
            secret_key: src.optional("AUTHGATE_SECRET_KEY", secret_key)?,
            public_url,
            stateless: src.get("AUTHGATE_STATELESS", "false", parse_bool)?,
            rate_limit: src.get(
                "AUTHGATE_RATE_LIMIT",
                DEFAULT_RATE_LIMIT,
                RateLimit::parse_var,
            )?,
            project_rate_limit: src.get(
                "AUTHGATE_PROJECT_RATE_LIMIT",
                DEFAULT_PROJECT_RATE_LIMIT,
                RateLimit::parse_var,
            )?,
            auth_failure_limit: src.get(
                "AUTHGATE_AUTH_FAILURE_LIMIT",
                DEFAULT_AUTH_FAILURE_LIMIT,
                RateLimit::parse_var,
            )?,
            public_rate_limit: src.get(
                "AUTHGATE_PUBLIC_RATE_LIMIT",
                DEFAULT_PUBLIC_RATE_LIMIT,
                RateLimit::parse_var,
            )?,
            trusted_proxies: src.get("AUTHGATE_TRUSTED_PROXIES", "", parse_cidrs)?,
            refresh_reuse_interval: src.get(
                "AUTHGATE_REFRESH_REUSE_INTERVAL",
                DEFAULT_REFRESH_REUSE_INTERVAL,
                parse_interval,
            )?,
            social: outbound::social_endpoints(&src)?,
            sms_twilio_base: src.get(
                "AUTHGATE_SMS_TWILIO_BASE_URL",
                "https://api.twilio.com",
                outbound::parse_outbound_url,
            )?,
            sms_daily_cap: src.get("AUTHGATE_SMS_DAILY_CAP", "1000", parse_count)?,
            webhooks: webhooks::webhook_settings(&src)?,
            oauth: oauth::oauth_config(&src)?,
            session_idle_timeout: src.get(
                "AUTHGATE_SESSION_IDLE_TIMEOUT",
                "30m",
                parse_duration,
            )?,
            max_sessions_per_key: src.get("AUTHGATE_MAX_SESSIONS_PER_KEY", "100", parse_count)?,
            db_timeout: src.get("AUTHGATE_DB_TIMEOUT", "1500ms", parse_duration)?,
            token_retention: src.get(
                "AUTHGATE_TOKEN_RETENTION",
                DEFAULT_TOKEN_RETENTION,
                parse_duration,
            )?,
            access_token_ttl: src.get(
                "AUTHGATE_ACCESS_TOKEN_TTL",
                DEFAULT_ACCESS_TOKEN_TTL,
                parse_duration,
            )?,
            refresh_token_ttl: src.get(
                "AUTHGATE_REFRESH_TOKEN_TTL",
                DEFAULT_REFRESH_TOKEN_TTL,
                parse_duration,
            )?,
            request_read_timeout: src.get(
                "AUTHGATE_REQUEST_READ_TIMEOUT",
                DEFAULT_REQUEST_READ_TIMEOUT,
                parse_duration,
            )?,
            max_active_keys: src.get("AUTHGATE_MAX_ACTIVE_KEYS", "100", parse_count)?,
            outbox_retention: src.get(
                "AUTHGATE_OUTBOX_RETENTION",
                DEFAULT_OUTBOX_RETENTION,
                parse_duration,
            )?,
            smtp_url: src.optional("SMTP_URL", |_, v| Ok(v.to_owned()))?,
            mail_dir: src.optional("AUTHGATE_MAIL_DIR", |_, v| Ok(PathBuf::from(v)))?,
            stripe_secret_key: src.optional("STRIPE_SECRET_KEY", |_, v| Ok(v.to_owned()))?,
            stripe_webhook_secret: src
                .optional("STRIPE_WEBHOOK_SECRET", |_, v| Ok(v.to_owned()))?,
            stripe_api_base: src.optional("STRIPE_API_BASE", |_, v| Ok(v.to_owned()))?,
            log_format: src.get("LOG_FORMAT", "text", log_format)?,
            security: src.section("security")?,
        };
        config.security.validate()?;
        if config.access_token_ttl > std::time::Duration::from_secs(86_400) {
            return Err("AUTHGATE_ACCESS_TOKEN_TTL must be at most 1d: an access token cannot be revoked before it expires".into());
        }
        if config.refresh_token_ttl <= config.access_token_ttl {
            return Err(
                "AUTHGATE_REFRESH_TOKEN_TTL must be longer than AUTHGATE_ACCESS_TOKEN_TTL".into(),
            );
        }
        if config.stripe_secret_key.is_some()
            && config
                .stripe_webhook_secret
                .as_deref()
                .is_some_and(|s| s.trim().is_empty())
        {
            return Err("STRIPE_WEBHOOK_SECRET is empty: set it to the endpoint's whsec_... signing secret, or leave it unset to turn Stripe's webhooks off".into());
        }
        src.finish()?;
        Ok(config)
    }

    /// From the process environment and `AUTHGATE_CONFIG` (default `./authgate.toml`).
    pub fn from_env() -> Result<Config, String> {
        let file = std::env::var_os("AUTHGATE_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("authgate.toml"));
        Config::load(Some(&file), |k| std::env::var(k).ok())
    }

    /// Where generated files (the secret key) live: the SQLite file's
    /// directory, or `./data`.
    pub fn data_dir(&self) -> PathBuf {
        authgate_store::sqlite_path(&self.database_url)
            .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("./data"))
    }

    /// Where mail goes without an SMTP server: the configured folder, or
    /// `<data dir>/mail`.
    pub fn dev_mailbox(&self) -> PathBuf {
        self.mail_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("mail"))
    }

    /// The server secret: the configured key, or one generated on first run
    /// into `<data dir>/secret.key` (mode 0600).
    pub fn resolve_secret(&self) -> Result<Vec<u8>, String> {
        if let Some(k) = &self.secret_key {
            return Ok(k.as_bytes().to_vec());
        }
        let dir = self.data_dir();
        let path = dir.join("secret.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            return Ok(text.trim().as_bytes().to_vec());
        }
        if authgate_store::sqlite_path(&self.database_url).is_none() {
            tracing::warn!(
                "AUTHGATE_SECRET_KEY is not set; generating one in {}. Several gateways on one PostgreSQL must share one AUTHGATE_SECRET_KEY",
                path.display()
            );
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        write_private(&path, &text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(text.into_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

fn public_url(var: &str, v: &str) -> Result<String, String> {
    let url = v.trim_end_matches('/').to_owned();
    url::Url::parse(&url).map_err(|_| format!("{var} must be an absolute URL, got '{url}'"))?;
    Ok(url)
}

fn secret_key(var: &str, v: &str) -> Result<String, String> {
    if v.len() < 32 {
        return Err(format!("{var} must be at least 32 characters"));
    }
    Ok(v.to_owned())
}

fn log_format(var: &str, v: &str) -> Result<LogFormat, String> {
    match v {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("{var} must be text or json, got '{other}'")),
    }
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}

/// `no-reply@` the public host, when it is a domain name.
fn default_sender(public_url: &str) -> String {
    let host = host_of(public_url)
        .filter(|h| h.contains('.') && h.parse::<std::net::IpAddr>().is_err())
        .unwrap_or_else(|| "localhost".into());
    format!("no-reply@{host}")
}

/// The Host headers the MCP endpoints accept; the public URL's own host
/// is always one of them.
fn allowed_hosts(src: &Source<'_>, public_url: &str) -> Result<Vec<String>, String> {
    let mut hosts: Vec<String> = src.get(
        "AUTHGATE_ALLOWED_HOSTS",
        "localhost,127.0.0.1,::1",
        |_, v| {
            Ok(v.split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect())
        },
    )?;
    if let Some(host) = host_of(public_url) {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests;
