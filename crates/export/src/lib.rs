//! export_user_data: one JSON document with everything the project holds
//! about an end user. Each domain contributes through the user-data section
//! it registers (the same sections delete_end_user counts), so a new table
//! of personal data is exported as soon as its domain covers it, and the
//! catalogue test fails while none does. Audit events where the user is the
//! actor or a target are added from the audit domain.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use authgate_audit::{AuditEvent, EventFilter};
use authgate_core::{
    Conn, ToolContext, ToolError, ToolGroup, ToolRegistry, UserRef, require_id, tool, with_conn,
};
use authgate_store::schema::end_users;

pub const PRIVACY: &str = "privacy";

/// Audit events exported at most, per role (actor, target).
const MAX_EVENTS: usize = 1000;

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: PRIVACY,
            summary: "GDPR: everything the project holds about one end user, as one document",
        })
        .register(ExportUserData);
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    /// The end user (usr_...).
    pub user_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UserExport {
    pub user_id: String,
    pub email: String,
    pub exported_at: DateTime<Utc>,
    /// Each domain's data about the user, by domain: identity (profile,
    /// password status, linked accounts, MFA factors; no secret), sessions,
    /// organizations (memberships, invitations to the address), billing
    /// (subscriptions, usage).
    pub data: BTreeMap<String, Value>,
    /// Audit events where the user is the actor or a target, newest first.
    pub audit_events: Vec<AuditEvent>,
    /// True when there were more than 1,000 events of either kind.
    pub audit_events_truncated: bool,
}

async fn events(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    filter: EventFilter,
) -> Result<(Vec<AuditEvent>, bool), ToolError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ctx.page(Some(100), cursor.as_deref())?;
        let got = authgate_audit::list_events(conn, ctx.project_id(), &filter, &page).await?;
        out.extend(got.data);
        if out.len() >= MAX_EVENTS {
            out.truncate(MAX_EVENTS);
            return Ok((out, got.has_more));
        }
        if !got.has_more {
            return Ok((out, false));
        }
        cursor = got.next_cursor;
    }
}

/// Everything the project holds about one end user, as one JSON document:
/// profile, linked accounts, MFA factors (no secrets), sessions,
/// memberships, invitations to their email, subscriptions and usage, and
/// the audit events where they are the actor or a target.
#[tool(read, group = PRIVACY, title = "Export user data", example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn export_user_data(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: ExportArgs,
) -> Result<UserExport, ToolError> {
    require_id("user_id", "usr", &args.user_id)?;
    let project = ctx.project_id();
    let email: Option<String> = with_conn!(conn, c => {
        end_users::table
            .filter(end_users::project_id.eq(project))
            .filter(end_users::id.eq(&args.user_id))
            .select(end_users::email)
            .first(c)
            .await
            .optional()?
    });
    let email = email.ok_or_else(|| {
        ToolError::not_found(format!(
            "end user {} not found in this project",
            args.user_id
        ))
        .with_field("user_id")
        .with_hint("list_end_users shows the users of this project")
    })?;
    let user = UserRef {
        id: args.user_id.clone(),
        email: email.clone(),
    };
    let mut data = BTreeMap::new();
    for section in ctx.registry.user_data() {
        data.insert(
            section.name().to_owned(),
            section.export(conn, project, &user).await?,
        );
    }
    let as_actor = EventFilter {
        actor_id: Some(user.id.clone()),
        ..Default::default()
    };
    let as_target = EventFilter {
        target_id: Some(user.id.clone()),
        ..Default::default()
    };
    let (mut audit, more_a) = events(ctx, conn, as_actor).await?;
    let (targeted, more_t) = events(ctx, conn, as_target).await?;
    for e in targeted {
        if !audit.iter().any(|a| a.id == e.id) {
            audit.push(e);
        }
    }
    audit.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    Ok(UserExport {
        user_id: user.id,
        email,
        exported_at: ctx.now(),
        data,
        audit_events: audit,
        audit_events_truncated: more_a || more_t,
    })
}
