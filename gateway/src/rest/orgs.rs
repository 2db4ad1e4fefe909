//! The organization endpoints of end users: the active organization,
//! accepting an invitation, and `me` with memberships.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;

use super::answer::{Answer, ok};
use super::extract::Rest;
use crate::app::AppState;

type App = State<Arc<AppState>>;

pub async fn active_org(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let body = c.body(&bytes)?;
    let token = c.access_token()?;
    ok(&authgate_orgs::set_active_org(&app.auth, c.project_hint(), token, body, &c.meta).await?)
}

pub async fn accept_invitation(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let body = c.body(&bytes)?;
    let token = c.access_token()?;
    let membership =
        authgate_orgs::accept_invitation(&app.auth, c.project_hint(), token, body, &c.meta).await?;
    ok(&serde_json::json!({ "membership": membership }))
}

pub async fn me(State(app): App, c: Rest) -> Answer {
    ok(&authgate_orgs::me(&app.auth, c.project_hint(), c.access_token()?).await?)
}
