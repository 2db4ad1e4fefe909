//! `/admin/users`: end users (filter by email, cursor paging) and one
//! user's detail: linked accounts, MFA, sessions (each revocable).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::{Dash, act};
use super::views::{Cell, Field, Form, Section, Table, at, items, next_page};
use crate::app::AppState;
use crate::oauth::form::Params;

const HERE: &str = "/admin/users";

pub async fn list(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), HERE).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let params = Params::query(req.uri().query());
    let email = params.one("email").ok().flatten().unwrap_or("").to_owned();
    let mut args = json!({"limit": 20});
    if !email.is_empty() {
        args["email_contains"] = json!(email);
    }
    if let Ok(Some(c)) = params.one("cursor") {
        args["cursor"] = json!(c);
    }
    let page = match dash.call(&app, "list_end_users", args).await {
        Ok(p) => p,
        Err(e) => return dash.refused(HERE, "End users", &e),
    };
    let table = Table {
        id: "users",
        headers: vec!["Email", "Name", "Verified", "Created", "Last sign-in"],
        rows: items(&page)
            .iter()
            .map(|u| {
                vec![
                    Cell::link(at(u, "email"), format!("{HERE}/{}", at(u, "id"))),
                    Cell::text(at(u, "name")),
                    Cell::text(at(u, "email_verified")),
                    Cell::text(at(u, "created_at")),
                    Cell::text(at(u, "last_sign_in_at")),
                ]
            })
            .collect(),
        next: next_page(&page, HERE, &[("email", &email)]),
    };
    let filter = Form::get(HERE, "Filter").field(Field::Text(
        "email".into(),
        "Email contains".into(),
        email,
    ));
    dash.render(
        StatusCode::OK,
        HERE,
        "End users",
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
    let user = match dash
        .call(&app, "get_end_user", json!({"user_id": id}))
        .await
    {
        Ok(u) => u,
        Err(e) => return dash.refused(HERE, "End user", &e),
    };
    let sessions = match dash
        .call(&app, "list_sessions", json!({"user_id": id, "limit": 100}))
        .await
    {
        Ok(s) => s,
        Err(e) => return dash.refused(HERE, "End user", &e),
    };
    let memberships = match dash
        .call(
            &app,
            "list_user_memberships",
            json!({"user_id": id, "limit": 100}),
        )
        .await
    {
        Ok(m) => m,
        Err(e) => return dash.refused(HERE, "End user", &e),
    };
    let mut sections = vec![Section::Fields(vec![
        ("Id".into(), at(&user, "id")),
        ("Email".into(), at(&user, "email")),
        ("Name".into(), at(&user, "name")),
        ("Email verified".into(), at(&user, "email_verified")),
        ("Phone".into(), at(&user, "phone")),
        ("Metadata".into(), at(&user, "metadata")),
        ("Created".into(), at(&user, "created_at")),
    ])];
    if dash.can_write() {
        sections.push(Section::Form(Form::post(
            format!("{here}/password-reset"),
            "Send a password reset",
        )));
        let verified = user
            .get("email_verified")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        sections.push(Section::Form(
            Form::post(
                format!("{here}/verified"),
                if verified {
                    "Mark the email unverified"
                } else {
                    "Mark the email verified"
                },
            )
            .field(Field::Hidden("verified".into(), (!verified).to_string())),
        ));
    }
    sections.push(Section::Heading("Organizations".into()));
    sections.push(Section::Table(Table {
        id: "memberships",
        headers: vec!["Organization", "Role", "Joined"],
        rows: items(&memberships)
            .iter()
            .map(|m| {
                vec![
                    Cell::link(
                        at(m, "org_name"),
                        format!("/admin/orgs/{}", at(m, "org_id")),
                    ),
                    Cell::text(at(m, "role")),
                    Cell::text(at(m, "joined_at")),
                ]
            })
            .collect(),
        next: None,
    }));
    sections.push(Section::Heading("Linked accounts".into()));
    sections.push(Section::Table(Table {
        id: "accounts",
        headers: vec!["Provider", "Email", "Linked"],
        rows: user
            .get("linked_accounts")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|a| {
                        vec![
                            Cell::text(at(a, "provider")),
                            Cell::text(at(a, "email")),
                            Cell::text(at(a, "created_at")),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default(),
        next: None,
    }));
    let mfa = user.get("mfa").cloned().unwrap_or(Value::Null);
    sections.push(Section::Heading("Multi-factor authentication".into()));
    sections.push(Section::Fields(vec![
        ("Enrolled".into(), at(&mfa, "enrolled")),
        (
            "Factors".into(),
            mfa.get("factors")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .map(|x| at(x, "kind"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        ),
    ]));
    sections.push(Section::Heading("Sessions".into()));
    sections.push(Section::Table(Table {
        id: "sessions",
        headers: vec!["Session", "Active", "Created", "Last active", "IP", ""],
        rows: items(&sessions)
            .iter()
            .map(|s| {
                let active = s.get("active").and_then(Value::as_bool).unwrap_or(false);
                let action = if active && dash.can_write() {
                    Cell::action(
                        Form::post(format!("{here}/sessions/{}/revoke", at(s, "id")), "Revoke")
                            .danger(),
                    )
                } else {
                    Cell::text(at(s, "revoked_reason"))
                };
                vec![
                    Cell::text(at(s, "id")),
                    Cell::text(active.to_string()),
                    Cell::text(at(s, "created_at")),
                    Cell::text(at(s, "last_active_at")),
                    Cell::text(at(s, "ip")),
                    action,
                ]
            })
            .collect(),
        next: None,
    }));
    dash.render(
        StatusCode::OK,
        HERE,
        &format!("End user {}", at(&user, "email")),
        sections,
    )
}

/// `POST /admin/users/{id}/sessions/{session}/revoke`.
pub async fn revoke_session(
    State(app): State<Arc<AppState>>, Path((id, session)): Path<(String, String)>, req: Request,
) -> Response {
    let here = format!("{HERE}/{id}");
    act(
        &app,
        req,
        &here,
        "End user",
        "revoke_session",
        |_| json!({"session_id": session}),
    )
    .await
}

/// `POST /admin/users/{id}/password-reset`: send_password_reset.
pub async fn password_reset(
    State(app): State<Arc<AppState>>, Path(id): Path<String>, req: Request,
) -> Response {
    let here = format!("{HERE}/{id}");
    act(
        &app,
        req,
        &here,
        "End user",
        "send_password_reset",
        |_| json!({"user_id": id}),
    )
    .await
}

/// `POST /admin/users/{id}/verified`: set_email_verified.
pub async fn set_verified(
    State(app): State<Arc<AppState>>, Path(id): Path<String>, req: Request,
) -> Response {
    let here = format!("{HERE}/{id}");
    act(
        &app,
        req,
        &here,
        "End user",
        "set_email_verified",
        |p| json!({"user_id": id, "verified": p.one("verified").ok().flatten() == Some("true")}),
    )
    .await
}
