//! CORS: browser apps call the end-user endpoints directly. A request
//! that carries an `Origin` is served only when the origin is allowed for
//! its project (the origin of one of its callback URLs, or loopback for a
//! test project); any other gets 403 before anything runs. A preflight
//! carries no project header, so it is allowed when some project allows
//! the origin; the actual request is then checked against its own project.
//! The JWKS is public: any page may read it. Social sign-in's start and
//! callback are browser navigations, not API calls: Apple's callback is a
//! cross-site form POST whose `Origin` is Apple's, so they are not checked
//! here (their state and binding cookie protect them) and get no CORS
//! headers (no page script may read their answers).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use authgate_core::ToolError;
use authgate_identity::PROJECT_HEADER;

use super::answer::ApiError;
use crate::app::AppState;
use crate::auth::bearer;

const ALLOW_HEADERS: &str = "authorization, content-type, x-authgate-project";
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// The project a request is for: its header, or the audience of its
/// bearer token (only to pick whose origins apply; the flow verifies it).
fn request_project(headers: &HeaderMap) -> Option<String> {
    if let Some(p) = headers
        .get(PROJECT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        return Some(p.to_owned());
    }
    let token = bearer(headers)?;
    jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token)
        .ok()?
        .get("aud")?
        .as_str()
        .map(str::to_owned)
}

/// Social sign-in's start and callback (`/api/v1/auth/oauth/{provider}/…`).
fn is_navigation(path: &str) -> bool {
    path.strip_prefix("/api/v1/auth/oauth/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, step)| step == "start" || step == "callback")
}

/// The answer to an allowed preflight.
fn preflight_answer() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

pub async fn cors(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        // Not a browser's cross-origin call: nothing to add.
        return next.run(req).await;
    };
    if is_navigation(req.uri().path()) {
        return next.run(req).await;
    }
    // The JWKS is public: any page may read it.
    if req.uri().path().ends_with("/jwks.json") {
        let mut resp = if req.method() == Method::OPTIONS {
            StatusCode::NO_CONTENT.into_response()
        } else {
            next.run(req).await
        };
        resp.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        return resp;
    }
    let preflight = req.method() == Method::OPTIONS;
    let project = if preflight {
        None
    } else {
        request_project(req.headers())
    };
    match authgate_project::origin_allowed_in(&app.store, project.as_deref(), &origin).await {
        Ok(true) => {}
        Ok(false) => {
            let err = ToolError::permission_denied(format!(
                "the origin {origin} may not call this project's API from a browser"
            ))
            .with_field("Origin")
            .with_hint("add a callback URL on this origin with add_callback (test projects also allow loopback origins)");
            return ApiError::from(err).into_response();
        }
        Err(err) => return ApiError::from(err).into_response(),
    }
    let Ok(origin_value) = HeaderValue::from_str(&origin) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut resp = if preflight {
        preflight_answer()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin_value);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after, x-request-id"),
    );
    resp
}
