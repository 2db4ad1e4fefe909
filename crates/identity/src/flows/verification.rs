//! Email verification by a 6-digit code.

use authgate_audit::NewAuditEvent;
use authgate_core::time::to_micros;
use authgate_core::{EventType, Outcome, RequestMeta, ToolError, settle};

use super::{
    Auth, EmailOnly, EndUser, VerifyEmail, admit, bad_token, send_verification, user_event,
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
                    let user = users::load_by_email(conn, project_id, &email)
                        .await?
                        .filter(|u| !u.email_verified);
                    // No user: the same check against an id no code has.
                    let user_id = user.as_ref().map_or("usr_none", |u| u.id.as_str());
                    let key = &self.keys.codes;
                    match codes::check_code(conn, key, project_id, user_id, &code, now).await? {
                        CodeCheck::Valid => {
                            let Some(user) = user else {
                                return Ok(Err(wrong()));
                            };
                            users::set_verified(conn, project_id, &user.id, true, to_micros(now))
                                .await?;
                            user_event(project_id, EventType::EmailVerified, &user.id, meta)
                                .meta("method", "code")
                                .record(conn, now)
                                .await?;
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
                    let user = users::load_by_email(conn, project_id, &email).await?;
                    let user_id = user.as_ref().map(|u| u.id.clone());
                    let sent = match user {
                        Some(user) if !user.email_verified => {
                            send_verification(conn, &self.keys, s, project_id, &user, now).await?;
                            true
                        }
                        _ => false,
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
}
