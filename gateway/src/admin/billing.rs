//! `/admin/billing`: the plans and their prices, and one user's
//! entitlements and usage (`?user_id=`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::session::Dash;
use super::views::{Cell, Field, Form, Section, Table, at};
use crate::app::AppState;
use crate::oauth::form::Params;

const HERE: &str = "/admin/billing";

pub async fn page(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let dash = match Dash::open(&app, req.headers(), HERE).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let plans = match dash
        .call(&app, "list_billing_plans", json!({"limit": 100}))
        .await
    {
        Ok(p) => p,
        Err(e) => return dash.refused(HERE, "Billing", &e),
    };
    let rows = plans
        .get("data")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|p| {
                    let prices = p
                        .get("prices")
                        .and_then(Value::as_array)
                        .map(|ps| {
                            ps.iter()
                                .map(|x| {
                                    format!(
                                        "{} {} / {}",
                                        at(x, "amount"),
                                        at(x, "currency"),
                                        at(x, "interval")
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default();
                    vec![
                        Cell::text(at(p, "name")),
                        Cell::text(at(p, "key")),
                        Cell::text(prices),
                        Cell::text(at(p, "features")),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let params = Params::query(req.uri().query());
    let user = params
        .one("user_id")
        .ok()
        .flatten()
        .unwrap_or("")
        .to_owned();
    let mut sections = vec![
        Section::Table(Table {
            id: "plans",
            headers: vec!["Plan", "Key", "Prices", "Features"],
            rows,
            next: None,
        }),
        Section::Heading("A user's entitlements and usage".into()),
        Section::Form(Form::get(HERE, "Show").field(Field::Text(
            "user_id".into(),
            "User id".into(),
            user.clone(),
        ))),
    ];
    if !user.is_empty() {
        match dash
            .call(&app, "get_user_entitlements", json!({"user_id": user}))
            .await
        {
            Ok(e) => sections.push(Section::Fields(vec![
                (
                    "Plan".into(),
                    at(e.get("plan").unwrap_or(&Value::Null), "name"),
                ),
                ("Entitlements".into(), at(&e, "entitlements")),
                (
                    "Period".into(),
                    format!("{} – {}", at(&e, "period_start"), at(&e, "period_end")),
                ),
            ])),
            Err(e) => sections.push(Section::Notice("error", e.message)),
        }
        if let Ok(u) = dash
            .call(&app, "get_usage_summary", json!({"user_id": user}))
            .await
        {
            sections.push(Section::Fields(vec![("Usage".into(), at(&u, "meters"))]));
        }
    }
    dash.render(StatusCode::OK, HERE, "Billing", sections)
}
