//! `/admin/alerts`: security alerts by status and severity; acknowledge,
//! and resolve with a note.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::{Dash, act};
use super::views::{Cell, Field, Form, Section, Table, at, next_page};
use crate::app::AppState;
use crate::oauth::form::Params;

const HERE: &str = "/admin/alerts";

fn choices(values: &[&str], chosen: &str) -> Vec<(String, String, bool)> {
    let mut out = vec![(String::new(), "any".to_owned(), chosen.is_empty())];
    out.extend(
        values
            .iter()
            .map(|v| ((*v).to_owned(), (*v).to_owned(), *v == chosen)),
    );
    out
}

pub async fn list(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), HERE).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let params = Params::query(req.uri().query());
    let status = params.one("status").ok().flatten().unwrap_or("").to_owned();
    let severity = params
        .one("severity")
        .ok()
        .flatten()
        .unwrap_or("")
        .to_owned();
    let mut args = json!({"limit": 50});
    if !status.is_empty() {
        args["status"] = json!(status);
    }
    if !severity.is_empty() {
        args["severity"] = json!(severity);
    }
    if let Ok(Some(c)) = params.one("cursor") {
        args["cursor"] = json!(c);
    }
    let page = match dash.call(&app, "list_security_alerts", args).await {
        Ok(p) => p,
        Err(e) => return dash.refused(HERE, "Security alerts", &e),
    };
    let rows = page
        .get("data")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|a| {
                    let id = at(a, "id");
                    let state = at(a, "status");
                    let action = if !dash.can_write() || state == "resolved" {
                        Cell::text(at(a, "note"))
                    } else if state == "open" {
                        Cell::action(Form::post(
                            format!("{HERE}/{id}/acknowledge"),
                            "Acknowledge",
                        ))
                    } else {
                        Cell::action(
                            Form::post(format!("{HERE}/{id}/resolve"), "Resolve")
                                .field(Field::Text("note".into(), "Note".into(), String::new())),
                        )
                    };
                    vec![
                        Cell::text(at(a, "opened_at")),
                        Cell::text(at(a, "rule")),
                        Cell::text(at(a, "severity")),
                        Cell::text(state),
                        Cell::text(at(a, "description")),
                        action,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let table = Table {
        id: "alerts",
        headers: vec!["Opened", "Rule", "Severity", "Status", "Description", ""],
        rows,
        next: next_page(&page, HERE, &[("status", &status), ("severity", &severity)]),
    };
    let filter = Form::get(HERE, "Filter")
        .field(Field::Select(
            "status".into(),
            "Status".into(),
            choices(&["open", "acknowledged", "resolved"], &status),
        ))
        .field(Field::Select(
            "severity".into(),
            "Severity".into(),
            choices(&["low", "medium", "high", "critical"], &severity),
        ));
    dash.render(
        StatusCode::OK,
        HERE,
        "Security alerts",
        vec![Section::Form(filter), Section::Table(table)],
    )
}

pub async fn acknowledge(
    State(app): State<Arc<AppState>>, Path(id): Path<String>, req: Request,
) -> Response {
    act(
        &app,
        req,
        HERE,
        "Security alerts",
        "acknowledge_security_alert",
        |_| json!({"alert_id": id}),
    )
    .await
}

pub async fn resolve(
    State(app): State<Arc<AppState>>, Path(id): Path<String>, req: Request,
) -> Response {
    act(
        &app,
        req,
        HERE,
        "Security alerts",
        "resolve_security_alert",
        |p| {
            let mut args = json!({"alert_id": id});
            if let Ok(Some(note)) = p.one("note") {
                args["note"] = json!(note);
            }
            args
        },
    )
    .await
}
