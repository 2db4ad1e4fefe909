//! Social sign-in's endpoints: `start` and the provider's `callback` are
//! browser navigations (answered with a redirect, or a 400 when there is
//! nowhere to send the browser); `token` is the app's JSON call.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse as _, Response};
use http::{HeaderValue, StatusCode, header};

use authgate_identity::{Landing, OAuthCallback, OAuthRedirect, OAuthStart};

use super::answer::{Answer, ApiError, ok};
use super::extract::Rest;
use crate::app::AppState;

type App = State<Arc<AppState>>;

/// A form or query string as a map (the first of a repeated key wins).
fn pairs(text: &[u8]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(text) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

/// A 302 that carries no Referer onwards (the URL holds a code) and is
/// never cached.
fn redirect(to: OAuthRedirect) -> Answer {
    let location = HeaderValue::from_str(&to.location)
        .map_err(|_| authgate_core::ToolError::internal("a redirect that is not a header value"))?;
    let cookie = HeaderValue::from_str(&to.set_cookie)
        .map_err(|_| authgate_core::ToolError::internal("a cookie that is not a header value"))?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
    )
        .into_response())
}

pub async fn start(
    State(app): App, Path(provider): Path<String>, RawQuery(query): RawQuery, c: Rest,
) -> Answer {
    let mut q = pairs(query.unwrap_or_default().as_bytes());
    let start = OAuthStart {
        project_id: q.remove("project_id"),
        redirect_url: q.remove("redirect_url"),
        state: q.remove("state"),
        code_challenge: q.remove("code_challenge"),
        code_challenge_method: q.remove("code_challenge_method"),
    };
    redirect(app.auth.start_oauth(&provider, start, &c.meta).await?)
}

async fn land(app: &AppState, provider: &str, mut p: HashMap<String, String>, c: &Rest) -> Answer {
    let callback = OAuthCallback {
        state: p.remove("state"),
        code: p.remove("code"),
        error: p.remove("error"),
        user: p.remove("user"),
    };
    let cookies = c
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    match app
        .auth
        .oauth_callback(provider, callback, Some(&cookies), &c.meta)
        .await
    {
        Landing::Redirect(to) => redirect(to),
        Landing::Refused(e) => Err(ApiError::from(e)),
    }
}

pub async fn callback_query(
    State(app): App, Path(provider): Path<String>, RawQuery(query): RawQuery, c: Rest,
) -> Answer {
    land(
        &app,
        &provider,
        pairs(query.unwrap_or_default().as_bytes()),
        &c,
    )
    .await
}

/// Apple's `response_mode=form_post`.
pub async fn callback_form(
    State(app): App, Path(provider): Path<String>, c: Rest, bytes: Bytes,
) -> Answer {
    land(&app, &provider, pairs(&bytes), &c).await
}

pub async fn token(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let project = c.project()?;
    // From the app's server, a write-scoped key of this project may redeem
    // a code issued without a PKCE challenge.
    let trusted = match crate::auth::bearer(&c.headers) {
        Some(presented) if presented.starts_with("ag_") => {
            match c.key(&app, &crate::auth::REDEEM_SIGN_IN_CODE).await {
                Ok(caller) => caller.project.id == project,
                Err(refused) => return Ok(refused),
            }
        }
        _ => false,
    };
    let body = c.body(&bytes)?;
    let signed_in: Response = ok(&app
        .auth
        .redeem_oauth_code(project, body, trusted, &c.meta)
        .await?)?;
    Ok(signed_in)
}
