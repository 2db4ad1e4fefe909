//! The session tools.

use schemars::JsonSchema;
use serde::Deserialize;

use authgate_core::{
    Conn, Page, RequestMeta, ToolContext, ToolError, ToolGroup, ToolRegistry, require_id, tool,
};

use crate::sessions::{self, RevokedBy, Session};

pub const SESSIONS: &str = "sessions";

pub fn register(registry: &mut ToolRegistry) {
    registry.group(ToolGroup {
        name: SESSIONS,
        summary: "end users' sign-in sessions: list, inspect, revoke",
    });
    crate::sections::register(registry);
    registry
        .register(ListSessions)
        .register(GetSession)
        .register(RevokeSession);
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSessionsArgs {
    /// Only this end user's sessions (usr_...).
    pub user_id: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
}

/// List active sessions, newest first, optionally of one end user.
#[tool(read, group = SESSIONS, title = "List sessions", example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn list_sessions(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListSessionsArgs,
) -> Result<Page<Session>, ToolError> {
    if let Some(user) = &args.user_id {
        require_id("user_id", "usr", user)?;
    }
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    sessions::list_active_sessions(
        conn,
        ctx.project_id(),
        args.user_id.as_deref(),
        &page,
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIdArgs {
    /// The session id (ses_...).
    pub session_id: String,
}

/// Get one session with all its details, revoked or expired ones too.
#[tool(read, group = SESSIONS, title = "Get session", example = r#"{"session_id": "ses_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn get_session(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: SessionIdArgs,
) -> Result<Session, ToolError> {
    require_id("session_id", "ses", &args.session_id)?;
    sessions::get_session(conn, ctx.project_id(), &args.session_id, ctx.now()).await
}

/// Revoke a session at once: its refresh token stops working, and its
/// access tokens are refused (verify_token reports session_revoked).
/// Revoking a revoked session changes nothing.
#[tool(
    write,
    group = SESSIONS,
    title = "Revoke session",
    idempotent,
    example = r#"{"session_id": "ses_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#
)]
pub async fn revoke_session(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: SessionIdArgs,
) -> Result<Session, ToolError> {
    require_id("session_id", "ses", &args.session_id)?;
    let meta = RequestMeta::new(None, None, Some(ctx.request_id.clone()));
    sessions::revoke_session(
        conn,
        ctx.project_id(),
        &args.session_id,
        RevokedBy::Key(&ctx.caller.key_id),
        &meta,
        ctx.now(),
    )
    .await
}
