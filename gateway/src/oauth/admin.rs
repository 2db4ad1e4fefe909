//! The admin browser session (shared with the dashboard): `/admin/login`
//! takes a pasted API key once (its project, at most its scopes; the key
//! never goes into the cookie) or spends a one-time link of `authgate
//! admin login`; `/admin/logout` ends the session on the server. Failed
//! sign-ins spend the address's failed-auth budget and never echo the key.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};

use authgate_core::Caller;
use authgate_core::text::escape_html;
use authgate_oauth::admin::{AdminSession, MAX_AGE};
use authgate_oauth::flows::{self, Signed};

use super::form::{Params, client_ip, read_form};
use super::pages::{cookie_of, hidden, page, same_origin, see_other, session_cookie};
use crate::app::AppState;

/// Who is at the browser: the operator (every project) or a key's holder.
pub enum Admin {
    Operator {
        session: AdminSession,
    },
    Key {
        session: AdminSession,
        caller: Arc<Caller>,
    },
}

impl Admin {
    pub fn session(&self) -> &AdminSession {
        match self {
            Admin::Operator { session } | Admin::Key { session, .. } => session,
        }
    }

    /// The CSRF token of this session: a keyed hash of its id, so it needs
    /// no storage and dies with the session.
    pub fn csrf_token(&self, app: &AppState) -> String {
        authgate_core::hash::keyed_hash(&app.keys.csrf, &["admin-csrf", &self.session().id_hash])
    }

    pub fn csrf_ok(&self, app: &AppState, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| authgate_core::secrets::same(p, &self.csrf_token(app)))
    }
}

/// The live session of a request, with its key checked again: a revoked
/// key ends the session's powers at once.
pub async fn current(app: &AppState, headers: &HeaderMap) -> Result<Option<Admin>, Response> {
    let Some(cookie) = cookie_of(headers) else {
        return Ok(None);
    };
    let now = app.clock.now();
    let found = flows::current_session(&app.store, cookie, now)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(found.map(|signed| match signed {
        Signed::Operator(session) => Admin::Operator { session },
        Signed::Key(session, caller) => Admin::Key {
            session,
            caller: Arc::from(caller),
        },
    }))
}

pub fn unavailable(err: &authgate_core::ToolError) -> Response {
    tracing::warn!(error = %err, "admin sign-in unavailable");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "<p class=\"err\">The database is out of reach right now; retry shortly.</p>",
    )
}

/// Where a sign-in may send the browser next: our own authorization or
/// admin pages, never another site.
fn safe_return(to: Option<&str>) -> &str {
    match to {
        Some(t)
            if (t.starts_with("/oauth/authorize?") || t.starts_with("/admin"))
                && !t.contains("//")
                && !t.contains('\\') =>
        {
            t
        }
        _ => "/admin",
    }
}

fn login_form(return_to: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"err\">{}</p>", escape_html(e)))
        .unwrap_or_default();
    format!(
        "{error}<p>Paste an API key of the project to sign in. The key is checked once and never \
stored in the browser; the session lasts 30 idle minutes, 12 hours at most.</p>\
<form method=\"post\" action=\"/admin/login\">{}\
<p><label>API key<br><input type=\"password\" name=\"api_key\" autocomplete=\"off\" size=\"56\" required></label></p>\
<p><button type=\"submit\">Sign in</button></p></form>\
<p>Operators can run <code>authgate admin login</code> on the server for a one-time link.</p>",
        hidden("return_to", return_to)
    )
}

