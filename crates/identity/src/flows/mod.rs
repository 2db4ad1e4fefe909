//! The end-user flows behind the REST API (SPEC 6), by family: sessions
//! (refresh, sign-out, `me`, token checks), passwords (sign-up, sign-in,
//! reset, email change), email verification, magic links, TOTP, and the
//! actions an agent takes on a user through the tools. A tool call is one
//! unit of work; a flow is one to three, because Argon2id (tens of
//! milliseconds) must never run while a transaction holds a lock. Each
//! flow validates its input before it touches the store, counts attempts
//! before the costly work they guard, and records its auth event in the
//! unit of work that makes the change, where it also publishes the user's
//! change (`user.*`, once per type per unit: `UserChanges`).
//!
//! A refusal that must keep what its unit of work wrote (a counted
//! attempt, a spent code try, a revoked session) is returned as
//! `Ok(Err(refusal))` from the unit and raised after the commit
//! ([`settle`]); any other error rolls the unit back.

mod agent;
mod claim;
mod links;
mod magic_link;
mod mfa;
mod password;
mod session;
mod sms;
mod social;
mod stepup;
mod verification;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use authgate_audit::NewAuditEvent;
use authgate_core::hash::keyed_hash;
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{
    ChangeType, Clock, Conn, ErrorCode, EventType, Outcome, RequestMeta, ServerKeys, ToolError,
};
use authgate_email::EmailKind;
use authgate_sessions::Session;
use authgate_store::Store;

use crate::codes::{self, TokenKind};
use crate::jwt::Reason;
use crate::passwords;
use crate::settings::{IdentitySettings, human};
use crate::throttle::{self, Attempt, Limit};
use crate::users::{self, EndUser, UserRow};

pub use agent::{
    DeletedUser, MailSent, RemovedMfa, delete_end_user, remove_user_mfa,
    resend_verification_by_agent, send_password_reset_by_agent, set_email_verified_by_agent,
};
pub use sms::{SmsRequest, SmsVerify};
pub use social::{Landing, OAuthCallback, OAuthRedirect, OAuthSignedIn, OAuthStart, OAuthToken};

/// The header that names the project of an end-user request.
pub const PROJECT_HEADER: &str = "X-AuthGate-Project";

// ------------------------------------------------------------ bodies
// No Debug: they hold passwords, codes and tokens.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// The current code of the user's authenticator app, when two-step
    /// verification is on.
    pub mfa_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmail {
    pub email: String,
    pub code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailOnly {
    pub email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub email: String,
    /// Where the link leads: one of the project's callback URLs (default:
    /// the first one added).
    pub redirect_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    pub token: String,
    pub new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagicVerify {
    pub token: String,
    pub mfa_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

/// `POST /auth/mfa/totp/enroll`: the current password (none for an
/// account without one, which needs a recent sign-in instead).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TotpEnroll {
    pub password: Option<String>,
}

/// `POST /auth/mfa/totp/remove`: a current code and the password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpRemove {
    pub code: String,
    pub password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    pub new_email: String,
    /// The current password, to prove it is the user.
    pub password: String,
}

// ------------------------------------------------------------ answers

/// A signed-in session's tokens. The refresh token is shown here only.
#[derive(Serialize)]
pub struct SignedIn {
    pub user: EndUser,
    pub session_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Seconds until the session, and so the refresh token, ends.
    pub refresh_expires_in: i64,
}

#[derive(Serialize)]
pub struct TokenPair {
    pub session_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    /// Seconds until the session, and so the refresh token, ends.
    pub refresh_expires_in: i64,
}

#[derive(Debug, Serialize)]
pub struct Me {
    pub user: EndUser,
    pub session: Session,
    /// The user's organization memberships, filled in by the organizations
    /// domain (identity does not depend on it).
    pub memberships: Vec<Value>,
    /// The token's project (not shown).
    #[serde(skip)]
    pub project_id: String,
}

#[derive(Debug, Serialize)]
pub struct MfaActive {
    pub factor_id: String,
    pub status: &'static str,
}

// ------------------------------------------------------------ errors

/// The refusal of a sign-in attempt over the account's budget.
const SIGN_IN_THROTTLED: &str = "too many sign-in attempts; retry later";

fn unauthenticated(message: impl Into<String>) -> ToolError {
    ToolError::new(ErrorCode::Unauthenticated, message)
}

/// The one answer to an unknown email and to a wrong password.
fn wrong_credentials() -> ToolError {
    unauthenticated("email or password is wrong").with_hint(
        "check both, or reset the password with POST /api/v1/auth/password-reset/request",
    )
}

fn bad_token(field: &str, what: &str) -> ToolError {
    ToolError::invalid(
        field,
        format!("this {what} is invalid, expired or already used; request a new one"),
    )
}

/// Why an access token was refused, as a 401 that says what to do.
pub fn token_refusal(reason: Reason) -> ToolError {
    let message = match reason {
        Reason::Malformed => {
            "the access token is not a JWT; send Authorization: Bearer <access_token>"
        }
        Reason::BadSignature => "the access token's signature does not verify",
        Reason::Expired => {
            "the access token has expired; get a new one with POST /api/v1/auth/refresh"
        }
        Reason::NotYetValid => {
            "the access token is not valid yet; check the clock of the machine that sent it"
        }
        Reason::WrongProject => "the access token was issued for another project",
        Reason::UnknownKey => "the access token was signed by a key this project does not publish",
        Reason::SessionRevoked => {
            "the session of this access token has ended (signed out or revoked); sign in again"
        }
    };
    unauthenticated(message).with_field("Authorization")
}

fn six_digits(field: &str, code: &str) -> Result<String, ToolError> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(ToolError::invalid(
            field,
            format!("{field} must be the 6 digits sent to the user"),
        ))
    }
}

