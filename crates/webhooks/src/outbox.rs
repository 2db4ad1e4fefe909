//! The outbox: a published change becomes one message (its id is the
//! `webhook-id`) and one pending delivery per listening endpoint, written in
//! the unit of work that made the change. After that unit commits, this
//! process's worker is woken at once; other gateways' workers find the
//! rows at their next poll.

use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::watch;

use authgate_core::changes::{ChangeSink, ChangeType, Outlet};
use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::schema::{webhook_deliveries, webhook_endpoints, webhook_messages};
use authgate_store::{JsonText, Store};

/// Rings when deliveries are queued (after their transaction commits).
pub(crate) fn wake() -> &'static watch::Sender<u64> {
    static WAKE: OnceLock<watch::Sender<u64>> = OnceLock::new();
    WAKE.get_or_init(|| watch::channel(0).0)
}

/// Wakes this process's worker once the unit of work commits.
pub(crate) fn wake_after_commit(conn: &mut Conn<'_>) {
    conn.after_commit(|| {
        wake().send_modify(|n| *n = n.wrapping_add(1));
    });
}

/// The payload every receiver gets, in this key order.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    project_id: &'a str,
    data: serde_json::Value,
}

#[derive(Insertable)]
#[diesel(table_name = webhook_messages)]
struct MessageRow<'a> {
    id: &'a str,
    project_id: &'a str,
    event_type: &'a str,
    payload: &'a str,
    created_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub(crate) struct NewDelivery<'a> {
    pub(crate) id: String,
    pub(crate) project_id: &'a str,
    pub(crate) endpoint_id: &'a str,
    pub(crate) message_id: &'a str,
    pub(crate) event_type: &'a str,
    pub(crate) status: &'static str,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// The webhooks domain's [`ChangeSink`].
pub struct Outbox;

impl Outbox {
    /// Makes changes published through `store` go to its endpoints.
    pub fn attach(store: &Store) {
        authgate_core::attach_change_sink(store, std::sync::Arc::new(Outbox));
    }
}

impl ChangeSink for Outbox {
    fn listeners<'a>(
        &'a self, conn: &'a mut Conn<'_>, project_id: &'a str, change: ChangeType,
    ) -> BoxFuture<'a, Result<Vec<String>, ToolError>> {
        Box::pin(async move {
            let rows: Vec<(String, JsonText<Vec<String>>)> = with_conn!(conn, c => {
                webhook_endpoints::table
                    .filter(webhook_endpoints::project_id.eq(project_id))
                    .filter(webhook_endpoints::disabled.eq(false))
                    .select((webhook_endpoints::id, webhook_endpoints::events))
                    .load(c)
                    .await?
            });
            Ok(rows
                .into_iter()
                .filter(|(_, events)| crate::endpoints::listens(&events.0, change))
                .map(|(id, _)| id)
                .collect())
        })
    }

    fn publish<'a>(
        &'a self, conn: &'a mut Conn<'_>, outlet: &'a Outlet, data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(queue(conn, outlet, data, now))
    }
}

async fn queue(
    conn: &mut Conn<'_>, outlet: &Outlet, data: serde_json::Value, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let project_id = outlet.project_id.as_str();
    let kind = outlet.change.name();
    let payload = serde_json::to_string(&Payload {
        kind,
        timestamp: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        project_id,
        data,
    })
    .map_err(|e| ToolError::internal(format!("a webhook payload: {e}")))?;
    let id = new_id("msg");
    let at = to_micros(now);
    let message = MessageRow {
        id: &id,
        project_id,
        event_type: kind,
        payload: &payload,
        created_at: at,
    };
    let deliveries: Vec<NewDelivery<'_>> = outlet
        .listeners
        .iter()
        .map(|endpoint_id| NewDelivery {
            id: new_id("whd"),
            project_id,
            endpoint_id,
            message_id: &id,
            event_type: kind,
            status: "pending",
            attempts: 0,
            next_attempt_at: Some(at),
            created_at: at,
            updated_at: at,
        })
        .collect();
    with_conn!(conn, c => {
        diesel::insert_into(webhook_messages::table).values(&message).execute(c).await?;
        for d in &deliveries {
            diesel::insert_into(webhook_deliveries::table).values(d).execute(c).await?;
        }
    });
    wake_after_commit(conn);
    Ok(())
}
