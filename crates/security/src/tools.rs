//! The security tools and the open-alert count of get_project_status.

use schemars::JsonSchema;
use serde::Deserialize;

use authgate_core::args::NoArgs;
use authgate_core::{
    Conn, Page, StatusCount, ToolContext, ToolError, ToolGroup, ToolRegistry, require_id, tool,
};

use crate::alerts::{self, Alert, Stats, Status};
use crate::config::Severity;

pub const SECURITY: &str = "security";

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: SECURITY,
            summary: "security alerts raised by detection rules over the audit log: brute force, credential stuffing, revoked keys in use, agents probing...",
        })
        .status_count(StatusCount {
            key: "open_security_alerts",
            description: "Security alerts open (not acknowledged or resolved).",
            sql: "SELECT COUNT(*) FROM security_alerts WHERE project_id = {project} AND status = 'open'",
        })
        .register(ListSecurityAlerts)
        .register(AcknowledgeSecurityAlert)
        .register(ResolveSecurityAlert)
        .register(GetSecurityStats);
}

fn alert_id(id: &str) -> Result<(), ToolError> {
    require_id("alert_id", "alr", id)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSecurityAlertsArgs {
    /// Only alerts in this state (default: all).
    pub status: Option<Status>,
    /// Only alerts of this severity.
    pub severity: Option<Severity>,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
}

/// List security alerts, newest first, by status or severity: one per rule and
/// subject while unresolved, counting its events; each names its rule and what
/// it detects (docs/design.md lists the rules).
#[tool(
    read,
    group = SECURITY,
    title = "List security alerts",
    example = r#"{"status": "open", "severity": "critical", "limit": 20}"#
)]
pub async fn list_security_alerts(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListSecurityAlertsArgs,
) -> Result<Page<Alert>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    alerts::list(conn, ctx.project_id(), args.status, args.severity, &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertIdArgs {
    /// The alert (alr_...), from list_security_alerts.
    pub alert_id: String,
}

/// Acknowledge an open security alert (open → acknowledged): someone is on it.
/// Events still count on it.
#[tool(
    write,
    group = SECURITY,
    title = "Acknowledge security alert",
    example = r#"{"alert_id": "alr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#
)]
pub async fn acknowledge_security_alert(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: AlertIdArgs,
) -> Result<Alert, ToolError> {
    alert_id(&args.alert_id)?;
    alerts::acknowledge(
        conn,
        ctx.project_id(),
        &args.alert_id,
        &ctx.caller.key_id,
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveArgs {
    /// The alert (alr_...), from list_security_alerts.
    pub alert_id: String,
    /// What was found or done, at most 1,000 characters.
    pub note: Option<String>,
}

/// Resolve a security alert with a note; the next matching event opens a new
/// alert.
#[tool(
    write,
    group = SECURITY,
    title = "Resolve security alert",
    example = r#"{"alert_id": "alr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "note": "the user confirmed it was them; password changed"}"#
)]
pub async fn resolve_security_alert(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ResolveArgs,
) -> Result<Alert, ToolError> {
    alert_id(&args.alert_id)?;
    alerts::resolve(
        conn,
        ctx.project_id(),
        &args.alert_id,
        &ctx.caller.key_id,
        args.note.as_deref(),
        ctx.now(),
    )
    .await
}

/// Security alert counts by status, and the unresolved ones by severity and by
/// rule.
#[tool(read, group = SECURITY, title = "Security alert statistics")]
pub async fn get_security_stats(
    ctx: &ToolContext, conn: &mut Conn<'_>, _args: NoArgs,
) -> Result<Stats, ToolError> {
    alerts::stats(conn, ctx.project_id()).await
}
