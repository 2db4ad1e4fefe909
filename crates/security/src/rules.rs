//! The detection rules. Each is a unit struct: the event it watches and
//! the subject it counts for ([`Rule::observe`], pure), and optionally a
//! condition over stored data ([`Rule::confirm`]); its threshold comes from
//! [`SecurityConfig`]. [`run_all`] runs every rule on one event.

use std::future::Future;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_audit::NewAuditEvent;
use authgate_core::{ActorType, Conn, ErrorCode, EventType, Outcome, ToolError, with_conn};
use authgate_store::schema::sessions;

use crate::config::{SecurityConfig, Severity, Threshold};
use crate::counting::Observation;

pub trait Rule {
    /// The rule's name in alerts (`brute_force`).
    const KEY: &'static str;
    const SEVERITY: Severity;
    /// What an alert of this rule means, in words.
    const DESCRIPTION: &'static str;
    /// The event types the rule reads; none: tool calls (`tool.<name>`).
    const WATCHES: &'static [EventType];

    fn threshold(config: &SecurityConfig) -> Threshold;

    /// The subject an event of a watched type counts for, if any.
    fn observe(event: &NewAuditEvent) -> Option<Observation>;

    /// A condition over stored data the event must also meet.
    fn confirm(
        _conn: &mut Conn<'_>, _event: &NewAuditEvent, _config: &SecurityConfig, _now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, ToolError>> + Send {
        async { Ok(true) }
    }
}

/// A rule's name, severity and description, for the tools' documentation.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub key: &'static str,
    pub severity: Severity,
    pub description: &'static str,
    /// The event types it reads; none: tool calls.
    pub watches: &'static [EventType],
}

macro_rules! rules {
    ($($rule:ty),* $(,)?) => {
        /// Every rule, in the order they run.
        pub const ALL: &[RuleInfo] = &[$(RuleInfo {
            key: <$rule>::KEY,
            severity: <$rule>::SEVERITY,
            description: <$rule>::DESCRIPTION,
            watches: <$rule>::WATCHES,
        }),*];

        /// Runs every rule on one event, in its unit of work.
        pub(crate) async fn run_all(
            conn: &mut Conn<'_>,
            config: &SecurityConfig,
            event: &NewAuditEvent,
            now: DateTime<Utc>,
        ) -> Result<(), ToolError> {
            $(run::<$rule>(conn, config, event, now).await?;)*
            Ok(())
        }
    };
}

rules!(
    BruteForce,
    CredentialStuffing,
    SignInAfterFailures,
    DangerBurst,
    WildcardRoleAssigned,
    RevokedKeyUsed,
    RefreshTokenReuse,
    MassSessionRevocation,
    MfaFactorRemoved,
    EmailChangeThenReset,
    PermissionProbing,
    SignUpBurst,
    SmsPumping,
    WebhookEndpointDisabled,
);

async fn run<R: Rule>(
    conn: &mut Conn<'_>, config: &SecurityConfig, event: &NewAuditEvent, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let Some(seen) = observed::<R>(event) else {
        return Ok(());
    };
    if !R::confirm(conn, event, config, now).await? {
        return Ok(());
    }
    let threshold = R::threshold(config);
    if let Some(value) = &seen.distinct {
        let at = authgate_core::time::to_micros(now);
        let window_start = authgate_core::time::to_micros(now - threshold.window());
        let new = crate::counting::first_in_window(
            conn,
            &event.project_id,
            R::KEY,
            &seen.subject,
            value,
            window_start,
            at,
        )
        .await?;
        if !new {
            return Ok(());
        }
    }
    crate::counting::raise(
        conn,
        &event.project_id,
        R::KEY,
        R::SEVERITY,
        R::DESCRIPTION,
        &seen.subject,
        threshold,
        now,
    )
    .await
}

/// What `event` counts for under rule `R`: nothing unless the rule
/// watches its type (tool calls when the rule names no type).
fn observed<R: Rule>(event: &NewAuditEvent) -> Option<Observation> {
    let watched = if R::WATCHES.is_empty() {
        matches!(event.event_type, EventType::Tool(_))
    } else {
        R::WATCHES.contains(&event.event_type)
    };
    if watched { R::observe(event) } else { None }
}

