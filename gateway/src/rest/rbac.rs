//! `POST /api/v1/permissions/check`: the engine of check_rbac_permission
//! for the developer's backend. With an access token, the user and the
//! organization come from the token (its active organization); with a
//! write-scoped API key, they are given.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;

use super::answer::{Answer, ok};
use super::extract::Rest;
use crate::app::AppState;

pub async fn permissions_check(State(app): State<Arc<AppState>>, c: Rest, bytes: Bytes) -> Answer {
    let presented = c.access_token()?;
    if presented.starts_with("ag_") {
        let caller = match c.key(&app, &crate::auth::PERMISSIONS_CHECK).await {
            Ok(caller) => caller,
            Err(refused) => return Ok(refused),
        };
        let body = c.body(&bytes)?;
        ok(&authgate_rbac::check_permission_with_key(&app.store, &caller.project.id, body).await?)
    } else {
        let body = c.body(&bytes)?;
        ok(&authgate_rbac::check_permission_with_token(
            &app.auth,
            c.project_hint(),
            presented,
            body,
        )
        .await?)
    }
}
