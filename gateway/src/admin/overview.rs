//! `/admin`: the project at a glance, from get_project_status.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::Dash;
use super::views::{Section, at};
use crate::app::AppState;

/// The status counts, as labelled on the page.
const COUNTS: &[(&str, &str)] = &[
    ("end_users", "End users"),
    ("organizations", "Organizations"),
    ("active_sessions", "Active sessions"),
    ("active_api_keys", "Active API keys"),
    ("open_security_alerts", "Open security alerts"),
    ("roles", "Roles"),
    ("callbacks", "Callback URLs"),
];

pub async fn page(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), "/admin").await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let status = match dash.call(&app, "get_project_status", json!({})).await {
        Ok(s) => s,
        Err(e) => return dash.refused("/admin", "Overview", &e),
    };
    let counts = status.get("counts").cloned().unwrap_or(Value::Null);
    let mut fields: Vec<(String, String)> = COUNTS
        .iter()
        .map(|(k, label)| ((*label).to_owned(), at(&counts, k)))
        .collect();
    if let Some(w) = status.get("webhooks") {
        fields.push(("Webhook endpoints".into(), at(w, "endpoints")));
        fields.push((
            "Queued webhook deliveries".into(),
            at(w, "queued_deliveries"),
        ));
    }
    let providers: Vec<String> = status
        .get("auth_providers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|p| p.get("enabled").and_then(Value::as_bool).unwrap_or(false))
                .map(|p| at(p, "provider"))
                .collect()
        })
        .unwrap_or_default();
    let names = |key: &str| -> String {
        let listed: Vec<String> = status
            .get(key)
            .and_then(Value::as_array)
            .map(|l| l.iter().map(|x| at(x, "name")).collect())
            .unwrap_or_default();
        if listed.is_empty() {
            "None yet.".to_owned()
        } else {
            listed.join(", ")
        }
    };
    let sections = vec![
        Section::Fields(fields),
        Section::Heading("Newest organizations".into()),
        Section::Notice("ok", names("organizations")),
        Section::Heading("Billing plans".into()),
        Section::Notice("ok", names("billing_plans")),
        Section::Heading("Roles".into()),
        Section::Notice("ok", names("roles")),
        Section::Heading("Sign-in providers enabled".into()),
        Section::Notice(
            "ok",
            if providers.is_empty() {
                "None yet: configure_auth_providers turns them on.".into()
            } else {
                providers.join(", ")
            },
        ),
    ];
    dash.render(StatusCode::OK, "/admin", "Overview", sections)
}
