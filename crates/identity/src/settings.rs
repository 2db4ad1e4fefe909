//! The identity domain's settings, with the documented defaults. The
//! gateway builds one from its configuration and stores it in the server
//! [`Settings`](authgate_core::Settings); tools read it with
//! `ctx.setting::<IdentitySettings>()`, the REST flows get it directly.

use std::sync::{Arc, OnceLock};

use chrono::Duration;

use authgate_sessions::SessionSettings;

use crate::passwords::{HashParams, Passwords};
use crate::throttle::Limit;

#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// AUTHGATE_PUBLIC_URL: the `iss` of access tokens, and the base URL
    /// in SDK instructions.
    pub public_url: String,
    /// Access token lifetime (15 min).
    pub access_ttl: Duration,
    /// Email verification code lifetime (15 min).
    pub code_ttl: Duration,
    /// Password reset token lifetime (1 h).
    pub reset_ttl: Duration,
    /// Magic link lifetime (15 min).
    pub magic_link_ttl: Duration,
    /// Sign-in attempts per account (10 per 15 min); a success clears it.
    pub sign_in_per_account: Limit,
    /// Failed sign-in attempts per client IP (100 per 15 min).
    pub sign_in_per_ip: Limit,
    /// Sign-ups (and magic-link sign-ups) per client IP (20 per hour).
    pub sign_up_per_ip: Limit,
    /// Mails an address may be sent on request: verification codes, reset
    /// and magic links (5 per hour), so no one can mail-bomb a user.
    pub mail_per_account: Limit,
    pub sessions: SessionSettings,
    /// The Argon2id pool.
    pub passwords: Arc<Passwords>,
    /// Social sign-in: the providers' endpoints and the outbound client.
    pub social: crate::social::SocialSettings,
    /// SMS sign-in: the gateway and the caps.
    pub sms: crate::sms::SmsSettings,
}

impl IdentitySettings {
    pub fn new(public_url: &str, passwords: Arc<Passwords>) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            access_ttl: Duration::minutes(15),
            code_ttl: Duration::minutes(15),
            reset_ttl: Duration::hours(1),
            magic_link_ttl: Duration::minutes(15),
            sign_in_per_account: Limit {
                max: 10,
                window: Duration::minutes(15),
            },
            sign_in_per_ip: Limit {
                max: 100,
                window: Duration::minutes(15),
            },
            sign_up_per_ip: Limit {
                max: 20,
                window: Duration::hours(1),
            },
            mail_per_account: Limit {
                max: 5,
                window: Duration::hours(1),
            },
            sessions: SessionSettings::default(),
            passwords,
            social: crate::social::SocialSettings::default(),
            sms: crate::sms::SmsSettings::default(),
        }
    }
}

impl Default for IdentitySettings {
    /// Defaults with a process-wide pool sized to the machine (the gateway
    /// always sets its own; this is for code that runs without one).
    fn default() -> Self {
        static POOL: OnceLock<Arc<Passwords>> = OnceLock::new();
        let pool = POOL.get_or_init(|| {
            Passwords::for_this_machine(HashParams::default())
                .unwrap_or_else(|_| unreachable!("the default Argon2id parameters are valid"))
        });
        Self::new("http://127.0.0.1:8080", pool.clone())
    }
}

/// "15 minutes", "1 hour", for mails.
pub fn human(d: Duration) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let minutes = d.num_minutes();
    if minutes >= 60 && minutes % 60 == 0 {
        plural(minutes / 60, "hour")
    } else if minutes >= 1 {
        plural(minutes, "minute")
    } else {
        plural(d.num_seconds().max(1), "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(human(Duration::minutes(15)), "15 minutes");
        assert_eq!(human(Duration::hours(1)), "1 hour");
        assert_eq!(human(Duration::hours(2)), "2 hours");
        assert_eq!(human(Duration::minutes(90)), "90 minutes");
        assert_eq!(human(Duration::seconds(30)), "30 seconds");
    }
}
