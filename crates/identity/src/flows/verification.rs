//! Email verification by a 6-digit code.

use authgate_audit::NewAuditEvent;
use authgate_core::time::to_micros;
use authgate_core::{ChangeType, EventType, Outcome, RequestMeta, ToolError, settle};

use super::{
    Auth, EmailOnly, EndUser, UserChanges, VerifyEmail, admit, bad_token, send_verification,
    user_event,
};
use crate::codes::{self, CodeCheck};
use crate::users;

impl Auth {
    /// `POST /auth/verify-email`.
    pub async fn verify_email(
        &self, project_id: &str, body: VerifyEmail, meta: &RequestMeta,
    ) -> Result<EndUser, ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        let code = super::six_digits("code", &body.code)?;
        let now = self.now();
        // Unknown, verified, wrong, expired and used up answer alike
        // (status, body, and the same statements run), so the answer tells
        // nothing about the address; only a real pending code counts a try.
        let wrong = || {
            bad_token("code", "code")
                .with_hint("request a new code with POST /api/v1/auth/resend-verification")
        };
        settle(
            self.store
                .write(async |conn| {
                    admit(conn, project_id, None).await?;
                    let user = users::awaiting_code(conn, project_id, &email).await?;
                    // No user: the same check against an id no code has.
                    let user_id = user.as_ref().map_or("usr_none", |u| u.id.as_str());
                    let key = &self.keys.codes;
                    match codes::check_code(conn, key, project_id, user_id, &code, now).await? {
                        CodeCheck::Valid => {
                            let Some(user) = user else {
                                return Ok(Err(wrong()));
                            };
                            if user.pending_email.as_deref() == Some(email.as_str()) {
                                return self
                                    .finish_email_change(conn, project_id, &user, meta, now)
                                    .await;
                            }
                            users::set_verified(conn, project_id, &user.id, true, to_micros(now))
                                .await?;
                            user_event(project_id, EventType::EmailVerified, &user.id, meta)
                                .meta("method", "code")
                                .record(conn, now)
                                .await?;
                            let verified = ChangeType::UserEmailVerified;
                            users::announce_user(conn, project_id, verified, &user.id, now).await?;
                            Ok(Ok(users::get(conn, project_id, &user.id).await?))
                        }
                        CodeCheck::Wrong { .. } | CodeCheck::Expired => Ok(Err(wrong())),
                    }
                })
                .await,
        )
    }

    /// `POST /auth/resend-verification`: 202 whether or not the address
    /// has an account (so the answer tells nothing).
    pub async fn resend_verification(
        &self, project_id: &str, body: EmailOnly, meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        let now = self.now();
        let s = &self.settings;
        settle(
            self.store
                .write(async |conn| {
                    admit(conn, project_id, None).await?;
                    if let Err(refused) = self.count_mail(conn, project_id, &email, now).await? {
                        return Ok(Err(refused));
                    }
                    let user = users::awaiting_code(conn, project_id, &email).await?;
                    let user_id = user.as_ref().map(|u| u.id.clone());
                    let sent = match user {
                        Some(user) => {
                            // To the address asked about: the account's own,
                            // or the one its change waits on.
                            let to = users::UserRow {
                                email: Some(email.clone()),
                                ..user
                            };
                            send_verification(conn, &self.keys, s, project_id, &to, now).await?;
                            true
                        }
                        None => false,
                    };
                    NewAuditEvent::auth(
                        project_id,
                        EventType::EmailVerificationRequested,
                        user_id.as_deref(),
                        meta,
                        Outcome::Success,
                    )
                    .meta("sent", sent)
                    .record(conn, now)
                    .await?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    /// The code mailed to a waiting address was entered: the address
    /// becomes the account's, verified, unless another account took it
    /// meanwhile; links mailed to the old one stop working.
    async fn finish_email_change(
        &self, conn: &mut authgate_core::Conn<'_>, project_id: &str, user: &users::UserRow,
        meta: &RequestMeta, now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Result<EndUser, ToolError>, ToolError> {
        let Some(new_email) = user.pending_email.as_deref() else {
            return Err(ToolError::internal("no email change waits"));
        };
        conn.lock_project(project_id).await?;
        if users::load_by_email(conn, project_id, new_email)
            .await?
            .is_some()
        {
            return Ok(Err(users::email_taken()
                .with_field("email")
                .with_hint("another account signed up with this address meanwhile; ask for a change to another one")));
        }
        users::adopt_pending_email(conn, project_id, &user.id, new_email, now).await?;
        codes::void_tokens(conn, project_id, &user.id, codes::ALL_LINKS, now).await?;
        user_event(project_id, EventType::EmailChanged, &user.id, meta)
            .meta("method", "code")
            .record(conn, now)
            .await?;
        let changes = UserChanges {
            updated: true,
            email_verified: !user.email_verified,
        };
        changes.announce(conn, project_id, &user.id, now).await?;
        Ok(Ok(users::get(conn, project_id, &user.id).await?))
    }
}
