//! SMS sign-in's parts: the codes sent (`codes.rs`) and the gateway that
//! sends them, Twilio's Messages API (`twilio.rs`). The flow is in
//! `flows/sms.rs`; numbers are parsed in `phone.rs`.

pub(crate) mod codes;
pub(crate) mod twilio;

use chrono::Duration;

use crate::throttle::Limit;

/// SMS sign-in's settings.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// Twilio's API root (`AUTHGATE_SMS_TWILIO_BASE_URL`).
    pub twilio_base: String,
    /// Codes a project may send a day (`AUTHGATE_SMS_DAILY_CAP`, 1,000);
    /// past it requests are 429 and a security alert is raised.
    pub daily_cap: i64,
    /// Codes one number may be sent (3 per 10 minutes).
    pub per_number: Limit,
    /// Codes one client address may ask for (10 per hour).
    pub per_client: Limit,
    /// How long a code works (10 minutes).
    pub code_ttl: Duration,
    /// Wrong entries that kill a code (5).
    pub max_tries: i32,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            twilio_base: "https://api.twilio.com".into(),
            daily_cap: 1000,
            per_number: Limit {
                max: 3,
                window: Duration::minutes(10),
            },
            per_client: Limit {
                max: 10,
                window: Duration::hours(1),
            },
            code_ttl: Duration::minutes(10),
            max_tries: 5,
        }
    }
}
