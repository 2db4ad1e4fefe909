//! Audit events: what is recorded (bounded: well-formed target ids only,
//! at most 20; client name and version at most 100 characters; no argument
//! value or secret), written in the caller's unit of work and handed to
//! the store's observers there; and read back newest first.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::record::MAX_TARGETS;
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{
    ActorType, Conn, ErrorCode, EventType, Outcome, Page, PageRequest, RequestMeta, ToolError,
    is_well_formed_id, new_id, with_conn,
};
use authgate_store::schema::{audit_event_targets, audit_events};
use authgate_store::{JsonText, Store};

/// An event to record. `metadata` must hold no secret.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub project_id: String,
    pub event_type: EventType,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub tool: Option<String>,
    pub targets: Vec<String>,
    pub arguments_hash: Option<String>,
    pub outcome: Outcome,
    pub error_code: Option<ErrorCode>,
    pub latency_ms: Option<i64>,
    pub request_id: Option<String>,
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// What the detection rules may read and the log never stores (a
    /// tool's kind, whether a call was a dry run, a keyed hash of an
    /// unknown account's email).
    pub hints: BTreeMap<&'static str, String>,
}

impl NewAuditEvent {
    /// An end-user auth event (`sign_in.succeeded`, `sign_out`, ...): the
    /// user is the actor and a target; the IP and user agent go in the
    /// metadata. Never a password, code or token.
    pub fn auth(
        project_id: &str, event_type: EventType, user_id: Option<&str>, meta: &RequestMeta,
        outcome: Outcome,
    ) -> Self {
        let mut metadata = BTreeMap::new();
        if let Some(ip) = &meta.ip {
            metadata.insert("ip".to_owned(), serde_json::Value::from(ip.clone()));
        }
        if let Some(ua) = &meta.user_agent {
            metadata.insert("user_agent".to_owned(), serde_json::Value::from(ua.clone()));
        }
        NewAuditEvent {
            actor_type: if user_id.is_some() {
                ActorType::User
            } else {
                ActorType::Anonymous
            },
            actor_id: user_id.map(str::to_owned),
            targets: user_id.map(|u| vec![u.to_owned()]).unwrap_or_default(),
            outcome,
            request_id: meta.request_id.clone(),
            metadata,
            ..NewAuditEvent::new(project_id, event_type)
        }
    }

    /// An event of `event_type` in `project_id`, by the system, a success.
    pub fn new(project_id: &str, event_type: EventType) -> Self {
        NewAuditEvent {
            project_id: project_id.to_owned(),
            event_type,
            actor_type: ActorType::System,
            actor_id: None,
            client_name: None,
            client_version: None,
            tool: None,
            targets: Vec::new(),
            arguments_hash: None,
            outcome: Outcome::Success,
            error_code: None,
            latency_ms: None,
            request_id: None,
            metadata: BTreeMap::new(),
            hints: BTreeMap::new(),
        }
    }

    /// Appends the event in the caller's unit of work (see [`record`]).
    pub async fn record(
        self, conn: &mut Conn<'_>, now: DateTime<Utc>,
    ) -> Result<String, ToolError> {
        record(conn, self, now).await
    }

    /// Adds a target id.
    pub fn target(mut self, id: &str) -> Self {
        if !self.targets.iter().any(|t| t == id) {
            self.targets.push(id.to_owned());
        }
        self
    }

    /// Adds a metadata value (never a secret).
    pub fn meta(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a hint for the detection rules; never stored.
    pub fn hint(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.hints.insert(key, value.into());
        self
    }

    /// Sets the actor to an API key (an agent's action on a user).
    pub fn by_key(mut self, key_id: &str) -> Self {
        self.actor_type = ActorType::ApiKey;
        self.actor_id = Some(key_id.to_owned());
        self
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Actor {
    /// `api_key`, `user`, `anonymous` or `system`.
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
    targets: JsonText<Vec<String>>,
    arguments_hash: Option<String>,
    outcome: String,
    error_code: Option<String>,
    latency_ms: Option<i64>,
    request_id: Option<String>,
    metadata: JsonText<BTreeMap<String, serde_json::Value>>,
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
            targets: r.targets.0,
            arguments_hash: r.arguments_hash,
            outcome: r.outcome,
            error_code: r.error_code,
            latency_ms: r.latency_ms,
            request_id: r.request_id,
            metadata: r.metadata.0,
            created_at: from_micros(r.created_at),
        }
    }
}

/// Reads each event as it is written, in the unit of work that writes it
/// (the security rules): what it does commits or rolls back with the event.
pub trait AuditObserver: Send + Sync + 'static {
    fn observe<'a>(
        &'a self, conn: &'a mut Conn<'_>, event: &'a RecordedEvent, now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), ToolError>>;
}

