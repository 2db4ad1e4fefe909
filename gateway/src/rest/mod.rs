//! The end-user REST API (SPEC 6), one concern a file: the route table and
//! router here, what a handler reads (`extract.rs`), how it answers
//! (`answer.rs`), the CORS layer (`cors.rs`), and the handlers by domain
//! (`identity.rs`, `orgs.rs`, `rbac.rs`, `billing.rs`). A handler reads its
//! request and calls one domain flow; every rule lives in the flows.

mod answer;
mod billing;
mod budget;
mod cors;
mod extract;
mod identity;
mod orgs;
mod rbac;
mod social;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;

use crate::app::AppState;

pub use answer::ApiError;
pub(crate) use budget::public_budget;

/// One route of the REST API.
#[derive(Debug, Clone, Copy)]
pub struct ApiRoute {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    pub path: &'static str,
}

/// The routes and the router, from one list: [`ROUTES`] is what the
/// router serves (the audit-completeness test walks it).
macro_rules! api {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every route under `/api/v1`.
        pub const ROUTES: &[ApiRoute] = &[$(ApiRoute {
            method: api!(@upper $method),
            path: $path,
        }),*];

        fn router() -> Router<Arc<AppState>> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
    (@upper get) => { "GET" };
    (@upper post) => { "POST" };
    (@upper delete) => { "DELETE" };
}

api! {
    post "/api/v1/auth/sign-up" => identity::sign_up,
    post "/api/v1/auth/sign-in" => identity::sign_in,
    post "/api/v1/auth/refresh" => identity::refresh,
    post "/api/v1/auth/sign-out" => identity::sign_out,
    post "/api/v1/auth/verify-email" => identity::verify_email,
    post "/api/v1/auth/resend-verification" => identity::resend_verification,
    post "/api/v1/auth/change-email" => identity::change_email,
    post "/api/v1/auth/password-reset/request" => identity::reset_request,
    post "/api/v1/auth/password-reset/confirm" => identity::reset_confirm,
    post "/api/v1/auth/magic-link/request" => identity::magic_request,
    post "/api/v1/auth/magic-link/verify" => identity::magic_verify,
    post "/api/v1/auth/mfa/totp/enroll" => identity::totp_enroll,
    post "/api/v1/auth/mfa/totp/verify" => identity::totp_verify,
    post "/api/v1/auth/mfa/totp/remove" => identity::totp_remove,
    get "/api/v1/auth/oauth/{provider}/start" => social::start,
    get "/api/v1/auth/oauth/{provider}/callback" => social::callback_query,
    post "/api/v1/auth/oauth/{provider}/callback" => social::callback_form,
    post "/api/v1/auth/oauth/token" => social::token,
    post "/api/v1/auth/sms/request" => identity::sms_request,
    post "/api/v1/auth/sms/verify" => identity::sms_verify,
    post "/api/v1/auth/active-org" => orgs::active_org,
    post "/api/v1/invitations/accept" => orgs::accept_invitation,
    post "/api/v1/permissions/check" => rbac::permissions_check,
    post "/api/v1/subscriptions" => billing::create_subscription,
    delete "/api/v1/subscriptions/{id}" => billing::cancel_subscription,
    post "/api/v1/webhooks/stripe" => billing::stripe_webhook,
    get "/api/v1/me" => orgs::me,
    get "/api/v1/projects/{project_id}/jwks.json" => identity::jwks,
}

/// The endpoints anyone may call without a key or an access token: each
/// request spends the client address's public budget
/// (`AUTHGATE_PUBLIC_RATE_LIMIT`).
pub const PUBLIC: &[&str] = &[
    "/api/v1/auth/sign-up",
    "/api/v1/auth/sign-in",
    "/api/v1/auth/refresh",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/resend-verification",
    "/api/v1/auth/password-reset/request",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/auth/magic-link/request",
    "/api/v1/auth/magic-link/verify",
    "/api/v1/auth/oauth/{provider}/start",
    "/api/v1/auth/oauth/{provider}/callback",
    "/api/v1/auth/oauth/token",
    "/api/v1/auth/sms/request",
    "/api/v1/auth/sms/verify",
];

/// The routes under `/api/v1`, with the public budget and the CORS layer.
pub fn routes(app: Arc<AppState>) -> Router<Arc<AppState>> {
    router()
        .route_layer(from_fn_with_state(app.clone(), budget::public_budget))
        .layer(from_fn_with_state(app, cors::cors))
}
