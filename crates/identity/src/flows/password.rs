//! Passwords: sign-up, sign-in (with the second factor when on), password
//! reset by link, and changing the email address on the password.

use chrono::{DateTime, Utc};
use serde_json::json;

use authgate_audit::NewAuditEvent;
use authgate_core::net::bucket_of;
use authgate_core::time::to_micros;
use authgate_core::{ChangeType, Conn, EventType, Outcome, RequestMeta, ToolError, settle};
use authgate_email::EmailKind;

use super::links::{LinkKind, LinkRequested};
use super::mfa::Tries;
use super::{
    Auth, EmailChange, EndUser, LinkRequest, ResetConfirm, SIGN_IN_THROTTLED, SignIn, SignUp,
    SignedIn, UserChanges, admit, bad_token, count, mail_user, presented_password, required,
    send_reset, send_verification, user_event, wrong_credentials,
};
use crate::codes::{self, Presented, TokenKind};
use crate::passwords;
use crate::throttle;
use crate::users::{self, UserRow};

/// What step 1 of a sign-in found: the account (if any) and its hash.
type Found = Option<(UserRow, Option<String>)>;

impl Auth {
    /// `POST /auth/sign-up`: a new user with a password; mails a
    /// verification code and a welcome.
    pub async fn sign_up(
        &self, project_id: &str, body: SignUp, meta: &RequestMeta,
    ) -> Result<EndUser, ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        passwords::validate("password", &body.password)?;
        let name = users::validate_name(body.name.as_deref())?;
        let now = self.now();
        let s = &self.settings;
        settle(
            self.store
                .write(async |conn| {
                    admit(conn, project_id, Some("email")).await?;
                    if let Err(refused) = self.count_sign_up(conn, project_id, meta, now).await? {
                        return Ok(Err(refused));
                    }
                    if let Some(existing) = users::load_by_email(conn, project_id, &email).await?
                        && !users::unclaimed(conn, &existing).await?
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
                // A magic-link request may have made the account before
                // its owner signed up; an unclaimed one is taken over.
                let (mut user, change) = match users::load_by_email(conn, project_id, &email)
                    .await?
                {
                    Some(shell) if users::unclaimed(conn, &shell).await? => {
                        (shell, ChangeType::UserUpdated)
                    }
                    Some(_) => return Err(users::email_taken()),
                    None => {
                        let new = users::insert(conn, project_id, email.clone(), name.clone(), now)
                            .await?;
                        (new, ChangeType::UserCreated)
                    }
                };
                if name.is_some() && user.name.is_none() {
                    users::set_name(conn, project_id, &user.id, name.as_deref(), now).await?;
                    user.name = name.clone();
                }
                users::set_password_hash(conn, project_id, &user.id, &hash, to_micros(now)).await?;
                send_verification(conn, &self.keys, s, project_id, &user, now).await?;
                authgate_email::enqueue(
                    conn,
                    project_id,
                    EmailKind::Welcome,
                    user.address()?,
                    json!({"user": mail_user(&user)}),
                    now,
                )
                .await?;
                user_event(project_id, EventType::SignUp, &user.id, meta)
                    .meta("method", "password")
                    .record(conn, now)
                    .await?;
                // Told once its password is set (a taken-over account changed).
                users::announce_user(conn, project_id, change, &user.id, now).await?;
                Ok(user.view(true))
            })
            .await
    }