// ------------------------------------------------------------ helpers

fn target_with(event: &NewAuditEvent, prefix: &str) -> Option<String> {
    event
        .targets
        .iter()
        .find(|t| t.starts_with(prefix))
        .cloned()
}

fn user_target(event: &NewAuditEvent) -> Option<String> {
    target_with(event, "usr_")
}

fn meta_str<'a>(event: &'a NewAuditEvent, key: &str) -> Option<&'a str> {
    event.metadata.get(key).and_then(serde_json::Value::as_str)
}

fn subject(s: impl Into<String>) -> Option<Observation> {
    Some(Observation {
        subject: s.into(),
        distinct: None,
    })
}

fn key_actor(event: &NewAuditEvent) -> Option<String> {
    (event.actor_type == ActorType::ApiKey)
        .then(|| event.actor_id.clone())
        .flatten()
}

// ------------------------------------------------------------ the rules

/// Repeated failed sign-ins on one account.
pub struct BruteForce;

impl Rule for BruteForce {
    const KEY: &'static str = "brute_force";
    const SEVERITY: Severity = Severity::High;
    const DESCRIPTION: &'static str = "repeated failed sign-ins on one account";

    const WATCHES: &'static [EventType] = &[EventType::SignInFailed];

    fn threshold(c: &SecurityConfig) -> Threshold {
        c.brute_force
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(user_target(e)?)
    }
}

/// Failed sign-ins on many accounts from one IP.
pub struct CredentialStuffing;

impl Rule for CredentialStuffing {
    const KEY: &'static str = "credential_stuffing";
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str = "failed sign-ins on many accounts from one IP";

    const WATCHES: &'static [EventType] = &[EventType::SignInFailed];

    fn threshold(c: &SecurityConfig) -> Threshold {
        c.credential_stuffing
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        let ip = meta_str(e, "ip")?;
        // The account: the user when the email is known, else a keyed hash
        // of the address (a hint, never stored in the log).
        let account = user_target(e).or_else(|| e.hints.get("account").cloned())?;
        Some(Observation {
            subject: ip.to_owned(),
            distinct: Some(account),
        })
    }
}

/// A successful sign-in from a new IP or user agent right after failures.
pub struct SignInAfterFailures;

impl Rule for SignInAfterFailures {
    const KEY: &'static str = "sign_in_after_failures";
    const SEVERITY: Severity = Severity::High;
    const DESCRIPTION: &'static str =
        "a sign-in from a new IP or user agent right after failed attempts on the account";

    const WATCHES: &'static [EventType] = &[EventType::SignInSucceeded];

    fn threshold(_: &SecurityConfig) -> Threshold {
        // Each such sign-in is an alert; the failures' own threshold is
        // checked in `confirm`.
        Threshold::EACH
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(user_target(e)?)
    }

    async fn confirm(
        conn: &mut Conn<'_>, e: &NewAuditEvent, config: &SecurityConfig, now: DateTime<Utc>,
    ) -> Result<bool, ToolError> {
        let (Some(user), Some(session)) = (user_target(e), target_with(e, "ses_")) else {
            return Ok(false);
        };
        let t = config.sign_in_after_failures;
        let failures = authgate_audit::count_targeting(
            conn,
            &e.project_id,
            &user,
            EventType::SignInFailed,
            now - t.window(),
        )
        .await?;
        if failures < i64::from(t.count) {
            return Ok(false);
        }
        // Where the user signed in before (their earlier sessions, most
        // recent first). With no history there is nothing to be new to.
        let before: Vec<(Option<String>, Option<String>)> = with_conn!(conn, c => {
            sessions::table
                .filter(sessions::project_id.eq(&e.project_id))
                .filter(sessions::user_id.eq(&user))
                .filter(sessions::id.ne(&session))
                .order(sessions::created_at.desc())
                .limit(200)
                .select((sessions::ip, sessions::user_agent))
                .load(c)
                .await?
        });
        if before.is_empty() {
            return Ok(false);
        }
        let ip = meta_str(e, "ip");
        let ua = meta_str(e, "user_agent");
        let new_ip = ip.is_some() && before.iter().all(|(i, _)| i.as_deref() != ip);
        let new_ua = ua.is_some() && before.iter().all(|(_, u)| u.as_deref() != ua);
        Ok(new_ip || new_ua)
    }
}

