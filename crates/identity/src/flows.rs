//! The end-user flows behind the REST API (SPEC 6). A tool call is one
//! unit of work; a flow is one to three, because Argon2id (tens of
//! milliseconds) must never run while a transaction holds a lock. Each
//! flow validates its input before it touches the store, counts attempts
//! before the costly work they guard, and records its auth event in the
//! unit of work that makes the change.
//!
//! A refusal that must keep what its unit of work wrote (a counted
//! attempt, a spent code try, a revoked session) is returned as
//! `Ok(Err(refusal))` from the unit and raised after the commit (`??`);
//! any other error rolls the unit back.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use authgate_audit::NewAuditEvent;
use authgate_core::secrets::keyed_hash;
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{
    Clock, Conn, ErrorCode, RequestMeta, ServerKeys, ToolError, require_id, settle,
};
use authgate_email::EmailKind;
use authgate_sessions::{self as sessions, Refreshed, RevokedBy, Session};
use authgate_store::Store;

use crate::codes::{self, CodeCheck, TokenKind};
use crate::jwt::{self, AccessClaims, Jwks, Reason, TokenSubject};
use crate::mfa;
use crate::passwords;
use crate::settings::{IdentitySettings, human};
use crate::throttle::{self, Attempt, Limit};
use crate::users::{self, EndUser, UserRow};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    pub new_email: String,
    /// The current password, to prove it is the user.
    pub password: String,
}

// ------------------------------------------------------------ answers

#[derive(Debug, Serialize)]
pub struct UserAnswer {
    pub user: EndUser,
}

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
}

#[derive(Serialize)]
pub struct TokenPair {
    pub session_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

#[derive(Debug, Serialize)]
pub struct Me {
    pub user: EndUser,
    pub session: Session,
    /// The user's organization memberships, filled in by the caller from
    /// the organizations domain (identity does not depend on it).
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

// ------------------------------------------------------------ shared steps

/// The project named by the request exists.
pub async fn require_project(conn: &mut Conn<'_>, project_id: &str) -> Result<(), ToolError> {
    require_id(PROJECT_HEADER, "prj", project_id)?;
    authgate_project::keys::get_project(conn, project_id)
        .await
        .map(|_| ())
        .map_err(|e| match e.code {
            ErrorCode::NotFound => ToolError::not_found(format!("project {project_id} not found"))
                .with_field(PROJECT_HEADER)
                .with_hint("send the id of an existing project (prj_...) in X-AuthGate-Project"),
            _ => e,
        })
}

async fn require_provider(
    conn: &mut Conn<'_>,
    project_id: &str,
    provider: &str,
) -> Result<(), ToolError> {
    if authgate_project::providers::provider_enabled(conn, project_id, provider).await? {
        return Ok(());
    }
    Err(ToolError::precondition(format!(
        "the {provider} sign-in method is not enabled for this project"
    ))
    .with_hint(format!(
        "enable it with configure_auth_providers ({provider}: enabled)"
    )))
}

/// Counts an attempt; a refusal is returned inside `Ok` so that it commits.
async fn count(
    conn: &mut Conn<'_>,
    project_id: &str,
    subject: &str,
    limit: Limit,
    message: &str,
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
    let name = user
        .name
        .clone()
        .unwrap_or_else(|| user.email.split('@').next().unwrap_or_default().to_owned());
    json!({"name": name, "email": user.email})
}

/// Where a mailed link leads: `redirect_url` if it is one of the project's
/// callback URLs, else the first callback URL.
pub async fn link_base(
    conn: &mut Conn<'_>,
    project_id: &str,
    redirect_url: Option<&str>,
) -> Result<url::Url, ToolError> {
    let callbacks = authgate_project::callbacks::all_callbacks(conn, project_id).await?;
    let chosen = match redirect_url.map(str::trim) {
        Some(wanted) => callbacks.iter().find(|c| c.url == wanted).ok_or_else(|| {
            ToolError::invalid(
                "redirect_url",
                "redirect_url must be one of the project's callback URLs, exactly as registered",
            )
            .with_hint("list_callbacks shows them; add_callback registers another")
        })?,
        None => callbacks.first().ok_or_else(|| {
            ToolError::precondition("this project has no callback URL for the link to lead to")
                .with_hint("add one with add_callback (e.g. https://app.example.com/auth/callback)")
        })?,
    };
    url::Url::parse(&chosen.url).map_err(ToolError::internal)
}

fn with_token(base: &url::Url, token: &str) -> String {
    let mut link = base.clone();
    link.query_pairs_mut().append_pair("token", token);
    link.to_string()
}

/// Sends a fresh verification code (earlier ones stop working).
pub(crate) async fn send_verification(
    conn: &mut Conn<'_>,
    keys: &ServerKeys,
    settings: &IdentitySettings,
    project_id: &str,
    user: &UserRow,
    now: DateTime<Utc>,
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
        &user.email,
        json!({"user": mail_user(user), "code": code, "expires_in": human(settings.code_ttl)}),
        now,
    )
    .await?;
    Ok((email_id, now + settings.code_ttl))
}

/// Sends a password reset link and records `password_reset.requested`.
pub(crate) async fn send_reset(
    conn: &mut Conn<'_>,
    settings: &IdentitySettings,
    project_id: &str,
    user: &UserRow,
    base: &url::Url,
    event: NewAuditEvent,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), ToolError> {
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
        &user.email,
        json!({
            "user": mail_user(user),
            "link": with_token(base, &token),
            "expires_in": human(settings.reset_ttl),
        }),
        now,
    )
    .await?;
    authgate_audit::record(conn, event.target(&user.id), now).await?;
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
}

