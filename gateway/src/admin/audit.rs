//! `/admin/audit`: the audit log, filtered as list_audit_events filters
//! (event type from list_audit_event_types, actor, target, since, until),
//! paged by cursor. Rows show time, type, actor, client, targets, outcome.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::Dash;
use super::views::{Cell, Field, Form, Section, Table, at, next_page};
use crate::app::AppState;
use crate::oauth::form::Params;

const HERE: &str = "/admin/audit";
const FILTERS: [(&str, &str, &str); 5] = [
    ("event_type", "event_type", "Event type"),
    ("actor", "actor_id", "Actor"),
    ("target", "target_id", "Target"),
    ("since", "since", "Since (RFC 3339)"),
    ("until", "until", "Until (RFC 3339)"),
];

pub async fn list(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), HERE).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let params = Params::query(req.uri().query());
    let mut args = json!({"limit": 50});
    let mut kept = Vec::new();
    for (field, arg, _) in FILTERS {
        if let Ok(Some(v)) = params.one(field) {
            args[arg] = json!(v);
            kept.push((field, v));
        }
    }
    if let Ok(Some(c)) = params.one("cursor") {
        args["cursor"] = json!(c);
    }
    let events = match dash.call(&app, "list_audit_events", args).await {
        Ok(p) => p,
        Err(e) => return dash.refused(HERE, "Audit log", &e),
    };
    let types: Vec<String> = match dash
        .call(&app, "list_audit_event_types", json!({"limit": 100}))
        .await
    {
        Ok(t) => t
            .get("data")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let chosen = params.one("event_type").ok().flatten().unwrap_or("");
    let mut options = vec![(String::new(), "any".to_owned(), chosen.is_empty())];
    options.extend(types.into_iter().map(|t| {
        let selected = t == chosen;
        (t.clone(), t, selected)
    }));
    let mut filter = Form::get(HERE, "Filter").field(Field::Select(
        "event_type".into(),
        "Event type".into(),
        options,
    ));
    for (field, _, label) in &FILTERS[1..] {
        let value = params.one(field).ok().flatten().unwrap_or("").to_owned();
        filter = filter.field(Field::Text((*field).into(), (*label).into(), value));
    }
    let rows = events
        .get("data")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    let actor = e.get("actor").cloned().unwrap_or(Value::Null);
                    let client = e.get("client").cloned().unwrap_or(Value::Null);
                    vec![
                        Cell::text(at(e, "created_at")),
                        Cell::text(at(e, "type")),
                        Cell::text(format!("{} {}", at(&actor, "type"), at(&actor, "id"))),
                        Cell::text(at(&client, "name")),
                        Cell::text(at(e, "targets")),
                        Cell::text(at(e, "outcome")),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let table = Table {
        id: "events",
        headers: vec!["Time", "Event", "Actor", "Client", "Targets", "Outcome"],
        rows,
        next: next_page(&events, HERE, &kept),
    };
    dash.render(
        StatusCode::OK,
        HERE,
        "Audit log",
        vec![Section::Form(filter), Section::Table(table)],
    )
}
