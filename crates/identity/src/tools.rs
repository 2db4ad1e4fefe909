//! The end-user tools, and the two project tools identity answers
//! (verify_token, get_sdk_setup_instructions).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;

use authgate_core::args::DangerResult;
use authgate_core::time::parse_rfc3339;
use authgate_core::{
    Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, require_id, tool,
};
use authgate_project::PROJECT;

use crate::flows::{self, DeletedUser, MailSent};
use crate::jwt::{self, Verification};
use crate::sdk::{self, Framework, SdkInstructions};
use crate::settings::IdentitySettings;
use crate::users::{self, EndUser, UserDetail, UserFilter};

pub const END_USERS: &str = "end_users";

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: END_USERS,
            summary: "the project's end users: find, inspect, verify, reset, delete (with everything they own)",
        });
    crate::sections::register(registry);
    registry
        .register(ListEndUsers)
        .register(GetEndUser)
        .register(DeleteEndUser)
        .register(RemoveUserMfa)
        .register(SendPasswordReset)
        .register(SetEmailVerified)
        .register(ResendVerificationEmail)
        .register(VerifyToken)
        .register(GetSdkSetupInstructions);
}

fn user_id(id: &str) -> Result<(), ToolError> {
    require_id("user_id", "usr", id)
}

// ------------------------------------------------------------ list, get

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEndUsersArgs {
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
    /// Only users whose email contains this text (case-insensitive).
    pub email_contains: Option<String>,
    /// Only the user with this phone number (+country code first).
    pub phone: Option<String>,
    /// Only users created at or after this time (RFC 3339).
    pub created_after: Option<String>,
    /// Only users created before this time (RFC 3339).
    pub created_before: Option<String>,
}

/// List the project's end users, oldest first, optionally filtered by email or
/// creation time.
#[tool(read, group = END_USERS, title = "List end users", example = r#"{"email_contains": "@acme.com", "limit": 50}"#)]
pub async fn list_end_users(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListEndUsersArgs,
) -> Result<Page<EndUser>, ToolError> {
    let time = |field: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>, ToolError> {
        v.as_deref().map(|s| parse_rfc3339(field, s)).transpose()
    };
    let filter = UserFilter {
        email_contains: args.email_contains.filter(|s| !s.trim().is_empty()),
        phone: args
            .phone
            .as_deref()
            .map(|p| crate::phone::normalize_phone("phone", p).map(|p| p.e164))
            .transpose()?,
        created_after: time("created_after", &args.created_after)?,
        created_before: time("created_before", &args.created_before)?,
    };
    if let Some(needle) = &filter.email_contains
        && needle.len() > 254
    {
        return Err(ToolError::invalid(
            "email_contains",
            "email_contains must be at most 254 bytes",
        ));
    }
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    users::list(conn, ctx.project_id(), &filter, &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIdArgs {
    /// The end user's id (usr_...).
    pub user_id: String,
}

/// Get one end user with linked accounts, password status and MFA factors
/// (never a secret).
#[tool(read, group = END_USERS, title = "Get end user", example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn get_end_user(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UserIdArgs,
) -> Result<UserDetail, ToolError> {
    user_id(&args.user_id)?;
    users::detail(conn, ctx.project_id(), &args.user_id).await
}

// ------------------------------------------------------------ delete

// The arguments of a danger tool on one end user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserDangerArgs {
    /// The end user's id (usr_...).
    pub user_id: String,
    /// Show what would change, with the same counts, without changing it.
    #[serde(default)]
    pub dry_run: bool,
}

/// Delete an end user and everything that hangs off them (sessions,
/// credentials, MFA, codes, links, and every domain's rows of the user).
/// Irreversible.
#[tool(
    danger,
    group = END_USERS,
    title = "Delete end user",
    example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#
)]
pub async fn delete_end_user(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UserDangerArgs,
) -> Result<DangerResult<DeletedUser>, ToolError> {
    user_id(&args.user_id)?;
    flows::delete_end_user(ctx, conn, &args.user_id, args.dry_run).await
}

