//! Security alerts. Detection rules ([`RuleInfo`], `rules.rs`) read every
//! audit event as it is written, inside the unit of work that writes it
//! (the audit log's observer hook), so an alert commits or rolls back with
//! the events that raised it and nothing is lost on a restart.
//!
//! A rule maps an event of the types it watches to the subject it counts
//! for (an account, an IP, an API key) and may check a condition over
//! stored data. The event then counts on the subject's one live alert,
//! through one upsert that the database serialises per subject: the row
//! stays `pending` (hidden) until the rule's threshold is reached within
//! its window, then is `open`, then `acknowledged` and `resolved` through
//! the tools. One live alert per rule and subject (a partial unique
//! index), with a count, first_seen and last_seen; a resolved alert steps
//! aside and the next event starts anew.

mod alerts;
mod config;
mod counting;
mod detector;
mod rules;
mod tools;

pub use alerts::{Alert, Stats, Status};
pub use config::{SecurityConfig, Severity, Threshold};
pub use counting::Observation;
pub use detector::{Detector, sweep};
pub use rules::{ALL as RULES, RuleInfo};
pub use tools::{SECURITY, register};
