//! The admin dashboard (issue 24), in the same binary: server-rendered
//! askama pages with one vendored htmx file, signed in with the admin
//! browser session of the OAuth consent (`/admin/login`). Every action is a
//! tool call through the registry with the session's caller, so scopes,
//! allow-lists, rate limits and the audit are the tools' own (client
//! `authgate-dashboard`); the dashboard writes nothing itself. One concern
//! a file: the session and the call (`session.rs`), page parts and the one
//! template (`views.rs`), assets (`assets.rs`), and a file per area.

mod alerts;
mod assets;
mod audit;
mod billing;
mod keys;
mod orgs;
mod overview;
mod providers;
mod session;
mod users;
mod views;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

pub use session::Dash;

/// The dashboard's routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin", get(overview::page))
        .route("/admin/keys", get(keys::list).post(keys::create))
        .route("/admin/keys/{id}/revoke", post(keys::revoke))
        .route("/admin/users", get(users::list))
        .route("/admin/users/{id}", get(users::detail))
        .route(
            "/admin/users/{id}/password-reset",
            post(users::password_reset),
        )
        .route("/admin/users/{id}/verified", post(users::set_verified))
        .route(
            "/admin/users/{id}/sessions/{session}/revoke",
            post(users::revoke_session),
        )
        .route("/admin/orgs", get(orgs::list))
        .route("/admin/orgs/{id}", get(orgs::detail))
        .route("/admin/audit", get(audit::list))
        .route("/admin/alerts", get(alerts::list))
        .route("/admin/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/admin/alerts/{id}/resolve", post(alerts::resolve))
        .route("/admin/webhooks", get(webhooks::list))
        .route(
            "/admin/webhooks/deliveries/{id}/replay",
            post(webhooks::replay),
        )
        .route("/admin/providers", get(providers::list))
        .route("/admin/billing", get(billing::page))
        .route("/admin/project", post(session::switch_project))
        .route("/admin/assets/{name}", get(assets::serve))
}