/// An event as written: its id, and the event with its targets cut to the
/// well-formed ids that were stored.
#[derive(Debug)]
pub struct RecordedEvent {
    pub id: String,
    pub event: NewAuditEvent,
}

/// The observers of a store's audit log; [`attach_observers`] sets them.
struct Observers(Vec<Arc<dyn AuditObserver>>);

/// Makes every event written through `store` (and its clones) pass by
/// `observers`, in order, inside the event's unit of work.
pub fn attach_observers(store: &Store, observers: Vec<Arc<dyn AuditObserver>>) {
    store.set_extension(Arc::new(Observers(observers)));
}

/// Appends one event, in the caller's unit of work: with the change it
/// records, so the two commit or roll back together. The store's
/// observers read it there.
pub async fn record(
    conn: &mut Conn<'_>, mut event: NewAuditEvent, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    event.targets.retain(|t| is_well_formed_id(t));
    event.targets.dedup();
    event.targets.truncate(MAX_TARGETS);
    let cut = |s: &Option<String>| s.as_ref().map(|v| v.chars().take(100).collect::<String>());
    let row = AuditRow {
        id: new_id("evt"),
        project_id: event.project_id.clone(),
        event_type: event.event_type.name().into_owned(),
        actor_type: event.actor_type.as_str().to_owned(),
        actor_id: cut(&event.actor_id),
        client_name: cut(&event.client_name),
        client_version: cut(&event.client_version),
        tool: cut(&event.tool),
        targets: JsonText(event.targets.clone()),
        arguments_hash: event.arguments_hash.clone(),
        outcome: event.outcome.as_str().to_owned(),
        error_code: event.error_code.map(|c| c.as_str().to_owned()),
        latency_ms: event.latency_ms,
        request_id: cut(&event.request_id),
        metadata: JsonText(event.metadata.clone()),
        created_at: to_micros(now),
    };
    let target_rows: Vec<TargetRow> = event
        .targets
        .iter()
        .map(|target_id| TargetRow {
            project_id: row.project_id.clone(),
            target_id: target_id.clone(),
            event_id: row.id.clone(),
        })
        .collect();
    with_conn!(conn, c => {
        diesel::insert_into(audit_events::table).values(&row).execute(c).await?;
        // One statement per target (at most 20): diesel has no multi-row
        // insert for SQLite behind the async wrapper.
        for target in &target_rows {
            diesel::insert_into(audit_event_targets::table)
                .values(target)
                .execute(c)
                .await?;
        }
    });
    if let Some(observers) = conn.extension::<Observers>() {
        let recorded = RecordedEvent {
            id: row.id.clone(),
            event,
        };
        for observer in &observers.0 {
            observer.observe(conn, &recorded, now).await?;
        }
    }
    Ok(row.id)
}

/// A request refused before any tool ran (a revoked key, a spent budget, a
/// refused Host or session): by the key, `denied`.
#[derive(Debug, Clone)]
pub struct KeyRefusal {
    pub project_id: String,
    pub key_id: String,
    pub event_type: EventType,
    pub error_code: ErrorCode,
    pub targets: Vec<String>,
    pub request_id: String,
}

/// Records a refused request in a unit of work of its own.
pub async fn record_refusal(store: &Store, refusal: KeyRefusal, now: DateTime<Utc>) {
    let event = NewAuditEvent {
        actor_type: ActorType::ApiKey,
        actor_id: Some(refusal.key_id),
        targets: refusal.targets,
        outcome: Outcome::Denied,
        error_code: Some(refusal.error_code),
        request_id: Some(refusal.request_id),
        ..NewAuditEvent::new(&refusal.project_id, refusal.event_type)
    };
    record_alone(store, event, now).await;
}

