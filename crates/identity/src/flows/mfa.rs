//! TOTP second factors: asking for the code at sign-in, enrolling,
//! turning on, and removing.

use chrono::{DateTime, Utc};

use authgate_audit::NewAuditEvent;
use authgate_core::{ChangeType, Conn, EventType, Outcome, RequestMeta, ToolError, settle};

use super::{
    Auth, CodeBody, MfaActive, SIGN_IN_THROTTLED, TotpEnroll, TotpRemove, count, unauthenticated,
    user_event,
};
use crate::mfa;
use crate::throttle;
use crate::users::{self, UserRow};

impl Auth {
    /// Asks for and checks the second factor of a user who has one. With
    /// [`Tries::CountHere`] (a code after a sign-in link) the try counts
    /// against the account like a sign-in attempt; a password sign-in has
    /// counted its attempt already.
    pub(super) async fn second_factor(
        &self, conn: &mut Conn<'_>, user: &UserRow, code: Option<&str>, tries: Tries,
        meta: &RequestMeta, now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        let project_id = user.project_id.as_str();
        if !mfa::required(conn, project_id, &user.id).await? {
            return Ok(Ok(()));
        }
        let account = self.account_subject("signin", project_id, user.account_key());
        if tries == Tries::CountHere {
            let limit = self.settings.sign_in_per_account;
            if let Err(refused) =
                count(conn, project_id, &account, limit, SIGN_IN_THROTTLED, now).await?
            {
                return Ok(Err(refused));
            }
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
                    if tries == Tries::CountHere {
                        throttle::clear(conn, project_id, &account, now).await?;
                    }
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
    /// shown this once. Needs the password (or a recent sign-in).
    pub async fn enroll_totp(
        &self, project_hint: Option<&str>, token: &str, body: TotpEnroll, meta: &RequestMeta,
    ) -> Result<mfa::Enrollment, ToolError> {
        let now = self.now();
        let what = "turning two-step verification on";
        let password = body.password.as_deref();
        let who = self
            .step_up(project_hint, token, password, what, |_| Ok(()), now)
            .await?;
        let project_id = who.project_id.as_str();
        self.store
            .write(async |conn| {
                let (claims, _) = self
                    .authenticate(conn, Some(project_id), token, now)
                    .await?;
                if mfa::required(conn, project_id, &claims.sub).await? {
                    return Err(ToolError::conflict(
                        "two-step verification is already on for this account",
                    )
                    .with_hint("an account has one authenticator app"));
                }
                let project = authgate_project::get_project(conn, project_id).await?;
                let enrollment = mfa::enroll(
                    conn,
                    &self.keys.encryption,
                    project_id,
                    &claims.sub,
                    &project.name,
                    who.user
                        .email
                        .as_deref()
                        .or(who.user.phone.as_deref())
                        .unwrap_or(&claims.sub),
                    now,
                )
                .await?;
                user_event(
                    project_id,
                    EventType::MfaEnrollmentStarted,
                    &claims.sub,
                    meta,
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
        &self, conn: &mut Conn<'_>, factor: FactorCheck<'_>, now: DateTime<Utc>,
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
    /// a current code of the authenticator app and the password (or a
    /// recent sign-in).
    pub async fn remove_totp(
        &self, project_hint: Option<&str>, token: &str, body: TotpRemove, meta: &RequestMeta,
    ) -> Result<MfaActive, ToolError> {
        super::six_digits("code", &body.code)?;
        let what = "turning two-step verification off";
        let password = body.password.as_deref();
        self.step_up(project_hint, token, password, what, |_| Ok(()), self.now())
            .await?;
        self.totp_code(TotpStep::Remove, project_hint, token, &body.code, meta)
            .await
    }

    /// `POST /auth/mfa/totp/verify`: the first correct code turns the
    /// pending factor on.
    pub async fn verify_totp(
        &self, project_hint: Option<&str>, token: &str, body: CodeBody, meta: &RequestMeta,
    ) -> Result<MfaActive, ToolError> {
        self.totp_code(TotpStep::Verify, project_hint, token, &body.code, meta)
            .await
    }

    /// A step taken on a current TOTP code of the signed-in user: the code
    /// is spent against the factor the step needs, then the step is taken,
    /// recorded and published (`user.updated`: a factor on or removed).
    async fn totp_code(
        &self, step: TotpStep, project_hint: Option<&str>, token: &str, code: &str,
        meta: &RequestMeta,
    ) -> Result<MfaActive, ToolError> {
        let code = super::six_digits("code", code)?;
        let now = self.now();
        settle(
            self.store
                .write(async |conn| {
                    let (claims, _) = self.authenticate(conn, project_hint, token, now).await?;
                    let (project_id, user_id) = (claims.aud.as_str(), claims.sub.as_str());
                    if step == TotpStep::Remove && !mfa::required(conn, project_id, user_id).await?
                    {
                        return Ok(Err(ToolError::precondition(
                            "two-step verification is not on for this account",
                        )
                        .with_hint("POST /api/v1/auth/mfa/totp/enroll turns it on")));
                    }
                    let check = FactorCheck {
                        project_id,
                        user_id,
                        status: step.factor_status(),
                        code: &code,
                        wrong: step.wrong_code(),
                    };
                    let factor_id = match self.spend_code(conn, check, now).await? {
                        Ok(id) => id,
                        Err(refused) => return Ok(Err(refused)),
                    };
                    if step == TotpStep::Remove {
                        mfa::remove(conn, project_id, user_id, &factor_id).await?;
                    }
                    user_event(project_id, step.event_type(), user_id, meta)
                        .target(&factor_id)
                        .meta("kind", "totp")
                        .record(conn, now)
                        .await?;
                    let changed = ChangeType::UserUpdated;
                    users::announce_user(conn, project_id, changed, user_id, now).await?;
                    Ok(Ok(MfaActive {
                        factor_id,
                        status: step.outcome(),
                    }))
                })
                .await,
        )
    }
}

/// Whether a second factor's try is counted where it is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tries {
    /// The flow counted the attempt already (a password sign-in).
    Counted,
    /// Count it here (a code after a sign-in link).
    CountHere,
}

/// What a TOTP code is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TotpStep {
    /// Turn the pending factor on.
    Verify,
    /// Remove the active factor.
    Remove,
}

impl TotpStep {
    fn factor_status(self) -> &'static str {
        match self {
            TotpStep::Verify => "pending",
            TotpStep::Remove => "active",
        }
    }

    fn wrong_code(self) -> &'static str {
        match self {
            TotpStep::Verify => {
                "the code is wrong, or no enrollment is pending; enter the current code of the authenticator app (check the device's clock)"
            }
            TotpStep::Remove => {
                "the code is wrong or was already used; enter the current code of the authenticator app"
            }
        }
    }

    fn event_type(self) -> EventType {
        match self {
            TotpStep::Verify => EventType::MfaEnrolled,
            TotpStep::Remove => EventType::MfaRemoved,
        }
    }

    fn outcome(self) -> &'static str {
        match self {
            TotpStep::Verify => "active",
            TotpStep::Remove => "removed",
        }
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
