//! TOTP second factors: asking for the code at sign-in, enrolling,
//! turning on, and removing.

use chrono::{DateTime, Utc};

use authgate_audit::NewAuditEvent;
use authgate_core::{Conn, EventType, Outcome, RequestMeta, ToolError, settle};

use super::{Auth, CodeBody, MfaActive, count, unauthenticated};
use crate::mfa;
use crate::throttle;
use crate::users::{self, UserRow};

impl Auth {
    /// Asks for and checks the second factor of a user who has one.
    pub(super) async fn second_factor(
        &self,
        conn: &mut Conn<'_>,
        user: &UserRow,
        code: Option<&str>,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        let project_id = user.project_id.as_str();
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
                let key = &self.keys.encryption;
                if mfa::check(conn, key, project_id, &user.id, "active", code, now).await?.is_some() {
                    return Ok(Ok(()));
                }
                (
                    "wrong_mfa_code",
                    unauthenticated("the two-step verification code is wrong or was already used; send the current code")
                        .with_field("mfa_code"),
                )
            }
        };
        NewAuditEvent::auth(
            project_id,
            EventType::SignInFailed,
            Some(&user.id),
            meta,
            Outcome::Denied,
        )
        .meta("reason", reason)
        .record(conn, now)
        .await?;
        Ok(Err(refusal))
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
                let project = authgate_project::get_project(conn, project_id).await?;
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
                NewAuditEvent::auth(
                    project_id,
                    EventType::MfaEnrollmentStarted,
                    Some(&claims.sub),
                    meta,
                    Outcome::Success,
                )
                .target(&enrollment.factor_id)
                .meta("kind", "totp")
                .record(conn, now)
                .await?;
                Ok(enrollment)
            })
            .await
    }

    /// Checks a TOTP code against the user's factor of `status`, counting
    /// the attempt first (tries are throttled per user like sign-ins):
    /// the factor's id, or the refusal to answer (`wrong` names the code).
    async fn spend_code(
        &self,
        conn: &mut Conn<'_>,
        factor: FactorCheck<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<String, ToolError>, ToolError> {
        let FactorCheck {
            project_id,
            user_id,
            status,
            code,
            wrong,
        } = factor;
        let subject = format!("mfa:user:{user_id}");
        let message = "too many codes were tried; retry later";
        let limit = self.settings.sign_in_per_account;
        if let Err(refused) = count(conn, project_id, &subject, limit, message, now).await? {
            return Ok(Err(refused));
        }
        let key = &self.keys.encryption;
        let checked = mfa::check(conn, key, project_id, user_id, status, code, now).await?;
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
        let code = super::six_digits("code", &body.code)?;
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
                let check = FactorCheck {
                    project_id,
                    user_id: &claims.sub,
                    status: "active",
                    code: &code,
                    wrong: "the code is wrong or was already used; enter the current code of the authenticator app",
                };
                let factor_id = match self.spend_code(conn, check, now).await? {
                    Ok(id) => id,
                    Err(refused) => return Ok(Err(refused)),
                };
                mfa::remove(conn, project_id, &claims.sub, &factor_id).await?;
                NewAuditEvent::auth(project_id, EventType::MfaRemoved, Some(&claims.sub), meta, Outcome::Success)
                    .target(&factor_id)
                    .meta("kind", "totp")
                    .record(conn, now)
                    .await?;
                Ok(Ok(MfaActive {
                    factor_id,
                    status: "removed",
                }))
            }).await)
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
        let code = super::six_digits("code", &body.code)?;
        let now = self.now();
        settle(self.store
            .write(async |conn| {
                let (claims, _) = self.authenticate(conn, project_hint, token, now).await?;
                let project_id = claims.aud.as_str();
                let check = FactorCheck {
                    project_id,
                    user_id: &claims.sub,
                    status: "pending",
                    code: &code,
                    wrong: "the code is wrong, or no enrollment is pending; enter the current code of the authenticator app (check the device's clock)",
                };
                let factor_id = match self.spend_code(conn, check, now).await? {
                    Ok(id) => id,
                    Err(refused) => return Ok(Err(refused)),
                };
                NewAuditEvent::auth(project_id, EventType::MfaEnrolled, Some(&claims.sub), meta, Outcome::Success)
                    .target(&factor_id)
                    .meta("kind", "totp")
                    .record(conn, now)
                    .await?;
                Ok(Ok(MfaActive {
                    factor_id,
                    status: "active",
                }))
            }).await)
    }
}

/// A TOTP code to check against the user's factor of `status`.
struct FactorCheck<'a> {
    project_id: &'a str,
    user_id: &'a str,
    status: &'a str,
    code: &'a str,
    /// The refusal's message when the code does not match.
    wrong: &'a str,
}
