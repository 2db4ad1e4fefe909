//! The GDPR export of one end user.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use authgate_audit::{AuditEvent, EventFilter};
use authgate_core::{Conn, ToolContext, ToolError, UserRef};

#[derive(Debug, Serialize, JsonSchema)]
pub struct UserExport {
    pub user_id: String,
    pub email: Option<String>,
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

/// Audit events exported at most, per role (actor, target).
const MAX_EVENTS: usize = 1000;

async fn events(
    ctx: &ToolContext, conn: &mut Conn<'_>, filter: EventFilter,
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
/// every domain's user-data section and the audit events where the user
/// is the actor or a target (at most 1,000 of each, newest first).
pub async fn export_user(
    ctx: &ToolContext, conn: &mut Conn<'_>, user_id: &str,
) -> Result<UserExport, ToolError> {
    let project = ctx.project_id();
    let found = authgate_identity::require_user(conn, project, user_id).await?;
    let now = ctx.now();
    let user = UserRef {
        project_id: project.to_owned(),
        id: found.id,
        email: found.email.clone(),
        at: now,
    };
    let mut data = BTreeMap::new();
    for section in ctx.domains.user_data() {
        data.insert(
            section.name().to_owned(),
            section.export(conn, &user).await?,
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
        email: found.email,
        exported_at: now,
        data,
        audit_events: audit,
        audit_events_truncated: more_a || more_t,
    })
}
