//! Loading the configuration.

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
    let c = Config::load(Some(&file), env(&[("AUTHGATE_BIND", "127.0.0.1:9100")])).expect("loads");
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

#[test]
fn security_review_settings_load_and_refuse_nonsense() {
    let c = Config::load(None, env(&[])).expect("defaults load");
    assert!(
        c.trusted_proxies.is_empty(),
        "no proxy is trusted by default"
    );
    assert_eq!(
        c.public_rate_limit,
        RateLimit {
            per_second: 10,
            burst: 60
        }
    );
    assert_eq!(c.refresh_reuse_interval, std::time::Duration::from_secs(10));
    assert_eq!(
        c.token_retention,
        std::time::Duration::from_secs(7 * 86_400)
    );
    let c = Config::load(
        None,
        env(&[
            (
                "AUTHGATE_TRUSTED_PROXIES",
                "10.0.0.0/8, 2001:db8::/32 ,192.0.2.7",
            ),
            ("AUTHGATE_REFRESH_REUSE_INTERVAL", "0s"),
        ]),
    )
    .expect("loads");
    assert_eq!(c.trusted_proxies.len(), 3);
    assert_eq!(c.refresh_reuse_interval, std::time::Duration::ZERO);
    for (var, value) in [
        ("AUTHGATE_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("AUTHGATE_TRUSTED_PROXIES", "everyone"),
        ("AUTHGATE_PUBLIC_RATE_LIMIT", "lots"),
        ("AUTHGATE_REFRESH_REUSE_INTERVAL", "soon"),
    ] {
        let err = Config::load(None, env(&[(var, value)])).expect_err(value);
        assert!(err.contains(var), "{err}");
    }
    // A Stripe key with an empty webhook secret is a mistake, refused at start.
    let err = Config::load(
        None,
        env(&[
            ("STRIPE_SECRET_KEY", "sk_test_x"),
            ("STRIPE_WEBHOOK_SECRET", "  "),
        ]),
    )
    .expect_err("empty webhook secret");
    assert!(err.contains("STRIPE_WEBHOOK_SECRET"), "{err}");
    Config::load(None, env(&[("STRIPE_SECRET_KEY", "sk_test_x")]))
        .expect("webhooks off is allowed");
}

#[test]
fn token_lifetimes_and_the_mailbox_load_from_env_and_file() {
    let c = Config::load(None, env(&[])).expect("defaults load");
    assert_eq!(c.access_token_ttl, std::time::Duration::from_secs(15 * 60));
    assert_eq!(
        c.refresh_token_ttl,
        std::time::Duration::from_secs(30 * 86_400)
    );
    assert_eq!(c.dev_mailbox(), PathBuf::from("./data/mail"));
    let c = Config::load(
        None,
        env(&[("DATABASE_URL", "sqlite:///var/lib/authgate/db.sqlite")]),
    )
    .expect("loads");
    assert_eq!(c.dev_mailbox(), PathBuf::from("/var/lib/authgate/mail"));
    let dir = std::env::temp_dir().join(format!("authgate-cfg-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("authgate.toml");
    std::fs::write(
        &file,
        "access_token_ttl = \"5m\"\nrefresh_token_ttl = \"7d\"\nmail_dir = \"/tmp/box\"\n",
    )
    .expect("write");
    let c = Config::load(Some(&file), env(&[])).expect("loads");
    assert_eq!(c.access_token_ttl, std::time::Duration::from_secs(300));
    assert_eq!(
        c.refresh_token_ttl,
        std::time::Duration::from_secs(7 * 86_400)
    );
    assert_eq!(c.dev_mailbox(), PathBuf::from("/tmp/box"));
    let c = Config::load(Some(&file), env(&[("AUTHGATE_ACCESS_TOKEN_TTL", "3s")])).expect("loads");
    assert_eq!(c.access_token_ttl, std::time::Duration::from_secs(3));
    let _ = std::fs::remove_dir_all(dir);
    for (vars, named) in [
        (
            &[("AUTHGATE_ACCESS_TOKEN_TTL", "2d")][..],
            "AUTHGATE_ACCESS_TOKEN_TTL",
        ),
        (
            &[
                ("AUTHGATE_ACCESS_TOKEN_TTL", "1h"),
                ("AUTHGATE_REFRESH_TOKEN_TTL", "30m"),
            ][..],
            "AUTHGATE_REFRESH_TOKEN_TTL",
        ),
        (
            &[("AUTHGATE_ACCESS_TOKEN_TTL", "0s")][..],
            "AUTHGATE_ACCESS_TOKEN_TTL",
        ),
    ] {
        let err = Config::load(None, env(vars)).expect_err("refused");
        assert!(err.contains(named), "{err}");
    }
}

#[test]
fn outbound_urls_are_https_or_loopback() {
    let c = Config::load(
        None,
        env(&[
            ("AUTHGATE_OAUTH_GOOGLE_ISSUER", "http://127.0.0.1:9000/"),
            ("AUTHGATE_SMS_TWILIO_BASE_URL", "https://sms.example.test"),
        ]),
    )
    .expect("loopback http and https load");
    assert_eq!(c.social.google_issuer, "http://127.0.0.1:9000");
    assert!(c.social.google_overridden);
    assert_eq!(c.sms_twilio_base, "https://sms.example.test");
    assert_eq!(c.sms_daily_cap, 1000);
    for (var, value) in [
        ("AUTHGATE_OAUTH_DISCORD_BASE_URL", "http://10.0.0.1/api"),
        ("AUTHGATE_SMS_TWILIO_BASE_URL", "http://twilio.example.test"),
        ("AUTHGATE_SMS_DAILY_CAP", "0"),
    ] {
        let e = Config::load(None, env(&[(var, value)])).expect_err(var);
        assert!(e.contains(var), "{e}");
    }
}