fn required(field: &str, value: &str) -> Result<(), ToolError> {
    if value.trim().is_empty() {
        return Err(ToolError::invalid(field, format!("{field} is required")));
    }
    if value.len() > 4096 {
        return Err(ToolError::invalid(
            field,
            format!("{field} is too long to be valid"),
        ));
    }
    Ok(())
}

/// A presented (not a new) password: present and not absurdly long.
fn presented_password(password: &str) -> Result<(), ToolError> {
    if password.is_empty() {
        return Err(ToolError::invalid("password", "password is required"));
    }
    if password.chars().count() > passwords::MAX_LEN {
        return Err(ToolError::invalid(
            "password",
            format!("password must be at most {} characters", passwords::MAX_LEN),
        ));
    }
    Ok(())
}

// ------------------------------------------------------------ shared steps

/// The first step of every flow named by the project header: the project
/// exists and, when the flow is a sign-in method, that method is enabled.
async fn admit(
    conn: &mut Conn<'_>, project_id: &str, method: Option<&str>,
) -> Result<(), ToolError> {
    authgate_project::require_project(conn, project_id, PROJECT_HEADER).await?;
    let Some(method) = method else {
        return Ok(());
    };
    if authgate_project::provider_enabled(conn, project_id, method).await? {
        return Ok(());
    }
    Err(ToolError::precondition(format!(
        "the {method} sign-in method is not enabled for this project"
    ))
    .with_hint(format!(
        "enable it with configure_auth_providers ({method}: enabled)"
    )))
}

/// The auth event of a flow about `user_id` (the actor and a target), a
/// success.
fn user_event(
    project_id: &str, event_type: EventType, user_id: &str, meta: &RequestMeta,
) -> NewAuditEvent {
    NewAuditEvent::auth(
        project_id,
        event_type,
        Some(user_id),
        meta,
        Outcome::Success,
    )
}

/// What one unit of work changed of a user: published once each, with the
/// user as it ends up (`user.updated`, then `user.email_verified`).
#[derive(Debug, Clone, Copy, Default)]
struct UserChanges {
    /// Its profile, address, password, second factors or links.
    updated: bool,
    /// Its address was proven (it was not yet).
    email_verified: bool,
}

impl UserChanges {
    async fn announce(
        self, conn: &mut Conn<'_>, project_id: &str, user_id: &str, now: DateTime<Utc>,
    ) -> Result<(), ToolError> {
        if self.updated {
            let change = ChangeType::UserUpdated;
            users::announce_user(conn, project_id, change, user_id, now).await?;
        }
        if self.email_verified {
            let change = ChangeType::UserEmailVerified;
            users::announce_user(conn, project_id, change, user_id, now).await?;
        }
        Ok(())
    }
}