    /// `POST /auth/sign-in`: email and password (and the second factor
    /// when on). An unknown email and a wrong password answer the same,
    /// after the same work: a dummy hash is verified for unknown emails.
    pub async fn sign_in(
        &self, project_id: &str, body: SignIn, meta: &RequestMeta,
    ) -> Result<SignedIn, ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        presented_password(&body.password)?;
        if let Some(code) = &body.mfa_code {
            super::six_digits("mfa_code", code)?;
        }
        let now = self.now();
        let account = self.account_subject("signin", project_id, &email);
        let attempt = SignInAttempt {
            project_id,
            email: &email,
            account: &account,
            ip_subject: meta
                .ip
                .as_ref()
                .map(|ip| format!("signin:ip:{}", bucket_of(ip))),
            meta,
            now,
        };
        // 1. Count the attempt (atomically, before any verification), and
        //    read the account.
        let found = settle(
            self.store
                .write(async |conn| self.count_sign_in(conn, &attempt).await)
                .await,
        )?;
        // 2. Verify, outside any transaction, on the bounded pool.
        let stored = found.as_ref().and_then(|(_, h)| h.as_deref());
        let matched = self
            .settings
            .passwords
            .verify(&body.password, stored)
            .await?;
        // 3. Record the outcome; open the session.
        let code = body.mfa_code.as_deref();
        settle(
            self.store
                .write(async |conn| {
                    self.finish_sign_in(conn, &attempt, found, matched, code)
                        .await
                })
                .await,
        )
    }

    /// Step 1 of a sign-in: counts the attempt per address and per account
    /// (a refusal is recorded as a throttled failure), then reads the
    /// account and its hash.
    async fn count_sign_in(
        &self, conn: &mut Conn<'_>, a: &SignInAttempt<'_>,
    ) -> Result<Result<Found, ToolError>, ToolError> {
        let s = &self.settings;
        admit(conn, a.project_id, Some("email")).await?;
        let subjects = [
            (a.ip_subject.as_deref(), s.sign_in_per_ip),
            (Some(a.account), s.sign_in_per_account),
        ];
        for (subject, limit) in subjects {
            let Some(subject) = subject else { continue };
            if let Err(refused) =
                count(conn, a.project_id, subject, limit, SIGN_IN_THROTTLED, a.now).await?
            {
                // Still an attempt on the account: the audit log and the
                // detection rules see whose.
                let user = users::load_by_email(conn, a.project_id, a.email).await?;
                a.failed(conn, user.as_ref(), "throttled").await?;
                return Ok(Err(refused));
            }
        }
        let Some(user) = users::load_by_email(conn, a.project_id, a.email).await? else {
            return Ok(Ok(None));
        };
        let hash = users::password_hash(conn, a.project_id, &user.id)
            .await?
            .map(|(h, _)| h);
        Ok(Ok(Some((user, hash))))
    }

    /// Step 3 of a sign-in: a wrong password (or unknown account) is
    /// recorded and refused; otherwise the second factor, then a session.
    async fn finish_sign_in(
        &self, conn: &mut Conn<'_>, a: &SignInAttempt<'_>, found: Found, matched: bool,
        mfa_code: Option<&str>,
    ) -> Result<Result<SignedIn, ToolError>, ToolError> {
        let user = match found {
            Some((user, _)) if matched => user,
            other => {
                let user = other.map(|(u, _)| u);
                let reason = if user.is_some() {
                    "wrong_password"
                } else {
                    "unknown_account"
                };
                a.failed(conn, user.as_ref(), reason).await?;
                return Ok(Err(wrong_credentials()));
            }
        };
        if let Err(refused) = self
            .second_factor(conn, &user, mfa_code, Tries::Counted, a.meta, a.now)
            .await?
        {
            return Ok(Err(refused));
        }
        throttle::clear(conn, a.project_id, a.account, a.now).await?;
        if let Some(subject) = &a.ip_subject {
            let limit = self.settings.sign_in_per_ip;
            throttle::release(conn, a.project_id, subject, limit, a.now).await?;
        }
        self.open_session(conn, user, a.meta, "password", a.now)
            .await
            .map(Ok)
    }

    /// `POST /auth/password-reset/request`: 202 whether or not the address
    /// has an account with a password.
    pub async fn request_password_reset(
        &self, project_id: &str, body: LinkRequest, meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let link = LinkRequested::new(LinkKind::PasswordReset, project_id, &body, meta)?;
        self.request_link(link).await
    }

    /// Mails a reset link when the address has an account with a
    /// password; records the request either way (denied, with the reason,
    /// when no mail goes).
    pub(super) async fn mail_reset_link(
        &self, conn: &mut Conn<'_>, link: &LinkRequested<'_>, base: &url::Url, now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        let (project_id, meta) = (link.project_id, link.meta);
        let requested = |user: Option<&str>, outcome| {
            NewAuditEvent::auth(
                project_id,
                EventType::PasswordResetRequested,
                user,
                meta,
                outcome,
            )
        };
        let Some(user) = users::load_by_email(conn, project_id, &link.email).await? else {
            requested(None, Outcome::Denied)
                .meta("reason", "unknown_account")
                .record(conn, now)
                .await?;
            return Ok(Ok(()));
        };
        let may_reset = users::has_password(conn, project_id, &user.id).await?
            || users::unclaimed(conn, &user).await?;
        if may_reset {
            let event = requested(Some(&user.id), Outcome::Success);
            send_reset(conn, &self.settings, &user, base, event, now).await?;
        } else {
            requested(Some(&user.id), Outcome::Denied)
                .meta("reason", "no_password")
                .record(conn, now)
                .await?;
        }
        Ok(Ok(()))
    }

    /// `POST /auth/password-reset/confirm`: sets the new password, marks
    /// the address verified (the link proved it), and ends every session
    /// of the user.
    pub async fn confirm_password_reset(
        &self, project_id: &str, body: ResetConfirm, meta: &RequestMeta,
    ) -> Result<EndUser, ToolError> {
        required("token", &body.token)?;
        passwords::validate("new_password", &body.new_password)?;
        let now = self.now();
        let link = Presented {
            project_id,
            token: &body.token,
            kind: TokenKind::PasswordReset,
        };
        let bad = || bad_token("token", "password reset link");
        // Refuse a bad token before hashing anything.
        self.store
            .read(async |conn| {
                admit(conn, project_id, None).await?;
                match codes::token_user(conn, link, now).await? {
                    Some(_) => Ok(()),
                    None => Err(bad()),
                }
            })
            .await?;
        let hash = self.settings.passwords.hash(&body.new_password).await?;
        self.store
            .write(async |conn| {
                let Some(user_id) = codes::use_token(conn, link, now).await? else {
                    return Err(bad());
                };
                let before = users::require(conn, project_id, &user_id).await?;
                self.claim(conn, &before, "password_reset", meta, now)
                    .await?;
                // Every other link of the user stops working with the reset.
                codes::void_tokens(conn, project_id, &user_id, codes::ALL_LINKS, now).await?;
                let at = to_micros(now);
                users::set_password_hash(conn, project_id, &user_id, &hash, at).await?;
                users::set_verified(conn, project_id, &user_id, true, at).await?;
                let revoked = authgate_sessions::revoke_user_sessions(
                    conn,
                    project_id,
                    &user_id,
                    None,
                    "password_reset",
                    now,
                )
                .await?;
                let user = users::get(conn, project_id, &user_id).await?;
                let account = self.account_subject("signin", project_id, user.account_key());
                throttle::clear(conn, project_id, &account, now).await?;
                user_event(
                    project_id,
                    EventType::PasswordResetCompleted,
                    &user_id,
                    meta,
                )
                .meta("sessions_revoked", revoked)
                .record(conn, now)
                .await?;
                let changes = UserChanges {
                    updated: true,
                    email_verified: !before.email_verified,
                };
                changes.announce(conn, project_id, &user_id, now).await?;
                Ok(user)
            })
            .await
    }

    /// `POST /auth/change-email`: asks for a new address for the signed-in
    /// user, on their current password (or a recent sign-in when they have
    /// none). The new address waits (`pending_email`) until the code mailed
    /// to it is entered at POST /auth/verify-email; until then the account
    /// keeps its address, which is told of the request.
    pub async fn change_email(
        &self, project_hint: Option<&str>, token: &str, body: EmailChange, meta: &RequestMeta,
    ) -> Result<EndUser, ToolError> {
        let new_email = users::normalize_email("new_email", &body.new_email)?;
        let now = self.now();
        let not_same = |user: &UserRow| {
            if user.email.as_deref() == Some(new_email.as_str()) {
                return Err(ToolError::invalid(
                    "new_email",
                    "new_email is the account's current address",
                ));
            }
            Ok(())
        };
        let password = Some(body.password.as_str());
        let who = self
            .step_up(
                project_hint,
                token,
                password,
                "changing the email address",
                not_same,
                now,
            )
            .await?;
        let (project_id, user) = (who.project_id, who.user);
        // The change (the session must still be active).
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
                let row =
                    users::set_pending_email(conn, &project_id, &user.id, &new_email, now).await?;
                // Links already mailed stop working (and again when the
                // change is done: the old address is then not theirs).
                codes::void_tokens(conn, &project_id, &user.id, codes::ALL_LINKS, now).await?;
                let to_new = UserRow {
                    email: Some(new_email.clone()),
                    ..row.clone()
                };
                send_verification(conn, &self.keys, &self.settings, &project_id, &to_new, now)
                    .await?;
                // The old address is told (a user who signed up by SMS has none).
                if let Some(old) = &row.email {
                    authgate_email::enqueue(
                        conn,
                        &project_id,
                        EmailKind::EmailChangeNotice,
                        old,
                        json!({"user": mail_user(&row), "new_email": new_email}),
                        now,
                    )
                    .await?;
                }
                user_event(&project_id, EventType::EmailChangeRequested, &user.id, meta)
                    .record(conn, now)
                    .await?;
                let change = ChangeType::UserUpdated;
                users::announce_user(conn, &project_id, change, &user.id, now).await?;
                let has_password = users::has_password(conn, &project_id, &user.id).await?;
                Ok(row.view(has_password))
            })
            .await
    }
}

/// One sign-in attempt: where it is counted and whose it is.
struct SignInAttempt<'a> {
    project_id: &'a str,
    email: &'a str,
    /// The keyed subject of the account's counter.
    account: &'a str,
    ip_subject: Option<String>,
    meta: &'a RequestMeta,
    now: DateTime<Utc>,
}

impl SignInAttempt<'_> {
    /// Records a refused sign-in on `user` (none: an unknown account).
    async fn failed(
        &self, conn: &mut Conn<'_>, user: Option<&UserRow>, reason: &str,
    ) -> Result<(), ToolError> {
        NewAuditEvent::auth(
            self.project_id,
            EventType::SignInFailed,
            user.map(|u| u.id.as_str()),
            self.meta,
            Outcome::Denied,
        )
        .meta("reason", reason)
        .hint("account", self.account)
        .record(conn, self.now)
        .await
        .map(|_| ())
    }
}