impl Auth {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        keys: Arc<ServerKeys>,
        settings: IdentitySettings,
    ) -> Self {
        Self {
            store,
            clock,
            keys,
            settings,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        from_micros(to_micros(self.clock.now()))
    }

    fn account_subject(&self, kind: &str, project_id: &str, email: &str) -> String {
        // Keyed, so the table of counters names no address.
        format!(
            "{kind}:acct:{}",
            keyed_hash(&self.keys.codes, &[kind, project_id, email])
        )
    }

    /// `POST /auth/sign-up`: a new user with a password; mails a
    /// verification code and a welcome.
    pub async fn sign_up(
        &self,
        project_id: &str,
        body: SignUp,
        meta: &RequestMeta,
    ) -> Result<EndUser, ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        passwords::validate("password", &body.password)?;
        let name = users::validate_name(body.name.as_deref())?;
        let now = self.now();
        let s = &self.settings;
        let ip_subject = meta.ip.as_ref().map(|ip| format!("signup:ip:{ip}"));
        settle(
            self.store
                .write(async |conn| {
                    require_project(conn, project_id).await?;
                    require_provider(conn, project_id, "email").await?;
                    if let Some(subject) = &ip_subject {
                        let message = "too many sign-ups from this address; retry later";
                        if let Err(refused) =
                            count(conn, project_id, subject, s.sign_up_per_ip, message, now).await?
                        {
                            return Ok(Err(refused));
                        }
                    }
                    if users::load_by_email(conn, project_id, &email)
                        .await?
                        .is_some()
                    {
                        return Ok(Err(users::email_taken()));
                    }
                    Ok(Ok(()))
                })
                .await,
        )?;
        let hash = s.passwords.hash(&body.password).await?;
        self.store
            .write(async |conn| {
                let user = users::insert(
                    conn,
                    project_id,
                    email.clone(),
                    name.clone(),
                    "{}".into(),
                    now,
                )
                .await?;
                users::set_password_hash(conn, project_id, &user.id, &hash, to_micros(now)).await?;
                send_verification(conn, &self.keys, s, project_id, &user, now).await?;
                authgate_email::enqueue(
                    conn,
                    project_id,
                    EmailKind::Welcome,
                    &user.email,
                    json!({"user": mail_user(&user)}),
                    now,
                )
                .await?;
                let event =
                    NewAuditEvent::auth(project_id, "sign_up", Some(&user.id), meta, "success")
                        .target(&user.id)
                        .meta("method", "password");
                authgate_audit::record(conn, event, now).await?;
                Ok(user.view(true))
            })
            .await
    }

    /// `POST /auth/sign-in`: email and password (and the second factor
    /// when on). An unknown email and a wrong password answer the same,
    /// after the same work: a dummy hash is verified for unknown emails.
    pub async fn sign_in(
        &self,
        project_id: &str,
        body: SignIn,
        meta: &RequestMeta,
    ) -> Result<SignedIn, ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        if body.password.is_empty() {
            return Err(ToolError::invalid("password", "password is required"));
        }
        if body.password.chars().count() > passwords::MAX_LEN {
            return Err(ToolError::invalid(
                "password",
                format!("password must be at most {} characters", passwords::MAX_LEN),
            ));
        }
        if let Some(code) = &body.mfa_code {
            six_digits("mfa_code", code)?;
        }
        let now = self.now();
        let s = &self.settings;
        let account = self.account_subject("signin", project_id, &email);
        let ip_subject = meta.ip.as_ref().map(|ip| format!("signin:ip:{ip}"));
        let message = "too many sign-in attempts; retry later";
        // 1. Count the attempt (atomically, before any verification), and
        //    read the account.
        let found: Option<(UserRow, Option<String>)> = settle(
            self.store
                .write(async |conn| {
                    require_project(conn, project_id).await?;
                    require_provider(conn, project_id, "email").await?;
                    let subjects = [
                        (ip_subject.as_deref(), s.sign_in_per_ip),
                        (Some(account.as_str()), s.sign_in_per_account),
                    ];
                    for (subject, limit) in subjects {
                        let Some(subject) = subject else { continue };
                        if let Err(refused) =
                            count(conn, project_id, subject, limit, message, now).await?
                        {
                            // Still an attempt on the account: the audit
                            // log and the detection rules see whose.
                            let user = users::load_by_email(conn, project_id, &email).await?;
                            let user_id = user.as_ref().map(|u| u.id.as_str());
                            let mut event = NewAuditEvent::auth(
                                project_id,
                                "sign_in.failed",
                                user_id,
                                meta,
                                "denied",
                            )
                            .meta("reason", "throttled")
                            .hint("account", account.clone());
                            if let Some(id) = user_id {
                                event = event.target(id);
                            }
                            authgate_audit::record(conn, event, now).await?;
                            return Ok(Err(refused));
                        }
                    }
                    let Some(user) = users::load_by_email(conn, project_id, &email).await? else {
                        return Ok(Ok(None));
                    };
                    let hash = users::password_hash(conn, project_id, &user.id)
                        .await?
                        .map(|(h, _)| h);
                    Ok(Ok(Some((user, hash))))
                })
                .await,
        )?;
        // 2. Verify, outside any transaction, on the bounded pool.
        let stored = found.as_ref().and_then(|(_, h)| h.as_deref());
        let matched = s.passwords.verify(&body.password, stored).await?;
        // 3. Record the outcome; open the session.
        settle(
            self.store
                .write(async |conn| {
                    let user = match found {
                        Some((user, _)) if matched => user,
                        other => {
                            let user_id = other.as_ref().map(|(u, _)| u.id.as_str());
                            let reason = if user_id.is_some() {
                                "wrong_password"
                            } else {
                                "unknown_account"
                            };
                            let mut event = NewAuditEvent::auth(
                                project_id,
                                "sign_in.failed",
                                user_id,
                                meta,
                                "denied",
                            )
                            .meta("reason", reason)
                            .hint("account", account.clone());
                            if let Some(id) = user_id {
                                event = event.target(id);
                            }
                            authgate_audit::record(conn, event, now).await?;
                            return Ok(Err(wrong_credentials()));
                        }
                    };
                    if let Err(refused) = self
                        .second_factor(conn, project_id, &user, body.mfa_code.as_deref(), meta, now)
                        .await?
                    {
                        return Ok(Err(refused));
                    }
                    throttle::clear(conn, project_id, &account, now).await?;
                    if let Some(subject) = &ip_subject {
                        throttle::release(conn, project_id, subject, s.sign_in_per_ip, now).await?;
                    }
                    self.open_session(conn, project_id, user, meta, "password", now)
                        .await
                        .map(Ok)
                })
                .await,
        )
    }

    /// Asks for and checks the second factor of a user who has one.
    async fn second_factor(
        &self,
        conn: &mut Conn<'_>,
        project_id: &str,
        user: &UserRow,
        code: Option<&str>,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        if !mfa::required(conn, project_id, &user.id).await? {
            return Ok(Ok(()));
        }
        let (reason, refusal) = match code {
            None => (
                "mfa_required",
                unauthenticated("this account has two-step verification: send the 6-digit code of its authenticator app as mfa_code")
                    .with_field("mfa_code"),
            ),
            Some(code) => {
                if mfa::check(conn, &self.keys.encryption, project_id, &user.id, "active", code, now).await?.is_some() {
                    return Ok(Ok(()));
                }
                (
                    "wrong_mfa_code",
                    unauthenticated("the two-step verification code is wrong or was already used; send the current code")
                        .with_field("mfa_code"),
                )
            }
        };
        let event =
            NewAuditEvent::auth(project_id, "sign_in.failed", Some(&user.id), meta, "denied")
                .target(&user.id)
                .meta("reason", reason);
        authgate_audit::record(conn, event, now).await?;
        Ok(Err(refusal))
    }

    /// A new session and its tokens for a user who proved who they are.
    async fn open_session(
        &self,
        conn: &mut Conn<'_>,
        project_id: &str,
        user: UserRow,
        meta: &RequestMeta,
        method: &str,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, ToolError> {
        let s = &self.settings;
        users::touch_sign_in(conn, project_id, &user.id, to_micros(now)).await?;
        let (session, refresh_token) =
            sessions::create(conn, project_id, &user.id, meta, s.sessions, now).await?;
        let access_token = jwt::issue(
            conn,
            &self.keys.encryption,
            project_id,
            &s.public_url,
            TokenSubject {
                user_id: &user.id,
                session_id: &session.id,
                org: None,
            },
            s.access_ttl,
            now,
        )
        .await?;
        let event = NewAuditEvent::auth(
            project_id,
            "sign_in.succeeded",
            Some(&user.id),
            meta,
            "success",
        )
        .target(&user.id)
        .target(&session.id)
        .meta("method", method);
        authgate_audit::record(conn, event, now).await?;
        let has_password = users::has_password(conn, project_id, &user.id).await?;
        let mut view = user.view(has_password);
        view.last_sign_in_at = Some(now);
        Ok(SignedIn {
            user: view,
            session_id: session.id,
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: s.access_ttl.num_seconds(),
        })
    }

    /// `POST /auth/refresh`: the next access and refresh token. A spent
    /// refresh token presented again revokes its session.
    pub async fn refresh(
        &self,
        project_id: &str,
        body: RefreshBody,
        meta: &RequestMeta,
    ) -> Result<TokenPair, ToolError> {
        required("refresh_token", &body.refresh_token)?;
        let now = self.now();
        let s = &self.settings;
        settle(self.store
            .write(async |conn| {
                require_project(conn, project_id).await?;
                match sessions::refresh(conn, project_id, body.refresh_token.trim(), meta, now).await? {
                    Refreshed::Rotated { session, refresh_token } => {
                        let org = session.org_id.as_deref().zip(session.role.as_deref());
                        let access_token = jwt::issue(
                            conn,
                            &self.keys.encryption,
                            project_id,
                            &s.public_url,
                            TokenSubject {
                                user_id: &session.user_id,
                                session_id: &session.id,
                                org,
                            },
                            s.access_ttl,
                            now,
                        )
                        .await?;
                        let event = NewAuditEvent::auth(
                            project_id,
                            "token.refreshed",
                            Some(&session.user_id),
                            meta,
                            "success",
                        )
                        .target(&session.user_id)
                        .target(&session.id);
                        authgate_audit::record(conn, event, now).await?;
                        Ok(Ok(TokenPair {
                            session_id: session.id,
                            access_token,
                            refresh_token,
                            token_type: "Bearer",
                            expires_in: s.access_ttl.num_seconds(),
                        }))
                    }
                    Refreshed::Reused { .. } => Ok(Err(unauthenticated(
                        "this refresh token was already used, so its session has been revoked to protect the account; sign in again",
                    )
                    .with_field("refresh_token"))),
                    Refreshed::Invalid => Ok(Err(unauthenticated(
                        "the refresh token is unknown, expired, or its session has ended; sign in again",
                    )
                    .with_field("refresh_token"))),
                }
            }).await)
    }

    /// Checks an access token and its session: the claims and the session
    /// if both hold. `project_hint` is the project header, when sent.
    pub async fn authenticate(
        &self,
        conn: &mut Conn<'_>,
        project_hint: Option<&str>,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(AccessClaims, Session), ToolError> {
        let project_id = match project_hint {
            Some(p) => p.to_owned(),
            // Only a hint: the check below verifies the signature with a
            // key of this project and that `aud` names it.
            None => jsonwebtoken::dangerous::insecure_decode_claims::<AccessClaims>(token)
                .map(|c| c.aud)
                .unwrap_or_default(),
        };
        let claims =
            match jwt::check(conn, &project_id, &self.settings.public_url, token, now).await? {
                Ok(claims) => claims,
                Err(v) => return Err(token_refusal(v.reason.unwrap_or(Reason::Malformed))),
            };
        match sessions::active(conn, &project_id, &claims.sid, now).await? {
            Some(session) if session.user_id == claims.sub => Ok((claims, session)),
            _ => Err(token_refusal(Reason::SessionRevoked)),
        }
    }

    /// `POST /auth/sign-out`: revokes the token's session.
    pub async fn sign_out(
        &self,
        project_hint: Option<&str>,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let now = self.now();
        self.store
            .write(async |conn| {
                let (claims, session) = self.authenticate(conn, project_hint, token, now).await?;
                sessions::revoke(
                    conn,
                    &claims.aud,
                    &session.id,
                    RevokedBy::SignOut,
                    meta,
                    now,
                )
                .await?;
                Ok(())
            })
            .await
    }

    /// `GET /me`.
    pub async fn me(&self, project_hint: Option<&str>, token: &str) -> Result<Me, ToolError> {
        let now = self.now();
        self.store
            .read(async |conn| {
                let (claims, session) = self.authenticate(conn, project_hint, token, now).await?;
                let user = users::get(conn, &claims.aud, &claims.sub).await?;
                Ok(Me {
                    user,
                    session,
                    memberships: Vec::new(),
                    project_id: claims.aud.clone(),
                })
            })
            .await
    }

    /// `POST /auth/verify-email`.
    pub async fn verify_email(
        &self,
        project_id: &str,
        body: VerifyEmail,
        meta: &RequestMeta,
    ) -> Result<EndUser, ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        let code = six_digits("code", &body.code)?;
        let now = self.now();
        let wrong = || bad_token("code", "code");
        settle(
            self.store
                .write(async |conn| {
                    require_project(conn, project_id).await?;
                    let Some(user) = users::load_by_email(conn, project_id, &email).await? else {
                        return Ok(Err(wrong()));
                    };
                    if user.email_verified {
                        return Ok(Err(ToolError::precondition(
                            "this email address is already verified",
                        )
                        .with_field("email")
                        .with_hint("sign in")));
                    }
                    match codes::check_code(
                        conn,
                        &self.keys.codes,
                        project_id,
                        &user.id,
                        &code,
                        now,
                    )
                    .await?
                    {
                        CodeCheck::Valid => {
                            users::set_verified(conn, project_id, &user.id, true, to_micros(now))
                                .await?;
                            let event = NewAuditEvent::auth(
                                project_id,
                                "email.verified",
                                Some(&user.id),
                                meta,
                                "success",
                            )
                            .target(&user.id)
                            .meta("method", "code");
                            authgate_audit::record(conn, event, now).await?;
                            Ok(Ok(users::get(conn, project_id, &user.id).await?))
                        }
                        CodeCheck::Wrong { tries_left } if tries_left > 0 => {
                            Ok(Err(ToolError::invalid(
                                "code",
                                format!("the code is wrong; {tries_left} tries left"),
                            )))
                        }
                        CodeCheck::Wrong { .. } | CodeCheck::Expired => Ok(Err(wrong().with_hint(
                            "request a new code with POST /api/v1/auth/resend-verification",
                        ))),
                    }
                })
                .await,
        )
    }

    /// `POST /auth/resend-verification`: 202 whether or not the address
    /// has an account (so the answer tells nothing).
    pub async fn resend_verification(
        &self,
        project_id: &str,
        body: EmailOnly,
        meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        let now = self.now();
        let s = &self.settings;
        let subject = self.account_subject("mail", project_id, &email);
        settle(
            self.store
                .write(async |conn| {
                    require_project(conn, project_id).await?;
                    let message = "too many mails were requested for this address; retry later";
                    if let Err(refused) =
                        count(conn, project_id, &subject, s.mail_per_account, message, now).await?
                    {
                        return Ok(Err(refused));
                    }
                    let user = users::load_by_email(conn, project_id, &email).await?;
                    let user_id = user.as_ref().map(|u| u.id.clone());
                    let sent = match user {
                        Some(user) if !user.email_verified => {
                            send_verification(conn, &self.keys, s, project_id, &user, now).await?;
                            true
                        }
                        _ => false,
                    };
                    let mut event = NewAuditEvent::auth(
                        project_id,
                        "email.verification_requested",
                        user_id.as_deref(),
                        meta,
                        "success",
                    )
                    .meta("sent", sent);
                    if let Some(id) = &user_id {
                        event = event.target(id);
                    }
                    authgate_audit::record(conn, event, now).await?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    /// `POST /auth/password-reset/request`: 202 whether or not the address
    /// has an account with a password.
    pub async fn request_password_reset(
        &self,
        project_id: &str,
        body: LinkRequest,
        meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        let now = self.now();
        let s = &self.settings;
        let subject = self.account_subject("mail", project_id, &email);
        settle(
            self.store
                .write(async |conn| {
                    require_project(conn, project_id).await?;
                    require_provider(conn, project_id, "email").await?;
                    let base = link_base(conn, project_id, body.redirect_url.as_deref()).await?;
                    let message = "too many mails were requested for this address; retry later";
                    if let Err(refused) =
                        count(conn, project_id, &subject, s.mail_per_account, message, now).await?
                    {
                        return Ok(Err(refused));
                    }
                    let Some(user) = users::load_by_email(conn, project_id, &email).await? else {
                        let event = NewAuditEvent::auth(
                            project_id,
                            "password_reset.requested",
                            None,
                            meta,
                            "denied",
                        )
                        .meta("reason", "unknown_account");
                        authgate_audit::record(conn, event, now).await?;
                        return Ok(Ok(()));
                    };
                    if !users::has_password(conn, project_id, &user.id).await? {
                        let event = NewAuditEvent::auth(
                            project_id,
                            "password_reset.requested",
                            Some(&user.id),
                            meta,
                            "denied",
                        )
                        .target(&user.id)
                        .meta("reason", "no_password");
                        authgate_audit::record(conn, event, now).await?;
                    } else {
                        let event = NewAuditEvent::auth(
                            project_id,
                            "password_reset.requested",
                            Some(&user.id),
                            meta,
                            "success",
                        );
                        send_reset(conn, s, project_id, &user, &base, event, now).await?;
                    }
                    Ok(Ok(()))
                })
                .await,
        )
    }

    /// `POST /auth/password-reset/confirm`: sets the new password, marks
    /// the address verified (the link proved it), and ends every session
    /// of the user.
    pub async fn confirm_password_reset(
        &self,
        project_id: &str,
        body: ResetConfirm,
        meta: &RequestMeta,
    ) -> Result<EndUser, ToolError> {
        required("token", &body.token)?;
        passwords::validate("new_password", &body.new_password)?;
        let now = self.now();
        let s = &self.settings;
        let kind = TokenKind::PasswordReset;
        // Refuse a bad token before hashing anything.
        self.store
            .read(async |conn| {
                require_project(conn, project_id).await?;
                match codes::token_user(conn, project_id, &body.token, kind, now).await? {
                    Some(_) => Ok(()),
                    None => Err(bad_token("token", "password reset link")),
                }
            })
            .await?;
        let hash = s.passwords.hash(&body.new_password).await?;
        self.store
            .write(async |conn| {
                let Some(user_id) =
                    codes::use_token(conn, project_id, &body.token, kind, now).await?
                else {
                    return Err(bad_token("token", "password reset link"));
                };
                let at = to_micros(now);
                users::set_password_hash(conn, project_id, &user_id, &hash, at).await?;
                users::set_verified(conn, project_id, &user_id, true, at).await?;
                let revoked = sessions::revoke_all_of_user(
                    conn,
                    project_id,
                    &user_id,
                    None,
                    "password_reset",
                    now,
                )
                .await?;
                let user = users::get(conn, project_id, &user_id).await?;
                let account = self.account_subject("signin", project_id, &user.email);
                throttle::clear(conn, project_id, &account, now).await?;
                let event = NewAuditEvent::auth(
                    project_id,
                    "password_reset.completed",
                    Some(&user_id),
                    meta,
                    "success",
                )
                .target(&user_id)
                .meta("sessions_revoked", revoked);
                authgate_audit::record(conn, event, now).await?;
                Ok(user)
            })
            .await
    }

    /// `POST /auth/magic-link/request`: mails a sign-in link; an address
    /// with no account gets one (passwordless sign-up, throttled per IP
    /// like sign-ups). 202 either way.
    pub async fn request_magic_link(
        &self,
        project_id: &str,
        body: LinkRequest,
        meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        let now = self.now();
        let s = &self.settings;
        let subject = self.account_subject("mail", project_id, &email);
        let ip_subject = meta.ip.as_ref().map(|ip| format!("signup:ip:{ip}"));
        settle(
            self.store
                .write(async |conn| {
                    require_project(conn, project_id).await?;
                    require_provider(conn, project_id, "magic_link").await?;
                    let base = link_base(conn, project_id, body.redirect_url.as_deref()).await?;
                    let message = "too many mails were requested for this address; retry later";
                    if let Err(refused) =
                        count(conn, project_id, &subject, s.mail_per_account, message, now).await?
                    {
                        return Ok(Err(refused));
                    }
                    let user = match users::load_by_email(conn, project_id, &email).await? {
                        Some(user) => user,
                        None => {
                            if let Some(ip) = &ip_subject {
                                let message = "too many sign-ups from this address; retry later";
                                if let Err(refused) =
                                    count(conn, project_id, ip, s.sign_up_per_ip, message, now)
                                        .await?
                                {
                                    return Ok(Err(refused));
                                }
                            }
                            let user = users::insert(
                                conn,
                                project_id,
                                email.clone(),
                                None,
                                "{}".into(),
                                now,
                            )
                            .await?;
                            let event = NewAuditEvent::auth(
                                project_id,
                                "sign_up",
                                Some(&user.id),
                                meta,
                                "success",
                            )
                            .target(&user.id)
                            .meta("method", "magic_link");
                            authgate_audit::record(conn, event, now).await?;
                            user
                        }
                    };
                    let (token, _) = codes::new_token(
                        conn,
                        project_id,
                        &user.id,
                        TokenKind::MagicLink,
                        s.magic_link_ttl,
                        now,
                    )
                    .await?;
                    authgate_email::enqueue(
                        conn,
                        project_id,
                        EmailKind::MagicLink,
                        &user.email,
                        json!({
                            "user": mail_user(&user),
                            "link": with_token(&base, &token),
                            "expires_in": human(s.magic_link_ttl),
                        }),
                        now,
                    )
                    .await?;
                    let event = NewAuditEvent::auth(
                        project_id,
                        "magic_link.requested",
                        Some(&user.id),
                        meta,
                        "success",
                    )
                    .target(&user.id);
                    authgate_audit::record(conn, event, now).await?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    /// `POST /auth/magic-link/verify`: spends the link and signs in (the
    /// address is verified by it).
    pub async fn verify_magic_link(
        &self,
        project_id: &str,
        body: MagicVerify,
        meta: &RequestMeta,
    ) -> Result<SignedIn, ToolError> {
        required("token", &body.token)?;
        if let Some(code) = &body.mfa_code {
            six_digits("mfa_code", code)?;
        }
        let now = self.now();
        let s = &self.settings;
        let kind = TokenKind::MagicLink;
        let bad = || bad_token("token", "sign-in link");
        settle(
            self.store
                .write(async |conn| {
                    require_project(conn, project_id).await?;
                    require_provider(conn, project_id, "magic_link").await?;
                    let Some(user_id) =
                        codes::token_user(conn, project_id, &body.token, kind, now).await?
                    else {
                        return Err(bad());
                    };
                    let user = users::load(conn, project_id, &user_id)
                        .await?
                        .ok_or_else(bad)?;
                    if mfa::required(conn, project_id, &user.id).await? {
                        // Codes tried after a link count like sign-in attempts.
                        let account = self.account_subject("signin", project_id, &user.email);
                        let message = "too many sign-in attempts; retry later";
                        if let Err(refused) = count(
                            conn,
                            project_id,
                            &account,
                            s.sign_in_per_account,
                            message,
                            now,
                        )
                        .await?
                        {
                            return Ok(Err(refused));
                        }
                        if let Err(refused) = self
                            .second_factor(
                                conn,
                                project_id,
                                &user,
                                body.mfa_code.as_deref(),
                                meta,
                                now,
                            )
                            .await?
                        {
                            return Ok(Err(refused));
                        }
                        throttle::clear(conn, project_id, &account, now).await?;
                    }
                    if codes::use_token(conn, project_id, &body.token, kind, now)
                        .await?
                        .is_none()
                    {
                        return Err(bad());
                    }
                    let mut user = user;
                    if !user.email_verified {
                        users::set_verified(conn, project_id, &user.id, true, to_micros(now))
                            .await?;
                        user.email_verified = true;
                        let event = NewAuditEvent::auth(
                            project_id,
                            "email.verified",
                            Some(&user.id),
                            meta,
                            "success",
                        )
                        .target(&user.id)
                        .meta("method", "magic_link");
                        authgate_audit::record(conn, event, now).await?;
                    }
                    self.open_session(conn, project_id, user, meta, "magic_link", now)
                        .await
                        .map(Ok)
                })
                .await,
        )
    }

    /// `POST /auth/mfa/totp/enroll`: a pending TOTP factor; its secret is
    /// shown this once.
    pub async fn enroll_totp(
        &self,
        project_hint: Option<&str>,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<mfa::Enrollment, ToolError> {
        let now = self.now();
        self.store
            .write(async |conn| {
                let (claims, _) = self.authenticate(conn, project_hint, token, now).await?;
                let project_id = claims.aud.as_str();
                if mfa::required(conn, project_id, &claims.sub).await? {
                    return Err(ToolError::conflict(
                        "two-step verification is already on for this account",
                    )
                    .with_hint("an account has one authenticator app"));
                }
                let project = authgate_project::keys::get_project(conn, project_id).await?;
                let user = users::get(conn, project_id, &claims.sub).await?;
                let enrollment = mfa::enroll(
                    conn,
                    &self.keys.encryption,
                    project_id,
                    &claims.sub,
                    &project.name,
                    &user.email,
                    now,
                )
                .await?;
                let event = NewAuditEvent::auth(
                    project_id,
                    "mfa.enrollment_started",
                    Some(&claims.sub),
                    meta,
                    "success",
                )
                .target(&claims.sub)
                .target(&enrollment.factor_id)
                .meta("kind", "totp");
                authgate_audit::record(conn, event, now).await?;
                Ok(enrollment)
            })
            .await
    }

    /// Checks a TOTP code against the user's factor of `status`, counting
    /// the attempt first (tries are throttled per user like sign-ins):
    /// the factor's id, or the refusal to answer (`wrong` names the code).
    #[allow(clippy::too_many_arguments)]
    async fn spend_code(
        &self,
        conn: &mut Conn<'_>,
        project_id: &str,
        user_id: &str,
        status: &str,
        code: &str,
        wrong: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<String, ToolError>, ToolError> {
        let subject = format!("mfa:user:{user_id}");
        let message = "too many codes were tried; retry later";
        let limit = self.settings.sign_in_per_account;
        if let Err(refused) = count(conn, project_id, &subject, limit, message, now).await? {
            return Ok(Err(refused));
        }
        let checked = mfa::check(
            conn,
            &self.keys.encryption,
            project_id,
            user_id,
            status,
            code,
            now,
        )
        .await?;
        let Some(factor_id) = checked else {
            return Ok(Err(ToolError::invalid("code", wrong)));
        };
        throttle::clear(conn, project_id, &subject, now).await?;
        Ok(Ok(factor_id))
    }

    /// `POST /auth/mfa/totp/remove`: turns two-step verification off, on
    /// a current code of the authenticator app.
    pub async fn remove_totp(
        &self,
        project_hint: Option<&str>,
        token: &str,
        body: CodeBody,
        meta: &RequestMeta,
    ) -> Result<MfaActive, ToolError> {
        let code = six_digits("code", &body.code)?;
        let now = self.now();
        settle(self.store
            .write(async |conn| {
                let (claims, _) = self.authenticate(conn, project_hint, token, now).await?;
                let project_id = claims.aud.as_str();
                if !mfa::required(conn, project_id, &claims.sub).await? {
                    return Ok(Err(ToolError::precondition(
                        "two-step verification is not on for this account",
                    )
                    .with_hint("POST /api/v1/auth/mfa/totp/enroll turns it on")));
                }
                let wrong = "the code is wrong or was already used; enter the current code of the authenticator app";
                let factor_id = match self.spend_code(conn, project_id, &claims.sub, "active", &code, wrong, now).await? {
                    Ok(id) => id,
                    Err(refused) => return Ok(Err(refused)),
                };
                mfa::remove(conn, project_id, &claims.sub, &factor_id).await?;
                let event = NewAuditEvent::auth(project_id, "mfa.removed", Some(&claims.sub), meta, "success")
                    .target(&claims.sub)
                    .target(&factor_id)
                    .meta("kind", "totp");
                authgate_audit::record(conn, event, now).await?;
                Ok(Ok(MfaActive {
                    factor_id,
                    status: "removed",
                }))
            }).await)
    }

    /// `POST /auth/change-email`: a new address for the signed-in user, on
    /// their current password. The address is unverified until the code
    /// mailed to it is entered (POST /auth/verify-email).
    pub async fn change_email(
        &self,
        project_hint: Option<&str>,
        token: &str,
        body: EmailChange,
        meta: &RequestMeta,
    ) -> Result<EndUser, ToolError> {
        let new_email = users::normalize_email("new_email", &body.new_email)?;
        if body.password.is_empty() {
            return Err(ToolError::invalid("password", "password is required"));
        }
        if body.password.chars().count() > passwords::MAX_LEN {
            return Err(ToolError::invalid(
                "password",
                format!("password must be at most {} characters", passwords::MAX_LEN),
            ));
        }
        let now = self.now();
        let s = &self.settings;
        // 1. Who, and their password hash; the attempt counts against the
        //    account's sign-in budget (a stolen access token cannot guess
        //    the password faster than sign-in can).
        let (project_id, user, hash) = settle(
            self.store
                .write(async |conn| {
                    let (claims, _) = self.authenticate(conn, project_hint, token, now).await?;
                    let project_id = claims.aud.clone();
                    let user = users::require(conn, &project_id, &claims.sub).await?;
                    if new_email == user.email {
                        return Err(ToolError::invalid(
                            "new_email",
                            "new_email is the account's current address",
                        ));
                    }
                    let account = self.account_subject("signin", &project_id, &user.email);
                    let message = "too many sign-in attempts; retry later";
                    if let Err(refused) = count(
                        conn,
                        &project_id,
                        &account,
                        s.sign_in_per_account,
                        message,
                        now,
                    )
                    .await?
                    {
                        return Ok(Err(refused));
                    }
                    let Some((hash, _)) = users::password_hash(conn, &project_id, &user.id).await?
                    else {
                        return Ok(Err(ToolError::precondition(
                            "this account has no password, so its email cannot be changed this way",
                        )
                        .with_hint(
                            "set a password first through POST /api/v1/auth/password-reset/request",
                        )));
                    };
                    Ok(Ok((project_id, user, hash)))
                })
                .await,
        )?;
        // 2. Verify, outside any transaction, on the bounded pool.
        if !s.passwords.verify(&body.password, Some(&hash)).await? {
            return Err(unauthenticated("the password is wrong").with_field("password"));
        }
        // 3. Change it (the session must still be active).
        self.store
            .write(async |conn| {
                self.authenticate(conn, Some(&project_id), token, now)
                    .await?;
                conn.lock_project(&project_id).await?;
                if users::load_by_email(conn, &project_id, &new_email)
                    .await?
                    .is_some()
                {
                    return Err(users::email_taken().with_field("new_email"));
                }
                let mut row =
                    users::set_email(conn, &project_id, &user.id, &new_email, now).await?;
                row.email_verified = false;
                send_verification(conn, &self.keys, s, &project_id, &row, now).await?;
                let event = NewAuditEvent::auth(
                    &project_id,
                    "email.changed",
                    Some(&user.id),
                    meta,
                    "success",
                )
                .target(&user.id);
                authgate_audit::record(conn, event, now).await?;
                let has_password = users::has_password(conn, &project_id, &user.id).await?;
                Ok(row.view(has_password))
            })
            .await
    }

    /// `POST /auth/mfa/totp/verify`: the first correct code turns the
    /// pending factor on.
    pub async fn verify_totp(
        &self,
        project_hint: Option<&str>,
        token: &str,
        body: CodeBody,
        meta: &RequestMeta,
    ) -> Result<MfaActive, ToolError> {
        let code = six_digits("code", &body.code)?;
        let now = self.now();
        settle(self.store
            .write(async |conn| {
                let (claims, _) = self.authenticate(conn, project_hint, token, now).await?;
                let project_id = claims.aud.as_str();
                let wrong = "the code is wrong, or no enrollment is pending; enter the current code of the authenticator app (check the device's clock)";
                let factor_id = match self.spend_code(conn, project_id, &claims.sub, "pending", &code, wrong, now).await? {
                    Ok(id) => id,
                    Err(refused) => return Ok(Err(refused)),
                };
                let event = NewAuditEvent::auth(project_id, "mfa.enrolled", Some(&claims.sub), meta, "success")
                    .target(&claims.sub)
                    .target(&factor_id)
                    .meta("kind", "totp");
                authgate_audit::record(conn, event, now).await?;
                Ok(Ok(MfaActive {
                    factor_id,
                    status: "active",
                }))
            }).await)
    }

    /// `GET /projects/{id}/jwks.json`: the published keys (made on first
    /// request when the project has none yet).
    pub async fn jwks(&self, project_id: &str) -> Result<Jwks, ToolError> {
        let now = self.now();
        let published = self
            .store
            .read(async |conn| {
                require_project(conn, project_id).await?;
                jwt::jwks(conn, project_id, now).await
            })
            .await?;
        if !published.keys.is_empty() {
            return Ok(published);
        }
        self.store
            .write(async |conn| {
                jwt::ensure_published(conn, &self.keys.encryption, project_id, now).await?;
                jwt::jwks(conn, project_id, now).await
            })
            .await
    }
}
