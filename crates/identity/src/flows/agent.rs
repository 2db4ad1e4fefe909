//! What an agent does to an end user through the tools, in the tool call's
//! unit of work: delete the user (every domain's rows with them), mail a
//! reset link or a fresh verification code, mark the address verified.
//! Each is recorded as the key's action on the user.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use authgate_audit::NewAuditEvent;
use authgate_core::args::{Cascade, DangerResult};
use authgate_core::changes::{self, ChangeType};
use authgate_core::time::to_micros;
use authgate_core::userdata::count_all;
use authgate_core::{Conn, EventType, Outcome, RequestMeta, ToolContext, ToolError};

use super::{send_reset, send_verification};
use crate::settings::IdentitySettings;
use crate::users::{self, EndUser, UserRow};

#[derive(Debug, Serialize, JsonSchema)]
pub struct MailSent {
    pub user_id: String,
    /// Where the mail goes.
    pub email: String,
    /// The queued mail.
    pub email_id: String,
    /// When the code or link stops working.
    pub expires_at: DateTime<Utc>,
}

impl MailSent {
    /// What was sent to `user`: the queued mail's id and when its code or
    /// link expires.
    fn to(user: UserRow, (email_id, expires_at): (String, DateTime<Utc>)) -> Self {
        MailSent {
            user_id: user.id,
            email: user.email.unwrap_or_default(),
            email_id,
            expires_at,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeletedUser {
    /// The user deleted (or that would be).
    pub user: EndUser,
}

/// The auth event of the calling key's action on a user.
fn by_agent(ctx: &ToolContext, event_type: EventType, user_id: &str) -> NewAuditEvent {
    let meta = RequestMeta::new(None, None, Some(ctx.request_id.clone()));
    NewAuditEvent::auth(ctx.project_id(), event_type, None, &meta, Outcome::Success)
        .target(user_id)
        .by_key(&ctx.caller.key_id)
}

/// Deletes a user and everything that hangs off them in every domain (or,
/// on a dry run, counts it): the cascade comes from every domain's
/// user-data section, the same counts either way. Publishes
/// `user.deleted` (only: not each session or membership that goes with
/// the user), with the user as get_end_user showed it just before.
pub async fn delete_end_user(
    ctx: &ToolContext, conn: &mut Conn<'_>, user_id: &str, dry_run: bool,
) -> Result<DangerResult<DeletedUser>, ToolError> {
    let project = ctx.project_id();
    let row = users::require(conn, project, user_id).await?;
    let user = row.view(users::has_password(conn, project, &row.id).await?);
    let cascade: Cascade =
        count_all(ctx.domains.user_data(), conn, &row.reference(ctx.now())).await?;
    if !dry_run {
        let deleted = match changes::outlet(conn, project, ChangeType::UserDeleted).await? {
            Some(outlet) => Some((outlet, users::detail(conn, project, user_id).await?)),
            None => None,
        };
        users::delete(conn, project, user_id).await?;
        if let Some((outlet, detail)) = deleted {
            outlet.send(conn, &detail, ctx.now()).await?;
        }
    }
    Ok(DangerResult {
        dry_run,
        target: DeletedUser { user },
        cascade,
    })
}

/// Mails the user a reset link to the project's first callback URL; needs
/// a password on the account and a callback URL (`precondition_failed`
/// says which is missing).
pub async fn send_password_reset_by_agent(
    ctx: &ToolContext, conn: &mut Conn<'_>, user_id: &str,
) -> Result<MailSent, ToolError> {
    let project = ctx.project_id();
    let row = users::require(conn, project, user_id).await?;
    if !users::has_password(conn, project, &row.id).await? {
        return Err(ToolError::precondition(
            "this user has no password credential (they sign in with a magic link or a provider)",
        )
        .with_field("user_id")
        .with_hint("a password can only be reset where one is set; send a magic link instead"));
    }
    let base = authgate_project::link_target(conn, project, None).await?;
    let event = by_agent(ctx, EventType::PasswordResetRequested, &row.id);
    let settings = ctx.setting::<IdentitySettings>();
    let sent = send_reset(conn, &settings, &row, &base, event, ctx.now()).await?;
    Ok(MailSent::to(row, sent))
}

/// Mails a fresh verification code (earlier ones stop working);
/// `precondition_failed` when the address is already verified.
pub async fn resend_verification_by_agent(
    ctx: &ToolContext, conn: &mut Conn<'_>, user_id: &str,
) -> Result<MailSent, ToolError> {
    let project = ctx.project_id();
    let row = users::require(conn, project, user_id).await?;
    if row.email_verified {
        return Err(
            ToolError::precondition(format!("{} is already verified", row.account_key()))
                .with_field("user_id")
                .with_hint(
                    "nothing to send; set_email_verified with verified: false first to re-verify",
                ),
        );
    }
    let settings = ctx.setting::<IdentitySettings>();
    let sent = send_verification(conn, &ctx.keys, &settings, project, &row, ctx.now()).await?;
    Ok(MailSent::to(row, sent))
}

/// Marks the address verified or not; marking it verified is recorded as
/// `email.verified` by the key and published as `user.email_verified`,
/// marking it unverified is published as `user.updated`. Returns the user.
pub async fn set_email_verified_by_agent(
    ctx: &ToolContext, conn: &mut Conn<'_>, user_id: &str, verified: bool,
) -> Result<EndUser, ToolError> {
    let project = ctx.project_id();
    let row = users::require(conn, project, user_id).await?;
    if row.email_verified != verified {
        let now = ctx.now();
        users::set_verified(conn, project, &row.id, verified, to_micros(now)).await?;
        if verified {
            by_agent(ctx, EventType::EmailVerified, &row.id)
                .record(conn, now)
                .await?;
        }
        let change = if verified {
            ChangeType::UserEmailVerified
        } else {
            ChangeType::UserUpdated
        };
        users::announce_user(conn, project, change, &row.id, now).await?;
    }
    users::get(conn, project, &row.id).await
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RemovedMfa {
    /// The user whose second factors were removed (or would be).
    pub user: EndUser,
}

/// Removes every second factor of a user (an admin recovering a user who
/// lost their authenticator app, or whose factor someone else set), and
/// ends their sessions, so whoever held the factor is signed out too.
/// Recorded as `mfa.removed` by the key and published as `user.updated`
/// (each session as `session.revoked`). A dry run counts the same.
pub async fn remove_user_mfa(
    ctx: &ToolContext, conn: &mut Conn<'_>, user_id: &str, dry_run: bool,
) -> Result<DangerResult<RemovedMfa>, ToolError> {
    let project = ctx.project_id();
    let row = users::require(conn, project, user_id).await?;
    let factors = crate::mfa::count(conn, project, &row.id).await?;
    let sessions =
        authgate_sessions::count_active_sessions(conn, project, &row.id, ctx.now()).await?;
    if !dry_run && factors > 0 {
        let now = ctx.now();
        crate::mfa::remove_all(conn, project, &row.id).await?;
        authgate_sessions::revoke_user_sessions(conn, project, &row.id, None, "mfa_removed", now)
            .await?;
        by_agent(ctx, EventType::MfaRemoved, &row.id)
            .meta("factors_removed", factors)
            .record(conn, now)
            .await?;
        users::announce_user(conn, project, ChangeType::UserUpdated, &row.id, now).await?;
    }
    let user = row.view(users::has_password(conn, project, &row.id).await?);
    let cascade = Cascade::from([
        ("mfa_factors".to_owned(), factors),
        (
            "sessions".to_owned(),
            if factors > 0 { sessions } else { 0 },
        ),
    ]);
    Ok(DangerResult {
        dry_run,
        target: RemovedMfa { user },
        cascade,
    })
}
