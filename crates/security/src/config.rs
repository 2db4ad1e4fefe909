//! How bad an alert is, and the rules' thresholds (`[security]` in
//! `authgate.toml`).

use chrono::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// `count` events within `window_minutes` open an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub count: u32,
    pub window_minutes: u32,
}

impl Threshold {
    /// Rules where every matching event is an alert: the window only
    /// bounds how long a live alert keeps counting as one.
    pub(crate) const EACH: Threshold = Threshold::new(1, 60);

    pub(crate) const fn new(count: u32, window_minutes: u32) -> Self {
        Self {
            count,
            window_minutes,
        }
    }

    pub fn window(self) -> Duration {
        Duration::minutes(i64::from(self.window_minutes))
    }
}

/// The rules' thresholds (`[security]` in `authgate.toml`); the defaults
/// are documented in docs/design.md.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Failed sign-ins on one account.
    pub brute_force: Threshold,
    /// Distinct accounts failing sign-in from one IP.
    pub credential_stuffing: Threshold,
    /// Failed sign-ins on an account before a success from a new IP or
    /// user agent (the window is how recent they must be).
    pub sign_in_after_failures: Threshold,
    /// Danger tool calls (not dry runs) by one API key.
    pub danger_burst: Threshold,
    /// Sessions revoked by one actor.
    pub mass_session_revocation: Threshold,
    /// Tool calls refused with permission_denied for one API key.
    pub permission_probing: Threshold,
    /// Sign-ups from one IP.
    pub sign_up_burst: Threshold,
    /// How soon after an email change a completed password reset alerts.
    pub email_change_then_reset: Threshold,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            brute_force: Threshold::new(10, 15),
            credential_stuffing: Threshold::new(5, 15),
            sign_in_after_failures: Threshold::new(3, 15),
            danger_burst: Threshold::new(5, 5),
            mass_session_revocation: Threshold::new(10, 10),
            permission_probing: Threshold::new(10, 5),
            sign_up_burst: Threshold::new(10, 10),
            email_change_then_reset: Threshold::new(1, 60),
        }
    }
}

impl SecurityConfig {
    /// Every configured threshold, by its setting's name.
    fn all(&self) -> [(&'static str, Threshold); 8] {
        [
            ("brute_force", self.brute_force),
            ("credential_stuffing", self.credential_stuffing),
            ("sign_in_after_failures", self.sign_in_after_failures),
            ("danger_burst", self.danger_burst),
            ("mass_session_revocation", self.mass_session_revocation),
            ("permission_probing", self.permission_probing),
            ("sign_up_burst", self.sign_up_burst),
            ("email_change_then_reset", self.email_change_then_reset),
        ]
    }

    /// The longest window of any rule.
    pub fn longest_window(&self) -> Duration {
        self.all()
            .iter()
            .map(|(_, t)| t.window())
            .max()
            .unwrap_or_else(|| Duration::days(1))
    }

    /// Refuses a zero count or window, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        match self
            .all()
            .into_iter()
            .find(|(_, t)| t.count == 0 || t.window_minutes == 0)
        {
            Some((name, _)) => Err(format!(
                "security.{name}: count and window_minutes must be at least 1"
            )),
            None => Ok(()),
        }
    }
}
