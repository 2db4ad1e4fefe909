//! The audit log's vocabulary as types: every event type AuthGate writes
//! is a variant of [`EventType`], so a writer or a detection rule that
//! misspells one does not compile. [`EventType::FIXED`] lists them all for
//! the docs and the tests; tool calls are `tool.<name>`.

use std::borrow::Cow;

macro_rules! event_types {
    ($($(#[doc = $doc:literal])+ $variant:ident => $name:literal,)*) => {
        /// What happened. Stored and shown as its name (`sign_in.failed`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            /// A call of the named tool: `tool.<name>`.
            Tool(&'static str),
            $($(#[doc = $doc])+ $variant,)*
        }

        impl EventType {
            /// Every type but the tool calls, in declaration order.
            pub const FIXED: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The stored name of a type other than a tool call.
            const fn fixed_name(self) -> Option<&'static str> {
                match self {
                    EventType::Tool(_) => None,
                    $(EventType::$variant => Some($name),)*
                }
            }

            /// One line on what the type means, for the docs.
            pub const fn meaning(self) -> &'static str {
                match self {
                    EventType::Tool(_) => "a tool call, with its outcome and error code",
                    $(EventType::$variant => concat!($($doc),+),)*
                }
            }
        }
    };
}

event_types! {
    /// A call of a tool that does not exist (the name cut to 64 characters).
    McpUnknownTool => "mcp.unknown_tool",
    /// An MCP session used with a key other than the one that opened it.
    McpSessionRefused => "mcp.session_refused",
    /// A valid key came through a Host header that is not allowed.
    McpHostRefused => "mcp.host_refused",
    /// A key ran out of its (or its project's) request budget.
    ApiKeyRateLimited => "api_key.rate_limited",
    /// A revoked key was presented.
    ApiKeyRevokedKeyUsed => "api_key.revoked_key_used",
    /// An MCP client's OAuth consent made a grant (metadata `client_id`,
    /// `client_name`, `scopes`); the actor is the admin session's key.
    OauthGrantCreated => "oauth.grant_created",
    /// An OAuth grant ended (metadata `reason`: `code_reused`,
    /// `refresh_reused`, `revoked_by_client`, `replaced`).
    OauthGrantRevoked => "oauth.grant_revoked",
    /// An end user signed up (metadata `method`).
    SignUp => "sign_up",
    /// An end user signed in (metadata `method`).
    SignInSucceeded => "sign_in.succeeded",
    /// A sign-in was refused (metadata `reason`).
    SignInFailed => "sign_in.failed",
    /// An end user signed out.
    SignOut => "sign_out",
    /// A refresh token was exchanged for the next pair.
    TokenRefreshed => "token.refreshed",
    /// A spent refresh token was presented again; its session was revoked.
    TokenRefreshReused => "token.refresh_reused",
    /// A session was revoked (by a key or by the system).
    SessionRevoked => "session.revoked",
    /// A session chose its active organization.
    SessionOrgSwitched => "session.org_switched",
    /// An email address was proven (metadata `method`).
    EmailVerified => "email.verified",
    /// A verification code was asked for (metadata `sent`).
    EmailVerificationRequested => "email.verification_requested",
    /// An end user asked to change their email address (the new one
    /// waits for its code; the old one is told).
    EmailChangeRequested => "email.change_requested",
    /// An end user's new email address was verified and is now theirs.
    EmailChanged => "email.changed",
    /// A password reset link was asked for (denied for unknown accounts).
    PasswordResetRequested => "password_reset.requested",
    /// A password was reset through a link.
    PasswordResetCompleted => "password_reset.completed",
    /// An unverified account's address was proven by a link: the password,
    /// sessions and second factors set before were dropped (metadata `method`).
    AccountClaimed => "account.claimed",
    /// A provider's account was linked to an end user (metadata `provider`).
    AccountLinked => "account.linked",
    /// An SMS sign-in code was sent.
    SmsCodeSent => "sms.code_sent",
    /// An SMS was refused by a cap (metadata `cap`: number, client or
    /// daily): SMS pumping, or a real surge.
    SmsLimited => "sms.limited",
    /// A sign-in link was asked for.
    MagicLinkRequested => "magic_link.requested",
    /// A TOTP factor was enrolled, pending its first code.
    MfaEnrollmentStarted => "mfa.enrollment_started",
    /// A TOTP factor was turned on.
    MfaEnrolled => "mfa.enrolled",
    /// A TOTP factor was removed.
    MfaRemoved => "mfa.removed",
    /// A member was given a role (metadata `role`).
    MemberRoleAssigned => "member.role_assigned",
    /// An invitation was accepted.
    InvitationAccepted => "invitation.accepted",
    /// A subscription was created through the REST API.
    SubscriptionCreated => "subscription.created",
    /// A subscription was canceled through the REST API.
    SubscriptionCanceled => "subscription.canceled",
    /// A subscription changed at the payment provider (a webhook).
    SubscriptionSynced => "subscription.synced",
    /// A webhook endpoint was disabled by delivery (its receiver answered
    /// 410 Gone, or it has only failed for 5 days; metadata `reason`).
    WebhookEndpointDisabled => "webhook_endpoint.disabled",
}

impl EventType {
    /// The stored name: `tool.<name>` for a tool call.
    pub fn name(self) -> Cow<'static, str> {
        match (self, self.fixed_name()) {
            (_, Some(name)) => Cow::Borrowed(name),
            (EventType::Tool(tool), None) => Cow::Owned(format!("tool.{tool}")),
            (_, None) => Cow::Borrowed(""),
        }
    }

    /// The type a stored name stands for, other than a tool call.
    pub fn parse_fixed(name: &str) -> Option<EventType> {
        EventType::FIXED
            .iter()
            .copied()
            .find(|t| t.fixed_name() == Some(name))
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActorType {
    /// A project API key (agents, the developer's backend).
    ApiKey,
    /// An end user.
    User,
    /// Someone not (yet) known: a sign-in for an unknown account.
    Anonymous,
    /// AuthGate itself (sweeps, webhooks of a payment provider).
    #[default]
    System,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::ApiKey => "api_key",
            ActorType::User => "user",
            ActorType::Anonymous => "anonymous",
            ActorType::System => "system",
        }
    }
}

/// How a call or an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    #[default]
    Success,
    Error,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Denied => "denied",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_dotted_snake_case_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for t in EventType::FIXED {
            let name = t.name();
            assert!(seen.insert(name.clone()), "{name} declared twice");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.'),
                "{name}"
            );
            assert_eq!(EventType::parse_fixed(&name), Some(*t));
            assert!(!t.meaning().is_empty());
        }
        assert_eq!(EventType::Tool("create_org").name(), "tool.create_org");
        assert_eq!(EventType::parse_fixed("tool.create_org"), None);
        assert_eq!(EventType::parse_fixed("sign_in.faild"), None);
    }
}
