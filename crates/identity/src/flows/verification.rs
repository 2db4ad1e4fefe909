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
        let wrong = || bad_token("code", "code");
        settle(
            self.store
                .write(async |conn| {
                    admit(conn, project_id, None).await?;
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
                    let key = &self.keys.codes;
                    match codes::check_code(conn, key, project_id, &user.id, &code, now).await? {
                        CodeCheck::Valid => {
                            users::set_verified(conn, project_id, &user.id, true, to_micros(now))
                                .await?;
                            user_event(project_id, EventType::EmailVerified, &user.id, meta)
                                .meta("method", "code")
                                .record(conn, now)
                                .await?;
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