/// A burst of danger tool calls (not dry runs) from one API key.
pub struct DangerBurst;

impl Rule for DangerBurst {
    const KEY: &'static str = "danger_burst";
    const SEVERITY: Severity = Severity::High;
    const DESCRIPTION: &'static str = "a burst of danger tool calls from one API key";

    const WATCHES: &'static [EventType] = &[];

    fn threshold(c: &SecurityConfig) -> Threshold {
        c.danger_burst
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        let danger = e.hints.get("tool_kind").is_some_and(|k| k == "danger");
        if !danger || e.outcome != Outcome::Success || e.hints.contains_key("dry_run") {
            return None;
        }
        subject(key_actor(e)?)
    }
}

/// A role that grants `*` given to a member.
pub struct WildcardRoleAssigned;

impl Rule for WildcardRoleAssigned {
    const KEY: &'static str = "wildcard_role_assigned";
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str = "a role granting every permission (*) assigned to a member";

    const WATCHES: &'static [EventType] = &[EventType::MemberRoleAssigned];

    fn threshold(_: &SecurityConfig) -> Threshold {
        Threshold::EACH
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        let user = user_target(e)?;
        let org = target_with(e, "org_")?;
        subject(format!("{org}/{user}"))
    }

    async fn confirm(
        conn: &mut Conn<'_>, e: &NewAuditEvent, _: &SecurityConfig, _: DateTime<Utc>,
    ) -> Result<bool, ToolError> {
        let Some(role) = meta_str(e, "role") else {
            return Ok(false);
        };
        authgate_rbac::role_grants_everything(conn, &e.project_id, role).await
    }
}

/// A revoked API key presented again.
pub struct RevokedKeyUsed;

impl Rule for RevokedKeyUsed {
    const KEY: &'static str = "revoked_key_used";
    const SEVERITY: Severity = Severity::High;
    const DESCRIPTION: &'static str = "a revoked API key is still in use";

    const WATCHES: &'static [EventType] = &[EventType::ApiKeyRevokedKeyUsed];

    fn threshold(_: &SecurityConfig) -> Threshold {
        Threshold::EACH
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(e.actor_id.clone()?)
    }
}

/// A spent refresh token presented again (a stolen token, or a client
/// bug); the session was revoked.
pub struct RefreshTokenReuse;

impl Rule for RefreshTokenReuse {
    const KEY: &'static str = "refresh_token_reuse";
    const SEVERITY: Severity = Severity::High;
    const DESCRIPTION: &'static str =
        "a spent refresh token was used again; its session is revoked";

    const WATCHES: &'static [EventType] = &[EventType::TokenRefreshReused];

    fn threshold(_: &SecurityConfig) -> Threshold {
        Threshold::EACH
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(target_with(e, "ses_").or_else(|| user_target(e))?)
    }
}

/// Many sessions revoked by one actor (an API key or a user).
pub struct MassSessionRevocation;

impl Rule for MassSessionRevocation {
    const KEY: &'static str = "mass_session_revocation";
    const SEVERITY: Severity = Severity::Medium;
    const DESCRIPTION: &'static str = "many sessions revoked by one actor";

    const WATCHES: &'static [EventType] = &[EventType::SessionRevoked];

    fn threshold(c: &SecurityConfig) -> Threshold {
        c.mass_session_revocation
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(e.actor_id.clone()?)
    }
}

/// An MFA factor removed from an account.
pub struct MfaFactorRemoved;

impl Rule for MfaFactorRemoved {
    const KEY: &'static str = "mfa_factor_removed";
    const SEVERITY: Severity = Severity::Medium;
    const DESCRIPTION: &'static str = "a two-step verification factor was removed from an account";

    const WATCHES: &'static [EventType] = &[EventType::MfaRemoved];

    fn threshold(_: &SecurityConfig) -> Threshold {
        Threshold::EACH
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(user_target(e)?)
    }
}

/// The email changed, then a password reset completed soon after: the
/// pattern of an account takeover.
pub struct EmailChangeThenReset;

