//! `/admin/providers`: each sign-in provider, whether it is on, its
//! client id (never the secret) and the redirect URI to register with it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::Dash;
use super::views::{Cell, Section, Table, at};
use crate::app::AppState;

const HERE: &str = "/admin/providers";

pub async fn list(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), HERE).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let providers = match dash
        .call(&app, "list_auth_providers", json!({"limit": 100}))
        .await
    {
        Ok(p) => p,
        Err(e) => return dash.refused(HERE, "Sign-in providers", &e),
    };
    let base = app.config.public_url.trim_end_matches('/');
    let rows = providers
        .get("data")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|p| {
                    let name = at(p, "provider");
                    let social = !matches!(
                        name.as_str(),
                        "email" | "magic_link" | "sms" | "phone" | "password"
                    );
                    vec![
                        Cell::text(name.clone()),
                        Cell::text(at(p, "enabled")),
                        Cell::text(at(p, "client_id")),
                        Cell::text(if social {
                            format!("{base}/api/v1/auth/oauth/{name}/callback")
                        } else {
                            "–".to_owned()
                        }),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let sections = vec![
        Section::Notice(
            "ok",
            "Register each social provider's redirect URI at the provider; configure_auth_providers sets the client id and secret (the secret is never shown here).".into(),
        ),
        Section::Table(Table {
            id: "providers",
            headers: vec!["Provider", "Enabled", "Client id", "Redirect URI to register"],
            rows,
            next: None,
        }),
    ];
    dash.render(StatusCode::OK, HERE, "Sign-in providers", sections)
}
