//! Parsers of setting values: rate limits (`50/s burst 100`), durations
//! (`7d`, `12h`, `30m`, `45s`), booleans, counts, and URLs with their
//! password hidden for logs. Each error names the setting.

use crate::config::DEFAULT_RATE_LIMIT;

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
    let err =
        || format!("{var} must be a number and a unit (d, h, m, s or ms) such as 7d, got '{s}'");
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| err())?;
    let millis = match unit {
        "d" => n.checked_mul(86_400_000),
        "h" => n.checked_mul(3_600_000),
        "m" => n.checked_mul(60_000),
        "s" => n.checked_mul(1_000),
        "ms" => Some(n),
        _ => None,
    }
    .filter(|ms| *ms > 0)
    .ok_or_else(err)?;
    Ok(std::time::Duration::from_millis(millis))
}

/// A duration as [`parse_duration`] reads it, or zero (`0s`: off).
pub fn parse_interval(var: &str, s: &str) -> Result<std::time::Duration, String> {
    if s.trim().trim_end_matches(['d', 'h', 'm', 's']) == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    parse_duration(var, s)
}

pub fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("{name} must be true or false, got '{v}'")),
    }
}

/// A whole number of at least 1.
pub fn parse_count(name: &str, v: &str) -> Result<u32, String> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{name} must be a positive whole number, got '{v}'"))
}

/// A comma-separated list of address blocks (`10.0.0.0/8, 192.0.2.7`);
/// empty is none.
pub fn parse_cidrs(name: &str, v: &str) -> Result<Vec<authgate_core::net::Cidr>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| authgate_core::net::Cidr::parse(c).map_err(|e| format!("{name}: {e}")))
        .collect()
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