impl Rule for EmailChangeThenReset {
    const KEY: &'static str = "email_change_then_reset";
    const SEVERITY: Severity = Severity::High;
    const DESCRIPTION: &'static str =
        "an account's email was changed and its password reset soon after";

    const WATCHES: &'static [EventType] = &[EventType::PasswordResetCompleted];

    fn threshold(c: &SecurityConfig) -> Threshold {
        Threshold::new(1, c.email_change_then_reset.window_minutes)
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(user_target(e)?)
    }

    async fn confirm(
        conn: &mut Conn<'_>, e: &NewAuditEvent, config: &SecurityConfig, now: DateTime<Utc>,
    ) -> Result<bool, ToolError> {
        let Some(user) = user_target(e) else {
            return Ok(false);
        };
        let since = now - config.email_change_then_reset.window();
        let changes = authgate_audit::count_targeting(
            conn,
            &e.project_id,
            &user,
            EventType::EmailChanged,
            since,
        )
        .await?;
        Ok(changes > 0)
    }
}

/// Many tool calls refused for missing scope or allow-list from one key:
/// an agent probing what it may do.
pub struct PermissionProbing;

impl Rule for PermissionProbing {
    const KEY: &'static str = "permission_probing";
    const SEVERITY: Severity = Severity::Medium;
    const DESCRIPTION: &'static str = "many permission_denied results for one API key";

    const WATCHES: &'static [EventType] = &[];

    fn threshold(c: &SecurityConfig) -> Threshold {
        c.permission_probing
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        if e.error_code != Some(ErrorCode::PermissionDenied) {
            return None;
        }
        subject(key_actor(e)?)
    }
}

/// Many sign-ups from one IP.
pub struct SignUpBurst;

impl Rule for SignUpBurst {
    const KEY: &'static str = "sign_up_burst";
    const SEVERITY: Severity = Severity::Medium;
    const DESCRIPTION: &'static str = "a burst of sign-ups from one IP";

    const WATCHES: &'static [EventType] = &[EventType::SignUp];

    fn threshold(c: &SecurityConfig) -> Threshold {
        c.sign_up_burst
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(meta_str(e, "ip")?)
    }
}

/// SMS held back by a cap: a number, an address or the project's day ran
/// out (SMS pumping sends codes to premium numbers at the sender's cost).
pub struct SmsPumping;

impl Rule for SmsPumping {
    const KEY: &'static str = "sms_pumping";
    const SEVERITY: Severity = Severity::High;
    const DESCRIPTION: &'static str =
        "SMS codes were refused by a cap (per number, per address or the daily cap)";

    const WATCHES: &'static [EventType] = &[EventType::SmsLimited];

    fn threshold(_: &SecurityConfig) -> Threshold {
        Threshold::EACH
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(format!(
            "{}:{}",
            meta_str(e, "cap")?,
            meta_str(e, "subject")?
        ))
    }
}

/// A webhook endpoint disabled by delivery: the app stops hearing of
/// changes until someone enables it again.
pub struct WebhookEndpointDisabled;

impl Rule for WebhookEndpointDisabled {
    const KEY: &'static str = "webhook_endpoint_disabled";
    const SEVERITY: Severity = Severity::Medium;
    const DESCRIPTION: &'static str = "a webhook endpoint was disabled because its receiver answered 410 Gone or failed for 5 days";

    const WATCHES: &'static [EventType] = &[EventType::WebhookEndpointDisabled];

    fn threshold(_: &SecurityConfig) -> Threshold {
        Threshold::EACH
    }

