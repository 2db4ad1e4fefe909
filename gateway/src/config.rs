//! Configuration: environment variables over an optional `authgate.toml`
//! (SPEC section 7). Loading takes the environment as a function so tests
//! can drive it without touching the process environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngCore as _;
use serde::Deserialize;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/authgate.db";
pub const DEFAULT_RATE_LIMIT: &str = "50/s burst 100";
pub const DEFAULT_PROJECT_RATE_LIMIT: &str = "200/s burst 400";
pub const DEFAULT_AUTH_FAILURE_LIMIT: &str = "10/s burst 50";
pub const DEFAULT_MAX_ACTIVE_KEYS: u32 = 100;
pub const DEFAULT_OUTBOX_RETENTION: &str = "7d";
/// Request bodies over this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    /// Parses `50/s burst 100` (or `50/s`, burst then equals the rate);
    /// errors name `var`.
    pub fn parse_var(var: &str, s: &str) -> Result<RateLimit, String> {
        let err = || format!("{var} must look like '{DEFAULT_RATE_LIMIT}', got '{s}'");
        let mut words = s.split_whitespace();
        let rate = words.next().ok_or_else(err)?;
        let per_second: u32 = rate
            .strip_suffix("/s")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(err)?;
        let burst = match (words.next(), words.next()) {
            (None, _) => per_second,
            (Some("burst"), Some(n)) => n.parse().ok().filter(|n| *n > 0).ok_or_else(err)?,
            _ => return Err(err()),
        };
        if words.next().is_some() {
            return Err(err());
        }
        Ok(RateLimit { per_second, burst })
    }

    pub fn parse(s: &str) -> Result<RateLimit, String> {
        Self::parse_var("AUTHGATE_RATE_LIMIT", s)
    }
}

/// Parses a duration such as `7d`, `12h`, `30m` or `45s`; errors name `var`.
pub fn parse_duration(var: &str, s: &str) -> Result<std::time::Duration, String> {
    let err = || format!("{var} must be a number and a unit (d, h, m or s) such as 7d, got '{s}'");
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| err())?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => None,
    }
    .filter(|s| *s > 0)
    .ok_or_else(err)?;
    Ok(std::time::Duration::from_secs(secs))
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
    pub max_active_keys: u32,
    pub outbox_retention: std::time::Duration,
    pub smtp_url: Option<String>,
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
}

impl std::fmt::Debug for Config {
    // Secrets stay out of any debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<set>"))
            .field("public_url", &self.public_url)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("stateless", &self.stateless)
            .field("rate_limit", &self.rate_limit)
            .field("project_rate_limit", &self.project_rate_limit)
            .field("auth_failure_limit", &self.auth_failure_limit)
            .field("max_active_keys", &self.max_active_keys)
            .field("outbox_retention", &self.outbox_retention)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("email_from", &self.email_from)
            .field(
                "stripe_secret_key",
                &self.stripe_secret_key.as_ref().map(|_| "<set>"),
            )
            .field(
                "stripe_webhook_secret",
                &self.stripe_webhook_secret.as_ref().map(|_| "<set>"),
            )
            .field("stripe_api_base", &self.stripe_api_base)
            .field("log_format", &self.log_format)
            .field("security", &self.security)
            .finish()
    }
}

/// A URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The file form; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    database_url: Option<String>,
    secret_key: Option<String>,
    public_url: Option<String>,
    allowed_hosts: Option<Vec<String>>,
    stateless: Option<bool>,
    rate_limit: Option<String>,
    project_rate_limit: Option<String>,
    auth_failure_limit: Option<String>,
    max_active_keys: Option<u32>,
    outbox_retention: Option<String>,
    smtp_url: Option<String>,
    email_from: Option<String>,
    stripe_secret_key: Option<String>,
    stripe_webhook_secret: Option<String>,
    stripe_api_base: Option<String>,
    log_format: Option<String>,
    security: Option<authgate_security::SecurityConfig>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("{name} must be true or false, got '{v}'")),
    }
}

