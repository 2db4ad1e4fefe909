//! The public budget: requests per client address (its /64 for IPv6)
//! across the endpoints of [`super::PUBLIC`], which anyone may call. A
//! client over it gets 429 with `Retry-After` before any work is done, so
//! random addresses cannot make each request write rows.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use authgate_core::ToolError;

use crate::api_error::ApiError;
use crate::app::AppState;
use crate::ratelimit::Decision;

/// The authorization server's routes and the admin sign-in (issue 23):
/// anyone may call them, so they spend the same budget.
fn authorization_route(route: &str) -> bool {
    route.starts_with("/oauth/")
        || route.starts_with("/.well-known/")
        || route.starts_with("/admin/log")
}

pub async fn public_budget(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let public = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| super::PUBLIC.contains(&p.as_str()) || authorization_route(p.as_str()));
    let client = crate::request::ClientAddr::of(req.extensions());
    if let (true, Some(client)) = (public, client) {
        let bucket = authgate_core::net::bucket(client);
        if let Decision::Limited { retry_after } = app.limits.public.take(&bucket, Instant::now()) {
            crate::metrics::rate_limited("public_per_ip");
            let err = ToolError::rate_limited(
                "too many requests from this address to the sign-in endpoints; retry later",
                retry_after.as_secs_f64().ceil().max(1.0) as u64,
            );
            return ApiError::from(err).into_response();
        }
    }
    next.run(req).await
}