/// `GET /admin/login`: the form, a one-time link (`?token=`), or, when
/// signed in, who the session is.
pub async fn login_page(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let params = Params::query(req.uri().query());
    let return_to = safe_return(params.one("return_to").ok().flatten()).to_owned();
    if let Ok(Some(token)) = params.one("token") {
        let now = app.clock.now();
        let opened = flows::open_link_session(&app.store, token, now).await;
        return match opened {
            Ok(Some(cookie)) => signed_in(&app, &cookie, &return_to),
            Ok(None) => page(
                StatusCode::UNAUTHORIZED,
                "Sign in",
                &login_form(
                    &return_to,
                    Some(
                        "This sign-in link is unknown, used or expired; run authgate admin login again.",
                    ),
                ),
            ),
            Err(e) => unavailable(&e),
        };
    }
    match current(&app, req.headers()).await {
        Err(resp) => resp,
        Ok(Some(admin)) => {
            let who = match &admin {
                Admin::Operator { session } => match &session.project_id {
                    Some(p) => format!("the operator, for project <code>{}</code>", escape_html(p)),
                    None => "the operator (every project)".to_owned(),
                },
                Admin::Key { caller, .. } => format!(
                    "key <code>{}</code> of project <code>{}</code>",
                    escape_html(&caller.key_prefix),
                    escape_html(&caller.project.id)
                ),
            };
            let body = format!(
                "<p>Signed in as {who}.</p><form method=\"post\" action=\"/admin/logout\">{}\
<button type=\"submit\">Sign out</button></form>",
                hidden("csrf_token", &admin.csrf_token(&app))
            );
            page(StatusCode::OK, "Signed in", &body)
        }
        Ok(None) => page(StatusCode::OK, "Sign in", &login_form(&return_to, None)),
    }
}

fn signed_in(app: &AppState, cookie: &str, return_to: &str) -> Response {
    let mut resp = see_other(return_to);
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(app, cookie, MAX_AGE.num_seconds()),
    );
    resp
}

/// `POST /admin/login` with `api_key`.
pub async fn login(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, params) = match read_form(req).await {
        Ok(form) => form,
        Err(why) => return page(StatusCode::PAYLOAD_TOO_LARGE, "Sign in", &escape_html(&why)),
    };
    if let Err(resp) = same_origin(&app, &parts.headers) {
        return resp;
    }
    let return_to = safe_return(params.one("return_to").ok().flatten()).to_owned();
    let ip = authgate_core::net::bucket(client_ip(&parts));
    if app
        .limits
        .auth_failures
        .exhausted(&ip, Instant::now())
        .is_some()
    {
        crate::metrics::rate_limited("auth_failures_per_ip");
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            "Sign in",
            &login_form(
                &return_to,
                Some("Too many failed sign-ins from this address; retry later."),
            ),
        );
    }
    let key = params
        .one("api_key")
        .ok()
        .flatten()
        .unwrap_or("")
        .trim()
        .to_owned();
    let caller = match authgate_project::authenticate_key_in(&app.store, &key).await {
        Ok(Ok(caller)) => caller,
        Ok(Err(_)) => {
            app.limits.auth_failures.take(&ip, Instant::now());
            crate::metrics::auth_failure("admin_login");
            return page(
                StatusCode::UNAUTHORIZED,
                "Sign in",
                &login_form(&return_to, Some("That API key was not accepted.")),
            );
        }
        Err(e) => return unavailable(&e),
    };
    let now = app.clock.now();
    let opened = flows::open_key_session(&app.store, &caller, now).await;
    match opened {
        Ok(cookie) => signed_in(&app, &cookie, &return_to),
        Err(e) => unavailable(&e),
    }
}

/// `POST /admin/logout`: ends the session on the server.
pub async fn logout(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, params) = match read_form(req).await {
        Ok(form) => form,
        Err(why) => {
            return page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Sign out",
                &escape_html(&why),
            );
        }
    };
    let headers = parts.headers;
    if let Err(resp) = same_origin(&app, &headers) {
        return resp;
    }
    let admin = match current(&app, &headers).await {
        Ok(Some(admin)) => admin,
        Ok(None) => return see_other("/admin/login"),
        Err(resp) => return resp,
    };
    if !admin.csrf_ok(&app, params.one("csrf_token").ok().flatten()) {
        return super::pages::forbidden(
            "The form's CSRF token is missing or wrong; reload the page.",
        );
    }
    let now = app.clock.now();
    let cookie = cookie_of(&headers).unwrap_or("").to_owned();
    if let Err(e) = flows::end_session(&app.store, &cookie, now).await {
        return unavailable(&e);
    }
    let mut resp = see_other("/admin/login");
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&app, "", 0));
    resp
}