/// Appends one event in a unit of work of its own (a refusal recorded
/// after its request's work rolled back, or before any began). A failure
/// is logged: the refused request's answer does not depend on it.
pub async fn record_alone(store: &Store, event: NewAuditEvent, now: DateTime<Utc>) {
    let written = store
        .write(async |conn| record(conn, event, now).await)
        .await;
    if let Err(err) = written {
        tracing::warn!(error = %err, "could not write an audit event");
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_event_targets)]
struct TargetRow {
    project_id: String,
    target_id: String,
    event_id: String,
}

/// Filters of [`list_events`]; all optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub actor_id: Option<String>,
    /// Exact match on one of the event's targets.
    pub target_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Where a page of events continues: the last (created_at, id) seen.
fn position(e: &AuditEvent) -> String {
    format!("{}:{}", to_micros(e.created_at), e.id)
}

fn parse_position(pos: &str) -> Result<(i64, String), ToolError> {
    pos.split_once(':')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
        .ok_or_else(|| ToolError::invalid("cursor", "cursor is not valid for this list"))
}

/// Events newest first, keyset-paginated on (created_at, id), which the
/// `(project_id, created_at, id)` index serves, time filters included.
pub async fn list_events(
    conn: &mut Conn<'_>, project_id: &str, filter: &EventFilter, page: &PageRequest,
) -> Result<Page<AuditEvent>, ToolError> {
    let after = page.after.as_deref().map(parse_position).transpose()?;
    let rows: Vec<AuditRow> = with_conn!(conn, c => {
        let mut q = audit_events::table
            .filter(audit_events::project_id.eq(project_id))
            .select(AuditRow::as_select())
            .order((audit_events::created_at.desc(), audit_events::id.desc()))
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(t) = &filter.event_type {
            q = q.filter(audit_events::event_type.eq(t.clone()));
        }
        if let Some(a) = &filter.actor_id {
            q = q.filter(audit_events::actor_id.eq(a.clone()));
        }
        if let Some(t) = &filter.target_id {
            q = q.filter(
                audit_events::id.eq_any(
                    audit_event_targets::table
                        .filter(audit_event_targets::project_id.eq(project_id))
                        .filter(audit_event_targets::target_id.eq(t.clone()))
                        .select(audit_event_targets::event_id),
                ),
            );
        }
        if let Some(s) = filter.since {
            q = q.filter(audit_events::created_at.ge(to_micros(s)));
        }
        if let Some(u) = filter.until {
            q = q.filter(audit_events::created_at.lt(to_micros(u)));
        }
        if let Some((at, id)) = &after {
            q = q.filter(
                audit_events::created_at
                    .lt(*at)
                    .or(audit_events::created_at.eq(*at).and(audit_events::id.lt(id.clone()))),
            );
        }
        q.load(c).await?
    });
    let events = rows.into_iter().map(AuditEvent::from).collect();
    Ok(page.page(events, position))
}

/// How many events of `event_type` target `target_id` since `since`
/// (the `(project_id, target_id)` index finds them).
pub async fn count_targeting(
    conn: &mut Conn<'_>, project_id: &str, target_id: &str, event_type: EventType,
    since: DateTime<Utc>,
) -> Result<i64, ToolError> {
    Ok(with_conn!(conn, c => {
        audit_events::table
            .filter(audit_events::project_id.eq(project_id))
            .filter(audit_events::event_type.eq(event_type.name().as_ref()))
            .filter(audit_events::created_at.ge(to_micros(since)))
            .filter(
                audit_events::id.eq_any(
                    audit_event_targets::table
                        .filter(audit_event_targets::project_id.eq(project_id))
                        .filter(audit_event_targets::target_id.eq(target_id))
                        .select(audit_event_targets::event_id),
                ),
            )
            .count()
            .get_result(c)
            .await?
    }))
}

/// The distinct event types recorded in the project, in name order.
pub async fn list_event_types(
    conn: &mut Conn<'_>, project_id: &str, page: &PageRequest,
) -> Result<Page<String>, ToolError> {
    let rows: Vec<String> = with_conn!(conn, c => {
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
    Ok(page.page(rows, |t: &String| t.clone()))
}