    fn observe(e: &NewAuditEvent) -> Option<Observation> {
        subject(target_with(e, "whe_")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: EventType) -> NewAuditEvent {
        NewAuditEvent {
            actor_type: ActorType::ApiKey,
            actor_id: Some("key_a".into()),
            ..NewAuditEvent::new("prj_x", event_type)
        }
    }

    #[test]
    fn dry_runs_and_reads_are_no_danger_burst() {
        let danger = event(EventType::Tool("delete_end_user")).hint("tool_kind", "danger");
        assert_eq!(
            observed::<DangerBurst>(&danger).map(|o| o.subject),
            Some("key_a".into())
        );
        let dry = danger.clone().hint("dry_run", "true");
        assert!(observed::<DangerBurst>(&dry).is_none());
        let read = event(EventType::Tool("list_end_users")).hint("tool_kind", "read");
        assert!(observed::<DangerBurst>(&read).is_none());
        // The same hint on an auth event is not a tool call.
        let not_a_tool = event(EventType::SignOut).hint("tool_kind", "danger");
        assert!(observed::<DangerBurst>(&not_a_tool).is_none());
    }

    #[test]
    fn stuffing_counts_accounts_per_ip_and_needs_an_ip() {
        let mut failed = event(EventType::SignInFailed).hint("account", "signin:acct:abc");
        assert!(observed::<CredentialStuffing>(&failed).is_none(), "no IP");
        failed = failed.meta("ip", "203.0.113.9");
        let o = observed::<CredentialStuffing>(&failed).expect("watched");
        assert_eq!(o.subject, "203.0.113.9");
        assert_eq!(o.distinct.as_deref(), Some("signin:acct:abc"));
        let known = failed.target("usr_01JD8X3V9Q4K7M2N5P6R8S0T1W");
        assert_eq!(
            observed::<CredentialStuffing>(&known).and_then(|o| o.distinct),
            Some("usr_01JD8X3V9Q4K7M2N5P6R8S0T1W".into())
        );
        assert!(observed::<BruteForce>(&known).is_some());
        let mut succeeded = known.clone();
        succeeded.event_type = EventType::SignInSucceeded;
        assert!(observed::<BruteForce>(&succeeded).is_none());
    }

    /// Each rule's watched events, by their stored names: every name comes
    /// from the typed list, so a misspelt one cannot compile; this pins
    /// which rule reads which events.
    #[test]
    fn rules_watch_events_from_the_typed_list() {
        let watched: Vec<(&str, Vec<String>)> = ALL
            .iter()
            .map(|r| {
                (
                    r.key,
                    r.watches.iter().map(|t| t.name().into_owned()).collect(),
                )
            })
            .collect();
        let expected: Vec<(&str, Vec<&str>)> = vec![
            ("brute_force", vec!["sign_in.failed"]),
            ("credential_stuffing", vec!["sign_in.failed"]),
            ("sign_in_after_failures", vec!["sign_in.succeeded"]),
            ("danger_burst", vec![]),
            ("wildcard_role_assigned", vec!["member.role_assigned"]),
            ("revoked_key_used", vec!["api_key.revoked_key_used"]),
            ("refresh_token_reuse", vec!["token.refresh_reused"]),
            ("mass_session_revocation", vec!["session.revoked"]),
            ("mfa_factor_removed", vec!["mfa.removed"]),
            ("email_change_then_reset", vec!["password_reset.completed"]),
            ("permission_probing", vec![]),
            ("sign_up_burst", vec!["sign_up"]),
            ("sms_pumping", vec!["sms.limited"]),
            (
                "webhook_endpoint_disabled",
                vec!["webhook_endpoint.disabled"],
            ),
        ];
        assert_eq!(watched.len(), expected.len());
        for ((key, names), (want_key, want)) in watched.iter().zip(&expected) {
            assert_eq!(key, want_key);
            assert_eq!(names, want, "{key}");
            for name in names {
                assert!(EventType::parse_fixed(name).is_some(), "{name}");
            }
        }
    }

    #[test]
    fn a_disabled_webhook_endpoint_counts_for_the_endpoint() {
        let disabled = event(EventType::WebhookEndpointDisabled)
            .target("whe_01JD8X3V9Q4K7M2N5P6R8S0T1W")
            .meta("reason", "gone");
        assert_eq!(
            observed::<WebhookEndpointDisabled>(&disabled).map(|o| o.subject),
            Some("whe_01JD8X3V9Q4K7M2N5P6R8S0T1W".into())
        );
        let untargeted = event(EventType::WebhookEndpointDisabled);
        assert!(observed::<WebhookEndpointDisabled>(&untargeted).is_none());
    }

    #[test]
    fn rule_keys_are_unique() {
        let mut keys: Vec<&str> = ALL.iter().map(|r| r.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ALL.len());
        assert_eq!(ALL.len(), 14);
    }
}
