//! `/admin/orgs`: organizations, and one with its members, invitations
//! and metadata.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::Dash;
use super::views::{Cell, Field, Form, Section, Table, at, next_page};
use crate::app::AppState;
use crate::oauth::form::Params;

const HERE: &str = "/admin/orgs";

pub async fn list(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), HERE).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let params = Params::query(req.uri().query());
    let query = params.one("query").ok().flatten().unwrap_or("").to_owned();
    let mut args = json!({"limit": 20});
    if !query.is_empty() {
        args["query"] = json!(query);
    }
    if let Ok(Some(c)) = params.one("cursor") {
        args["cursor"] = json!(c);
    }
    let page = match dash.call(&app, "list_orgs", args).await {
        Ok(p) => p,
        Err(e) => return dash.refused(HERE, "Organizations", &e),
    };
    let table = Table {
        id: "orgs",
        headers: vec!["Name", "Slug", "Members", "Created"],
        rows: page
            .get("data")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|o| {
                        vec![
                            Cell::link(at(o, "name"), format!("{HERE}/{}", at(o, "id"))),
                            Cell::text(at(o, "slug")),
                            Cell::text(at(o, "member_count")),
                            Cell::text(at(o, "created_at")),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default(),
        next: next_page(&page, HERE, &[("query", &query)]),
    };
    let filter =
        Form::get(HERE, "Search").field(Field::Text("query".into(), "Name or slug".into(), query));
    dash.render(
        StatusCode::OK,
        HERE,
        "Organizations",
        vec![Section::Form(filter), Section::Table(table)],
    )
}

pub async fn detail(
    State(app): State<Arc<AppState>>, Path(id): Path<String>, req: Request,
) -> Response {
    let here = format!("{HERE}/{id}");
    let dash = match Dash::open(&app, req.headers(), &here).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let org = match dash.call(&app, "get_org", json!({"org_id": id})).await {
        Ok(o) => o,
        Err(e) => return dash.refused(HERE, "Organization", &e),
    };
    let people = |name: &str, cols: &[&str]| -> Vec<Vec<Cell>> {
        org.get(name)
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|m| cols.iter().map(|c| Cell::text(at(m, c))).collect())
                    .collect()
            })
            .unwrap_or_default()
    };
    let sections = vec![
        Section::Fields(vec![
            ("Id".into(), at(&org, "id")),
            ("Name".into(), at(&org, "name")),
            ("Slug".into(), at(&org, "slug")),
            ("Members".into(), at(&org, "member_count")),
            ("Metadata".into(), at(&org, "metadata")),
            ("Created".into(), at(&org, "created_at")),
        ]),
        Section::Heading("Members".into()),
        Section::Table(Table {
            id: "members",
            headers: vec!["User", "Email", "Role", "Joined"],
            rows: people("members", &["user_id", "email", "role", "created_at"]),
            next: None,
        }),
        Section::Heading("Pending invitations".into()),
        Section::Table(Table {
            id: "invitations",
            headers: vec!["Email", "Role", "Expires"],
            rows: people("pending_invitations", &["email", "role", "expires_at"]),
            next: None,
        }),
    ];
    dash.render(
        StatusCode::OK,
        HERE,
        &format!("Organization {}", at(&org, "name")),
        sections,
    )
}
