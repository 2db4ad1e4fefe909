//! `/admin/webhooks`: the endpoints and their latest deliveries (replay).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::{Dash, act};
use super::views::{Cell, Form, Section, Table, at, items};
use crate::app::AppState;

const HERE: &str = "/admin/webhooks";

pub async fn list(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), HERE).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let endpoints = match dash
        .call(&app, "list_webhook_endpoints", json!({"limit": 20}))
        .await
    {
        Ok(e) => e,
        Err(e) => return dash.refused(HERE, "Webhooks", &e),
    };
    let deliveries = match dash
        .call(&app, "list_webhook_deliveries", json!({"limit": 50}))
        .await
    {
        Ok(d) => d,
        Err(e) => return dash.refused(HERE, "Webhooks", &e),
    };
    let endpoint_rows = items(&endpoints)
        .iter()
        .map(|e| {
            vec![
                Cell::text(at(e, "url")),
                Cell::text(at(e, "events")),
                Cell::text(at(e, "description")),
                Cell::text(
                    if e.get("disabled").and_then(Value::as_bool).unwrap_or(false) {
                        format!("disabled: {}", at(e, "disabled_reason"))
                    } else {
                        "enabled".to_owned()
                    },
                ),
            ]
        })
        .collect();
    let delivery_rows = items(&deliveries)
        .iter()
        .map(|d| {
            let action = if dash.can_write() {
                Cell::action(Form::post(
                    format!("{HERE}/deliveries/{}/replay", at(d, "id")),
                    "Replay",
                ))
            } else {
                Cell::text("")
            };
            vec![
                Cell::text(at(d, "created_at")),
                Cell::text(at(d, "event_type")),
                Cell::text(at(d, "status")),
                Cell::text(at(d, "attempts")),
                Cell::text(at(d, "last_status_code")),
                action,
            ]
        })
        .collect();
    let sections = vec![
        Section::Table(Table {
            id: "endpoints",
            headers: vec!["URL", "Events", "Description", "State"],
            rows: endpoint_rows,
            next: None,
        }),
        Section::Heading("Latest deliveries".into()),
        Section::Table(Table {
            id: "deliveries",
            headers: vec!["Created", "Event", "Status", "Attempts", "Last answer", ""],
            rows: delivery_rows,
            next: None,
        }),
    ];
    dash.render(StatusCode::OK, HERE, "Webhooks", sections)
}

/// `POST /admin/webhooks/deliveries/{id}/replay`.
pub async fn replay(
    State(app): State<Arc<AppState>>, Path(id): Path<String>, req: Request,
) -> Response {
    act(
        &app,
        req,
        HERE,
        "Webhooks",
        "replay_webhook_delivery",
        |_| json!({"delivery_id": id}),
    )
    .await
}