impl Config {
    /// Reads `file` (when it exists) and then the environment through `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let fc: FileConfig = match file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            _ => FileConfig::default(),
        };
        let pick = |var: &str, file: Option<String>| env(var).filter(|v| !v.is_empty()).or(file);

        let bind_text = pick("AUTHGATE_BIND", fc.bind).unwrap_or_else(|| DEFAULT_BIND.into());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            format!("AUTHGATE_BIND must be host:port such as {DEFAULT_BIND}, got '{bind_text}'")
        })?;
        let database_url =
            pick("DATABASE_URL", fc.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let public_url = pick("AUTHGATE_PUBLIC_URL", fc.public_url)
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_owned();
        url::Url::parse(&public_url).map_err(|_| {
            format!("AUTHGATE_PUBLIC_URL must be an absolute URL, got '{public_url}'")
        })?;
        let mut allowed_hosts = match env("AUTHGATE_ALLOWED_HOSTS").filter(|v| !v.is_empty()) {
            Some(v) => v
                .split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect(),
            None => fc
                .allowed_hosts
                .unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]),
        };
        // The public URL's own host is always acceptable.
        if let Some(host) = url::Url::parse(&public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            if !allowed_hosts.contains(&host) {
                allowed_hosts.push(host);
            }
        }
        let stateless = match env("AUTHGATE_STATELESS") {
            Some(v) => parse_bool("AUTHGATE_STATELESS", &v)?,
            None => fc.stateless.unwrap_or(false),
        };
        let rate_limit = RateLimit::parse(
            &pick("AUTHGATE_RATE_LIMIT", fc.rate_limit)
                .unwrap_or_else(|| DEFAULT_RATE_LIMIT.into()),
        )?;
        let project_rate_limit = RateLimit::parse_var(
            "AUTHGATE_PROJECT_RATE_LIMIT",
            &pick("AUTHGATE_PROJECT_RATE_LIMIT", fc.project_rate_limit)
                .unwrap_or_else(|| DEFAULT_PROJECT_RATE_LIMIT.into()),
        )?;
        let auth_failure_limit = RateLimit::parse_var(
            "AUTHGATE_AUTH_FAILURE_LIMIT",
            &pick("AUTHGATE_AUTH_FAILURE_LIMIT", fc.auth_failure_limit)
                .unwrap_or_else(|| DEFAULT_AUTH_FAILURE_LIMIT.into()),
        )?;
        let max_active_keys = match env("AUTHGATE_MAX_ACTIVE_KEYS").filter(|v| !v.is_empty()) {
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    format!("AUTHGATE_MAX_ACTIVE_KEYS must be a positive whole number, got '{v}'")
                })?,
            None => fc.max_active_keys.unwrap_or(DEFAULT_MAX_ACTIVE_KEYS),
        };
        let outbox_retention = parse_duration(
            "AUTHGATE_OUTBOX_RETENTION",
            &pick("AUTHGATE_OUTBOX_RETENTION", fc.outbox_retention)
                .unwrap_or_else(|| DEFAULT_OUTBOX_RETENTION.into()),
        )?;
        let log_format = match pick("LOG_FORMAT", fc.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(format!("LOG_FORMAT must be text or json, got '{other}'")),
        };
        let secret_key = pick("AUTHGATE_SECRET_KEY", fc.secret_key);
        if let Some(k) = &secret_key
            && k.len() < 32
        {
            return Err("AUTHGATE_SECRET_KEY must be at least 32 characters".into());
        }
        let email_from = pick("AUTHGATE_EMAIL_FROM", fc.email_from).unwrap_or_else(|| {
            let host = url::Url::parse(&public_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .filter(|h| h.contains('.') && h.parse::<std::net::IpAddr>().is_err())
                .unwrap_or_else(|| "localhost".into());
            format!("no-reply@{host}")
        });
        let security = fc.security.unwrap_or_default();
        security.validate()?;
        Ok(Config {
            email_from,
            bind,
            database_url,
            secret_key,
            public_url,
            allowed_hosts,
            stateless,
            rate_limit,
            project_rate_limit,
            auth_failure_limit,
            max_active_keys,
            outbox_retention,
            smtp_url: pick("SMTP_URL", fc.smtp_url),
            stripe_secret_key: pick("STRIPE_SECRET_KEY", fc.stripe_secret_key),
            stripe_webhook_secret: pick("STRIPE_WEBHOOK_SECRET", fc.stripe_webhook_secret),
            stripe_api_base: pick("STRIPE_API_BASE", fc.stripe_api_base),
            security,
            log_format,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::load(None, env(&[])).expect("defaults load");
        assert_eq!(c.bind.to_string(), DEFAULT_BIND);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.allowed_hosts.contains(&"localhost".to_string()));
        assert!(!c.stateless);
        assert_eq!(
            c.rate_limit,
            RateLimit {
                per_second: 50,
                burst: 100
            }
        );
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.smtp_url.is_none());
        assert_eq!(
            (c.project_rate_limit.per_second, c.project_rate_limit.burst),
            (200, 400)
        );
        assert_eq!(
            (c.auth_failure_limit.per_second, c.auth_failure_limit.burst),
            (10, 50)
        );
        assert_eq!(c.max_active_keys, 100);
        assert_eq!(
            c.outbox_retention,
            std::time::Duration::from_secs(7 * 86_400)
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            parse_duration("X", "7d"),
            Ok(std::time::Duration::from_secs(604_800))
        );
        assert_eq!(
            parse_duration("X", "90s"),
            Ok(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration("X", "2h"),
            Ok(std::time::Duration::from_secs(7_200))
        );
        for bad in ["", "7", "d", "0d", "3w", "-1d"] {
            assert!(parse_duration("X", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_overrides_file() {
        let dir = std::env::temp_dir().join(format!("authgate-cfg-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("authgate.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\nstateless = true\nrate_limit = \"5/s burst 7\"\nallowed_hosts = [\"auth.example.com\"]\n").expect("write");
        let c =
            Config::load(Some(&file), env(&[("AUTHGATE_BIND", "127.0.0.1:9100")])).expect("loads");
        assert_eq!(c.bind.port(), 9100);
        assert!(c.stateless);
        assert_eq!(
            c.rate_limit,
            RateLimit {
                per_second: 5,
                burst: 7
            }
        );
        assert!(c.allowed_hosts.contains(&"auth.example.com".to_string()));
        let c = Config::load(
            Some(&file),
            env(&[
                ("AUTHGATE_STATELESS", "false"),
                ("AUTHGATE_ALLOWED_HOSTS", "a.example, b.example"),
            ]),
        )
        .expect("loads");
        assert!(!c.stateless);
        assert!(
            c.allowed_hosts
                .starts_with(&["a.example".to_string(), "b.example".to_string()])
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn security_thresholds_come_from_the_file() {
        let dir = std::env::temp_dir().join(format!("authgate-sec-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("authgate.toml");
        std::fs::write(
            &file,
            "[security.brute_force]\ncount = 3\nwindow_minutes = 5\n",
        )
        .expect("write");
        let c = Config::load(Some(&file), env(&[])).expect("loads");
        assert_eq!(c.security.brute_force.count, 3);
        assert_eq!(c.security.brute_force.window_minutes, 5);
        let defaults = authgate_security::SecurityConfig::default();
        assert_eq!(c.security.sign_up_burst, defaults.sign_up_burst);
        assert_ne!(c.security.brute_force, defaults.brute_force);
        std::fs::write(
            &file,
            "[security.danger_burst]\ncount = 0\nwindow_minutes = 5\n",
        )
        .expect("write");
        let e = Config::load(Some(&file), env(&[])).expect_err("zero refused");
        assert!(e.contains("security.danger_burst"), "{e}");
        std::fs::write(&file, "[security.brute_forse]\ncount = 3\n").expect("write");
        let e = Config::load(Some(&file), env(&[])).expect_err("unknown rule refused");
        assert!(e.contains("brute_forse"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("AUTHGATE_BIND", "nope"),
            ("AUTHGATE_RATE_LIMIT", "fast"),
            ("AUTHGATE_STATELESS", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("AUTHGATE_SECRET_KEY", "short"),
            ("AUTHGATE_PROJECT_RATE_LIMIT", "lots"),
            ("AUTHGATE_AUTH_FAILURE_LIMIT", "0/s"),
            ("AUTHGATE_MAX_ACTIVE_KEYS", "-3"),
            ("AUTHGATE_OUTBOX_RETENTION", "a week"),
        ] {
            let err = Config::load(None, env(&[(k, v)])).expect_err(k);
            assert!(err.contains(k), "{err}");
        }
    }

    #[test]
    fn rate_limits_parse() {
        assert_eq!(
            RateLimit::parse("50/s burst 100"),
            Ok(RateLimit {
                per_second: 50,
                burst: 100
            })
        );
        assert_eq!(
            RateLimit::parse("3/s"),
            Ok(RateLimit {
                per_second: 3,
                burst: 3
            })
        );
        assert!(RateLimit::parse("0/s").is_err());
        assert!(RateLimit::parse("5/s burst").is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Config::load(
            None,
            env(&[
                (
                    "AUTHGATE_SECRET_KEY",
                    "0123456789abcdef0123456789abcdef-secret",
                ),
                ("DATABASE_URL", "postgres://u:hunter2@db/authgate"),
            ]),
        )
        .expect("loads");
        let text = format!("{c:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("abcdef-secret"),
            "{text}"
        );
    }
}
