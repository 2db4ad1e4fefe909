//! Time: a clock that tests can drive, and the storage form of instants
//! (microseconds since the Unix epoch, UTC; PostgreSQL keeps no more).

use chrono::{DateTime, TimeZone, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Microseconds since the epoch, the stored form of every instant.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Parses an RFC 3339 argument, naming `field` when it is not one.
pub fn parse_rfc3339(field: &str, value: &str) -> Result<DateTime<Utc>, crate::ToolError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            crate::ToolError::invalid(
                field,
                format!("{field} must be an RFC 3339 time such as 2026-01-31T09:00:00Z"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
            .single()
            .expect("valid date");
        assert_eq!(from_micros(to_micros(t)), t);
    }

    #[test]
    fn rfc3339_errors_name_the_field() {
        let err = parse_rfc3339("since", "yesterday").expect_err("not a time");
        assert_eq!(err.field.as_deref(), Some("since"));
        assert!(parse_rfc3339("since", "2026-01-31T09:00:00+01:00").is_ok());
    }
}
