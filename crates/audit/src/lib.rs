//! The audit log: one append-only table of events per project, written for
//! every write and danger tool call, every refused call, and (later) every
//! end-user auth event; read newest first through the audit tools.

pub mod tools;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::pagination::CursorCodec;
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Page, PageRequest, ToolError, new_id};
use authgate_store::schema::audit_events;
use authgate_store::{Store, with_conn};

pub use tools::register;

/// An event to record. `metadata` must hold no secret.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent {
    pub project_id: String,
    pub event_type: String,
    /// `api_key`, `user` or `system`.
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub tool: Option<String>,
    pub targets: Vec<String>,
    pub arguments_hash: Option<String>,
    /// `success`, `error` or `denied`.
    pub outcome: String,
    pub error_code: Option<String>,
    pub latency_ms: Option<i64>,
    pub request_id: Option<String>,
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Actor {
    /// `api_key`, `user` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ClientInfo {
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditEvent {
    pub id: String,
    /// e.g. `tool.add_callback`, `api_key.revoked_key_used`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor: Actor,
    /// The MCP client (from `initialize`), when known.
    pub client: ClientInfo,
    pub tool: Option<String>,
    /// Ids the event concerns.
    pub targets: Vec<String>,
    /// Keyed hash of the call's arguments: equal arguments, equal hash; not reversible.
    pub arguments_hash: Option<String>,
    /// `success`, `error` or `denied`.
    pub outcome: String,
    pub error_code: Option<String>,
    pub latency_ms: Option<i64>,
    pub request_id: Option<String>,
    pub metadata: BTreeMap<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
struct AuditRow {
    id: String,
    project_id: String,
    event_type: String,
    actor_type: String,
    actor_id: Option<String>,
    client_name: Option<String>,
    client_version: Option<String>,
    tool: Option<String>,
    targets: String,
    arguments_hash: Option<String>,
    outcome: String,
    error_code: Option<String>,
    latency_ms: Option<i64>,
    request_id: Option<String>,
    metadata: String,
    created_at: i64,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            event_type: r.event_type,
            actor: Actor {
                kind: r.actor_type,
                id: r.actor_id,
            },
            client: ClientInfo {
                name: r.client_name,
                version: r.client_version,
            },
            tool: r.tool,
            targets: serde_json::from_str(&r.targets).unwrap_or_default(),
            arguments_hash: r.arguments_hash,
            outcome: r.outcome,
            error_code: r.error_code,
            latency_ms: r.latency_ms,
            request_id: r.request_id,
            metadata: serde_json::from_str(&r.metadata).unwrap_or_default(),
            created_at: from_micros(r.created_at),
        }
    }
}

/// Appends one event.
pub async fn record(
    store: &Store,
    event: NewAuditEvent,
    now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let row = AuditRow {
        id: new_id("evt"),
        project_id: event.project_id,
        event_type: event.event_type,
        actor_type: event.actor_type,
        actor_id: event.actor_id,
        client_name: event.client_name,
        client_version: event.client_version,
        tool: event.tool,
        targets: serde_json::Value::from(event.targets).to_string(),
        arguments_hash: event.arguments_hash,
        outcome: event.outcome,
        error_code: event.error_code,
        latency_ms: event.latency_ms,
        request_id: event.request_id,
        metadata: serde_json::to_string(&event.metadata).unwrap_or_else(|_| "{}".into()),
        created_at: to_micros(now),
    };
    let mut conn = store.conn().await?;
    with_conn!(&mut conn, c => {
        diesel::insert_into(audit_events::table).values(&row).execute(c).await?;
    });
    Ok(row.id)
}

/// Filters of [`list_events`]; all optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Events newest first, keyset-paginated on the (time-ordered) id.
pub async fn list_events(
    store: &Store,
    project_id: &str,
    filter: &EventFilter,
    page: &PageRequest,
    codec: &CursorCodec,
) -> Result<Page<AuditEvent>, ToolError> {
    // Ids are [A-Za-z0-9_] only (checked by the tool), so the pattern needs no escaping.
    let target_pattern = filter.target_id.as_ref().map(|t| format!("%\"{t}\"%"));
    let mut conn = store.conn().await?;
    let rows: Vec<AuditRow> = with_conn!(&mut conn, c => {
        let mut q = audit_events::table
            .filter(audit_events::project_id.eq(project_id))
            .select(AuditRow::as_select())
            .order(audit_events::id.desc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(t) = &filter.event_type {
            q = q.filter(audit_events::event_type.eq(t.clone()));
        }
        if let Some(a) = &filter.actor_id {
            q = q.filter(audit_events::actor_id.eq(a.clone()));
        }
        if let Some(p) = &target_pattern {
            q = q.filter(audit_events::targets.like(p.clone()));
        }
        if let Some(s) = filter.since {
            q = q.filter(audit_events::created_at.ge(to_micros(s)));
        }
        if let Some(u) = filter.until {
            q = q.filter(audit_events::created_at.lt(to_micros(u)));
        }
        if let Some(after) = &page.after {
            q = q.filter(audit_events::id.lt(after.clone()));
        }
        q.load(c).await?
    });
    let events = rows.into_iter().map(AuditEvent::from).collect();
    Ok(codec.page(page, project_id, events, |e: &AuditEvent| e.id.clone()))
}

/// The distinct event types recorded in the project, in name order.
pub async fn list_event_types(
    store: &Store,
    project_id: &str,
    page: &PageRequest,
    codec: &CursorCodec,
) -> Result<Page<String>, ToolError> {
    let mut conn = store.conn().await?;
    let rows: Vec<String> = with_conn!(&mut conn, c => {
        let mut q = audit_events::table
            .filter(audit_events::project_id.eq(project_id))
            .select(audit_events::event_type)
            .distinct()
            .order(audit_events::event_type.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = &page.after {
            q = q.filter(audit_events::event_type.gt(after.clone()));
        }
        q.load(c).await?
    });
    Ok(codec.page(page, project_id, rows, |t: &String| t.clone()))
}