/// Turn two-step verification off for a user who lost their authenticator:
/// every TOTP factor is removed and their sessions end. They can enroll again
/// after signing in.
#[tool(
    danger,
    group = END_USERS,
    title = "Remove user's two-step verification",
    example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#
)]
pub async fn remove_user_mfa(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UserDangerArgs,
) -> Result<DangerResult<flows::RemovedMfa>, ToolError> {
    user_id(&args.user_id)?;
    flows::remove_user_mfa(ctx, conn, &args.user_id, args.dry_run).await
}

// ------------------------------------------------------------ mails

/// Mail the user a single-use password reset link (1 hour) to the project's
/// first callback URL. Needs a password on the account and a callback URL.
#[tool(write, group = END_USERS, title = "Send password reset", example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn send_password_reset(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UserIdArgs,
) -> Result<MailSent, ToolError> {
    user_id(&args.user_id)?;
    flows::send_password_reset_by_agent(ctx, conn, &args.user_id).await
}

/// Mail a fresh 6-digit verification code (15 minutes); earlier codes stop
/// working. precondition_failed if already verified.
#[tool(
    write,
    group = END_USERS,
    title = "Resend verification email",
    example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#
)]
pub async fn resend_verification_email(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UserIdArgs,
) -> Result<MailSent, ToolError> {
    user_id(&args.user_id)?;
    flows::resend_verification_by_agent(ctx, conn, &args.user_id).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetEmailVerifiedArgs {
    /// The end user's id (usr_...).
    pub user_id: String,
    /// true marks the email verified; false makes the user verify again.
    pub verified: bool,
}

/// Mark an end user's email verified or unverified (e.g. after checking it
/// another way).
#[tool(
    write,
    group = END_USERS,
    title = "Set email verified",
    idempotent,
    example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "verified": true}"#
)]
pub async fn set_email_verified(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: SetEmailVerifiedArgs,
) -> Result<EndUser, ToolError> {
    user_id(&args.user_id)?;
    flows::set_email_verified_by_agent(ctx, conn, &args.user_id, args.verified).await
}

// ------------------------------------------------------------ project tools

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyTokenArgs {
    /// An access token (a JWT from sign-in or refresh).
    pub token: String,
}

/// Check an access token as an app would: signature (project JWKS), audience
/// and issuer, expiry, and that its session is still active. Returns {valid,
/// header, claims, reason}; an invalid token is a normal answer.
#[tool(read, group = PROJECT, title = "Verify token", example = r#"{"token": "eyJhbGciOiJFZERTQSIsImtpZCI6InNrZXlfMDEifQ.e30.c2ln"}"#)]
pub async fn verify_token(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: VerifyTokenArgs,
) -> Result<Verification, ToolError> {
    if args.token.trim().is_empty() {
        return Err(ToolError::invalid(
            "token",
            "token is required: pass the access token to check",
        ));
    }
    if args.token.len() > 16 * 1024 {
        return Err(ToolError::invalid(
            "token",
            "token is longer than any access token (16 KiB)",
        ));
    }
    let issuer = ctx.setting::<IdentitySettings>().public_url;
    jwt::verify(conn, ctx.project_id(), &issuer, &args.token, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdkArgs {
    /// nextjs, react, node, react-native or flutter.
    pub framework: Framework,
}

/// Code that integrates an app with this server, for a framework: install
/// lines, environment variables and files for sign-up, sign-in, refresh and
/// token verification, with this server's URL and the project id filled in.
#[tool(read, group = PROJECT, title = "SDK setup instructions", example = r#"{"framework": "nextjs"}"#)]
pub async fn get_sdk_setup_instructions(
    ctx: &ToolContext, args: SdkArgs,
) -> Result<SdkInstructions, ToolError> {
    let base = ctx.setting::<IdentitySettings>().public_url;
    Ok(sdk::instructions(args.framework, &base, ctx.project_id()))
}
