//! Deliveries: one message to one endpoint, with what its attempts met.
//! Listed newest first; a replay queues the same message (same
//! `webhook-id`) to its endpoint again.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, Page, PageRequest, ToolError, new_id, with_conn};
use authgate_store::schema::webhook_deliveries;

use crate::outbox::{NewDelivery, wake_after_commit};

/// A delivery as tools show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WebhookDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    /// The `webhook-id` header: the same on every attempt and replay.
    pub webhook_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    /// The first 1 KiB of the last answer.
    pub last_response: Option<String>,
    /// e.g. `timeout`, `refused: private address`, `endpoint_disabled`.
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = webhook_deliveries)]
pub(crate) struct DeliveryRow {
    pub(crate) id: String,
    pub(crate) endpoint_id: String,
    pub(crate) message_id: String,
    pub(crate) event_type: String,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) last_status_code: Option<i64>,
    pub(crate) last_response: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) created_at: i64,
}

impl DeliveryRow {
    fn view(&self) -> WebhookDelivery {
        WebhookDelivery {
            id: self.id.clone(),
            endpoint_id: self.endpoint_id.clone(),
            event_type: self.event_type.clone(),
            webhook_id: self.message_id.clone(),
            status: self.status.clone(),
            attempts: self.attempts,
            last_status_code: self.last_status_code,
            last_response: self.last_response.clone(),
            last_error: self.last_error.clone(),
            next_attempt_at: self.next_attempt_at.map(from_micros),
            created_at: from_micros(self.created_at),
        }
    }
}

/// Filters of [`list_deliveries`].
#[derive(Debug, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<String>,
    pub event_type: Option<String>,
    pub status: Option<String>,
}

/// The project's deliveries, newest first.
pub async fn list_deliveries(
    conn: &mut Conn<'_>, project_id: &str, filter: &DeliveryFilter, page: &PageRequest,
) -> Result<Page<WebhookDelivery>, ToolError> {
    let rows: Vec<DeliveryRow> = with_conn!(conn, c => {
        let mut q = webhook_deliveries::table
            .filter(webhook_deliveries::project_id.eq(project_id))
            .select(DeliveryRow::as_select())
            .order(webhook_deliveries::id.desc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(e) = &filter.endpoint_id {
            q = q.filter(webhook_deliveries::endpoint_id.eq(e.clone()));
        }
        if let Some(t) = &filter.event_type {
            q = q.filter(webhook_deliveries::event_type.eq(t.clone()));
        }
        if let Some(s) = &filter.status {
            q = q.filter(webhook_deliveries::status.eq(s.clone()));
        }
        if let Some(after) = &page.after {
            q = q.filter(webhook_deliveries::id.lt(after.clone()));
        }
        q.load(c).await?
    });
    let items = rows.iter().map(DeliveryRow::view).collect();
    Ok(page.page(items, |d: &WebhookDelivery| d.id.clone()))
}

/// Queues a delivery's message to its endpoint again, due now, with the
/// same `webhook-id`. The endpoint must be enabled.
pub async fn replay_delivery(
    conn: &mut Conn<'_>, project_id: &str, delivery_id: &str, now: DateTime<Utc>,
) -> Result<WebhookDelivery, ToolError> {
    let found: Option<DeliveryRow> = with_conn!(conn, c => {
        webhook_deliveries::table
            .filter(webhook_deliveries::project_id.eq(project_id))
            .filter(webhook_deliveries::id.eq(delivery_id))
            .select(DeliveryRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let old = found.ok_or_else(|| {
        ToolError::not_found(format!("no webhook delivery {delivery_id} in this project"))
            .with_field("delivery_id")
            .with_hint("list_webhook_deliveries shows this project's deliveries")
    })?;
    let endpoint = crate::endpoints::load(conn, project_id, &old.endpoint_id).await?;
    if endpoint.disabled {
        return Err(ToolError::precondition(format!(
            "endpoint {} is disabled; enable it first (update_webhook_endpoint with disabled: false)",
            endpoint.id
        ))
        .with_field("delivery_id"));
    }
    let at = to_micros(now);
    let new = NewDelivery {
        id: new_id("whd"),
        project_id,
        endpoint_id: &old.endpoint_id,
        message_id: &old.message_id,
        event_type: &old.event_type,
        status: "pending",
        attempts: 0,
        next_attempt_at: Some(at),
        created_at: at,
        updated_at: at,
    };
    with_conn!(conn, c => {
        diesel::insert_into(webhook_deliveries::table).values(&new).execute(c).await?;
    });
    wake_after_commit(conn);
    Ok(WebhookDelivery {
        id: new.id,
        status: "pending".into(),
        attempts: 0,
        last_status_code: None,
        last_response: None,
        last_error: None,
        next_attempt_at: Some(now),
        created_at: now,
        ..old.view()
    })
}
