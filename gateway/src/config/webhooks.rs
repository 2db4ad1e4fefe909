//! The webhooks settings (`AUTHGATE_WEBHOOKS_*`): whether plain http and
//! loopback targets are allowed (development and tests only), the retry
//! schedule, the limit on one attempt, and how long delivered messages
//! are kept.

use std::time::Duration;

use authgate_webhooks::WebhookSettings;

use super::parse::{parse_bool, parse_duration};
use super::source::Source;

pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// A duration as [`parse_duration`] reads it, or milliseconds (`250ms`).
fn parse_short(var: &str, s: &str) -> Result<Duration, String> {
    match s.trim().strip_suffix("ms").map(str::parse::<u64>) {
        Some(Ok(ms)) if ms > 0 => Ok(Duration::from_millis(ms)),
        Some(_) => Err(format!(
            "{var} must be a positive duration such as 500ms or 5s, got '{s}'"
        )),
        None => parse_duration(var, s),
    }
}

/// Comma-separated waits: `5s,5m,30m,2h,5h,10h,10h` (at most 20).
pub(super) fn parse_schedule(var: &str, s: &str) -> Result<Vec<Duration>, String> {
    let steps = s
        .split(',')
        .map(|step| parse_short(var, step))
        .collect::<Result<Vec<_>, _>>()?;
    if steps.is_empty() || steps.len() > 20 {
        return Err(format!(
            "{var} must list 1 to 20 waits such as {DEFAULT_RETRY_SCHEDULE}"
        ));
    }
    Ok(steps)
}

pub(super) fn webhook_settings(src: &Source<'_>) -> Result<WebhookSettings, String> {
    Ok(WebhookSettings {
        allow_loopback: src.get("AUTHGATE_WEBHOOKS_ALLOW_LOOPBACK", "false", parse_bool)?,
        retry_schedule: src.get(
            "AUTHGATE_WEBHOOKS_RETRY_SCHEDULE",
            DEFAULT_RETRY_SCHEDULE,
            parse_schedule,
        )?,
        timeout: src.get("AUTHGATE_WEBHOOKS_TIMEOUT", "15s", parse_short)?,
        retention: src.get("AUTHGATE_WEBHOOKS_RETENTION", "30d", parse_duration)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_with_their_units() {
        let s = parse_schedule("X", DEFAULT_RETRY_SCHEDULE).expect("default");
        assert_eq!(s, WebhookSettings::default().retry_schedule);
        assert_eq!(
            parse_schedule("X", "200ms, 1s").expect("short"),
            vec![Duration::from_millis(200), Duration::from_secs(1)]
        );
        for bad in ["", "5s,,5m", "0ms", "fast", "5x"] {
            let err = parse_schedule("AUTHGATE_WEBHOOKS_RETRY_SCHEDULE", bad).expect_err(bad);
            assert!(err.contains("AUTHGATE_WEBHOOKS_RETRY_SCHEDULE"), "{err}");
        }
    }
}
