//! `/admin/keys`: the project's API keys, OAuth grants included (with the
//! client's name); create one (the key is shown once, in the answer to the
//! POST that made it: never in a URL, a redirect or a later page); revoke
//! one after a confirmation that shows the dry run.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::Dash;
use super::views::{Cell, Field, Form, Section, Table, at, next_page};
use crate::app::AppState;
use crate::oauth::form::Params;

const HERE: &str = "/admin/keys";

fn key_table(dash: &Dash, page: &Value, cursor_base: &str) -> Table {
    let rows = page
        .get("data")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .map(|k| {
                    let kind = match k.get("client_name").and_then(Value::as_str) {
                        Some(client) => format!("OAuth grant: {client}"),
                        None => "key".to_owned(),
                    };
                    let revoked = !k.get("revoked_at").is_none_or(Value::is_null);
                    let action = if dash.can_write() && !revoked {
                        Cell::action(
                            Form::post(format!("{HERE}/{}/revoke", at(k, "id")), "Revoke…")
                                .danger(),
                        )
                    } else {
                        Cell::text(if revoked { "revoked" } else { "" })
                    };
                    vec![
                        Cell::text(at(k, "name")),
                        Cell::text(at(k, "prefix")),
                        Cell::text(kind),
                        Cell::text(at(k, "scopes")),
                        Cell::text(at(k, "tools")),
                        Cell::text(at(k, "last_used_at")),
                        action,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    Table {
        id: "keys",
        headers: vec!["Name", "Prefix", "Kind", "Scopes", "Tools", "Last used", ""],
        rows,
        next: next_page(page, cursor_base, &[]),
    }
}

fn create_form(app: &AppState) -> Form {
    let groups = app
        .registry
        .catalog()
        .groups()
        .into_iter()
        .map(|g| (format!("group:{g}"), g.to_owned(), false))
        .collect();
    Form {
        inline: false,
        ..Form::post(HERE, "Create key")
    }
    .field(Field::Text("name".into(), "Name".into(), String::new()))
    .field(Field::Checks(
        "scopes".into(),
        "Scopes".into(),
        vec![
            ("read".into(), "read".into(), true),
            ("write".into(), "write".into(), false),
            ("admin".into(), "admin".into(), false),
        ],
    ))
    .field(Field::Checks(
        "tools".into(),
        "Tool groups (none ticked: every tool)".into(),
        groups,
    ))
    .field(Field::Text(
        "tools".into(),
        "Tool names (comma-separated)".into(),
        String::new(),
    ))
}

async fn listing(
    app: &AppState, dash: &Dash, cursor: Option<&str>,
) -> Result<Vec<Section>, Response> {
    let mut args = json!({"limit": 50});
    if let Some(c) = cursor {
        args["cursor"] = json!(c);
    }
    let page = dash
        .call(app, "list_api_keys", args)
        .await
        .map_err(|e| dash.refused(HERE, "API keys", &e))?;
    let mut sections = vec![Section::Table(key_table(dash, &page, HERE))];
    if dash.can_write() {
        sections.push(Section::Heading("Create a key".into()));
        sections.push(Section::Form(create_form(app)));
    }
    Ok(sections)
}

pub async fn list(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), HERE).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let params = Params::query(req.uri().query());
    match listing(&app, &dash, params.one("cursor").ok().flatten()).await {
        Ok(sections) => dash.render(StatusCode::OK, HERE, "API keys", sections),
        Err(resp) => resp,
    }
}

/// `POST /admin/keys`: create_api_key; the key is in this answer only.
pub async fn create(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (dash, params) = match Dash::form(&app, req, HERE).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let tools: Vec<String> = params
        .all("tools")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    let mut args = json!({"scopes": params.all("scopes")});
    if let Ok(Some(name)) = params.one("name") {
        args["name"] = json!(name);
    }
    if !tools.is_empty() {
        args["tools"] = json!(tools);
    }
    let created = match dash.call(&app, "create_api_key", args).await {
        Ok(c) => c,
        Err(e) => return dash.refused(HERE, "API keys", &e),
    };
    let sections = vec![
        Section::Secret(
            "Copy the key now: it is shown this once and cannot be shown again.".into(),
            at(&created, "key"),
        ),
        Section::Fields(vec![
            ("Id".into(), at(&created, "id")),
            ("Name".into(), at(&created, "name")),
            ("Scopes".into(), at(&created, "scopes")),
            ("Tools".into(), at(&created, "tools")),
        ]),
    ];
    dash.render(StatusCode::OK, HERE, "Key created", sections)
}

/// `POST /admin/keys/{id}/revoke`: the dry run to confirm, then (with
/// `confirm=yes`) the revocation.
pub async fn revoke(
    State(app): State<Arc<AppState>>, Path(id): Path<String>, req: Request,
) -> Response {
    let (dash, params) = match Dash::form(&app, req, HERE).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let confirmed = params.one("confirm").ok().flatten() == Some("yes");
    let result = match dash
        .call(
            &app,
            "revoke_api_key",
            json!({"key_id": id, "dry_run": !confirmed}),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return dash.refused(HERE, "API keys", &e),
    };
    let key = result.get("api_key").cloned().unwrap_or(Value::Null);
    let fields = vec![
        ("Id".into(), at(&key, "id")),
        ("Name".into(), at(&key, "name")),
        ("Prefix".into(), at(&key, "prefix")),
        ("Scopes".into(), at(&key, "scopes")),
        ("Revoked".into(), at(&key, "revoked_at")),
    ];
    if confirmed {
        let mut sections = vec![Section::Notice("ok", format!("Key {id} is revoked."))];
        sections.push(Section::Fields(fields));
        return dash.render(StatusCode::OK, HERE, "Key revoked", sections);
    }
    let sections = vec![
        Section::Notice(
            "warn",
            "Revoking this key stops every request made with it at once, on every gateway. This is what would be revoked:".into(),
        ),
        Section::Fields(fields),
        Section::Form(
            Form::post(format!("{HERE}/{id}/revoke"), "Revoke the key")
                .field(Field::Hidden("confirm".into(), "yes".into()))
                .danger(),
        ),
    ];
    dash.render(StatusCode::OK, HERE, "Revoke a key?", sections)
}