/// Counts an attempt; a refusal is returned inside `Ok` so that it commits.
async fn count(
    conn: &mut Conn<'_>, project_id: &str, subject: &str, limit: Limit, message: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), ToolError>, ToolError> {
    Ok(
        match throttle::attempt(conn, project_id, subject, limit, now).await? {
            Attempt::Allowed => Ok(()),
            Attempt::Refused { retry_after_secs } => {
                Err(ToolError::rate_limited(message, retry_after_secs))
            }
        },
    )
}

/// The template variables of a user.
fn mail_user(user: &UserRow) -> Value {
    let name = user.name.clone().unwrap_or_else(|| {
        user.account_key()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned()
    });
    json!({"name": name, "email": user.email})
}

fn with_token(base: &url::Url, token: &str) -> String {
    let mut link = base.clone();
    link.query_pairs_mut().append_pair("token", token);
    link.to_string()
}

/// Sends a fresh verification code (earlier ones stop working).
async fn send_verification(
    conn: &mut Conn<'_>, keys: &ServerKeys, settings: &IdentitySettings, project_id: &str,
    user: &UserRow, now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), ToolError> {
    let code = codes::new_code(
        conn,
        &keys.codes,
        project_id,
        &user.id,
        settings.code_ttl,
        now,
    )
    .await?;
    let email_id = authgate_email::enqueue(
        conn,
        project_id,
        EmailKind::VerificationOtp,
        user.address()?,
        json!({"user": mail_user(user), "code": code, "expires_in": human(settings.code_ttl)}),
        now,
    )
    .await?;
    Ok((email_id, now + settings.code_ttl))
}

/// Sends a password reset link and records `event` (a
/// `password_reset.requested`).
async fn send_reset(
    conn: &mut Conn<'_>, settings: &IdentitySettings, user: &UserRow, base: &url::Url,
    event: NewAuditEvent, now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), ToolError> {
    let project_id = user.project_id.as_str();
    let (token, expires) = codes::new_token(
        conn,
        project_id,
        &user.id,
        TokenKind::PasswordReset,
        settings.reset_ttl,
        now,
    )
    .await?;
    let email_id = authgate_email::enqueue(
        conn,
        project_id,
        EmailKind::PasswordReset,
        user.address()?,
        json!({
            "user": mail_user(user),
            "link": with_token(base, &token),
            "expires_in": human(settings.reset_ttl),
        }),
        now,
    )
    .await?;
    event.target(&user.id).record(conn, now).await?;
    Ok((email_id, expires))
}

// ------------------------------------------------------------ the flows

/// The flows, with what they run on. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<ServerKeys>,
    pub settings: IdentitySettings,
    /// The key sets last published, per project: served while the
    /// database is out of reach (see [`Auth::jwks`]).
    published: Arc<std::sync::Mutex<std::collections::HashMap<String, crate::jwt::Jwks>>>,
}

impl Auth {
    pub fn new(
        store: Store, clock: Arc<dyn Clock>, keys: Arc<ServerKeys>, settings: IdentitySettings,
    ) -> Self {
        Self {
            store,
            clock,
            keys,
            settings,
            published: Arc::default(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        from_micros(to_micros(self.clock.now()))
    }

    /// Counts a mail asked for an address (codes and links): a few an
    /// hour, whoever asks.
    async fn count_mail(
        &self, conn: &mut Conn<'_>, project_id: &str, email: &str, now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        let subject = self.account_subject("mail", project_id, email);
        let message = "too many mails were requested for this address; retry later";
        let limit = self.settings.mail_per_account;
        count(conn, project_id, &subject, limit, message, now).await
    }

    /// Counts a sign-up from the client's address (password, magic link,
    /// social and SMS sign-ups share the budget); a refusal commits.
    async fn count_sign_up(
        &self, conn: &mut Conn<'_>, project_id: &str, meta: &RequestMeta, now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        let Some(ip) = &meta.ip else {
            return Ok(Ok(()));
        };
        let subject = format!("signup:ip:{}", authgate_core::net::bucket_of(ip));
        let message = "too many sign-ups from this address; retry later";
        let limit = self.settings.sign_up_per_ip;
        count(conn, project_id, &subject, limit, message, now).await
    }

    fn account_subject(&self, kind: &str, project_id: &str, email: &str) -> String {
        // Keyed, so the table of counters names no address.
        format!(
            "{kind}:acct:{}",
            keyed_hash(&self.keys.codes, &[kind, project_id, email])
        )
    }
}
