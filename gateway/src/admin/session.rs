//! Who is at the browser, and the one way the dashboard acts: a tool call
//! through the registry with the session's caller. A key session is that
//! key (checked again on every request, so it dies with the key); an
//! operator session acts as an admin of the project it chose. Every request
//! spends the caller's rate budget; every POST passes the Origin /
//! `Sec-Fetch-Site` check and carries the session's CSRF token.

use std::sync::Arc;

use axum::response::{Html, IntoResponse as _, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use authgate_core::{Caller, ClientInfo, RateBudget, Scope, ToolContext, ToolError};

use super::views::{Fragment, Layout, NavItem, Page, Section};
use crate::app::AppState;
use crate::oauth::admin::{Admin, current};

/// The dashboard's pages, in the navigation's order.
const NAV: &[(&str, &str)] = &[
    ("/admin", "Overview"),
    ("/admin/keys", "API keys"),
    ("/admin/users", "End users"),
    ("/admin/orgs", "Organizations"),
    ("/admin/audit", "Audit log"),
    ("/admin/alerts", "Security alerts"),
    ("/admin/webhooks", "Webhooks"),
    ("/admin/providers", "Providers"),
    ("/admin/billing", "Billing"),
];

/// The cookie that holds an operator's chosen project.
pub const PROJECT_COOKIE: &str = "authgate_project";

/// A signed-in request.
pub struct Dash {
    pub caller: Arc<Caller>,
    /// For an operator session on every project: the projects to switch
    /// between (empty otherwise: a key session stays on its own).
    pub projects: Vec<authgate_core::Project>,
    budget: RateBudget,
    csrf: String,
    request_id: String,
    /// An htmx request for a fragment.
    pub fragment: bool,
}

/// The operator acts as an admin of a project, under a fixed name in the
/// audit.
fn operator_caller(project: authgate_core::Project) -> Caller {
    Caller {
        key_id: "operator".to_owned(),
        key_name: Some("Operator (authgate admin login)".to_owned()),
        key_prefix: "operator".to_owned(),
        project,
        scopes: vec![Scope::Admin],
        tools: None,
        client_name: None,
        connection: Default::default(),
    }
}

fn to_login(path: &str) -> Response {
    let login: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", path)
        .finish();
    crate::oauth::pages::see_other(&format!("/admin/login?{login}"))
}

impl Dash {
    /// The session of a request, or the answer (the sign-in page, 429).
    pub async fn open(app: &AppState, headers: &HeaderMap, path: &str) -> Result<Dash, Response> {
        let admin = match current(app, headers).await? {
            Some(admin) => admin,
            None => return Err(to_login(path)),
        };
        let csrf = admin.csrf_token(app);
        let mut switchable = Vec::new();
        let caller = match admin {
            Admin::Key { caller, .. } => caller,
            Admin::Operator { session } => {
                let projects = authgate_oauth::flows::projects(&app.store)
                    .await
                    .map_err(|e| crate::oauth::admin::unavailable(&e))?;
                let wanted = session.project_id.clone().or_else(|| {
                    crate::oauth::pages::cookie(headers, PROJECT_COOKIE).map(str::to_owned)
                });
                let project = projects
                    .iter()
                    .find(|p| wanted.as_ref().is_none_or(|id| *id == p.id))
                    .or_else(|| projects.first().filter(|_| session.project_id.is_none()))
                    .cloned()
                    .ok_or_else(|| to_login(path))?;
                if session.project_id.is_none() {
                    switchable = projects;
                }
                Arc::new(operator_caller(project))
            }
        };
        let budget = crate::auth::spend(app, &caller).map_err(|r| r.rest())?;
        Ok(Dash {
            caller,
            projects: switchable,
            budget,
            csrf,
            request_id: crate::request::current_id(),
            fragment: headers.contains_key("hx-request"),
        })
    }

    /// [`Dash::open`] for a POST: also the Origin and the CSRF token.
    pub async fn open_post(
        app: &AppState, headers: &HeaderMap, path: &str, csrf: Option<&str>,
    ) -> Result<Dash, Response> {
        crate::oauth::pages::same_origin(app, headers)?;
        let dash = Dash::open(app, headers, path).await?;
        let presented = csrf.or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
        if !presented.is_some_and(|p| authgate_core::secrets::same(p, &dash.csrf)) {
            return Err(crate::oauth::pages::forbidden(
                "The form's CSRF token is missing or wrong; reload the page and try again.",
            ));
        }
        Ok(dash)
    }

    /// A POSTed form and its session: read, Origin and CSRF checked.
    pub async fn form(
        app: &AppState, req: axum::extract::Request, path: &str,
    ) -> Result<(Dash, crate::oauth::form::Params), Response> {
        let (parts, params) = crate::oauth::form::read_form(req)
            .await
            .map_err(|why| crate::oauth::pages::forbidden(&why))?;
        let csrf = params.one("csrf_token").ok().flatten();
        let dash = Dash::open_post(app, &parts.headers, path, csrf).await?;
        Ok((dash, params))
    }

    /// Whether the session may change things (write controls are shown).
    pub fn can_write(&self) -> bool {
        self.caller.max_scope().is_some_and(|s| s >= Scope::Write)
    }

    /// Calls a tool as the session's caller.
    pub async fn call(&self, app: &AppState, tool: &str, args: Value) -> Result<Value, ToolError> {
        let registry = app.registry.clone();
        let Some(found) = registry.get(tool).cloned() else {
            return Err(ToolError::internal(format!("{tool} is not registered")));
        };
        let ctx = ToolContext {
            caller: self.caller.clone(),
            client: Some(ClientInfo::new(
                "authgate-dashboard",
                env!("CARGO_PKG_VERSION"),
            )),
            store: app.store.clone(),
            clock: app.clock.clone(),
            keys: app.keys.clone(),
            domains: registry.clone(),
            settings: app.settings.clone(),
            rate_budget: Some(self.budget),
            request_id: self.request_id.clone(),
            tool: "",
            progress: None,
        };
        registry.call(ctx, found.as_ref(), args).await
    }

    fn layout(&self, current: &str) -> Layout {
        Layout {
            project_id: self.caller.project.id.clone(),
            project_name: self.caller.project.name.clone(),
            environment: self.caller.project.environment.clone(),
            csrf: self.csrf.clone(),
            projects: self
                .projects
                .iter()
                .map(|p| {
                    (
                        p.id.clone(),
                        format!("{} ({})", p.name, p.environment),
                        p.id == self.caller.project.id,
                    )
                })
                .collect(),
            css: super::assets::css(),
            htmx: super::assets::htmx(),
            nav: NAV
                .iter()
                .map(|(href, label)| NavItem {
                    href,
                    label,
                    current: *href == current,
                })
                .collect(),
        }
    }

    /// Renders a page (or, for htmx, its sections alone).
    pub fn render(
        &self, status: StatusCode, current: &str, title: &str, sections: Vec<Section>,
    ) -> Response {
        let html = if self.fragment {
            askama::Template::render(&Fragment {
                layout: self.layout(current),
                title: title.to_owned(),
                sections,
            })
        } else {
            askama::Template::render(&Page {
                layout: self.layout(current),
                title: title.to_owned(),
                sections,
            })
        };
        match html {
            Ok(html) => signed_in_headers((status, Html(html)).into_response()),
            Err(e) => {
                tracing::error!(error = %e, "a dashboard template failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// A tool's refusal as a page with its status.
    pub fn refused(&self, current: &str, title: &str, err: &ToolError) -> Response {
        let status = StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut text = err.message.clone();
        if let Some(hint) = &err.hint {
            text.push_str(" — ");
            text.push_str(hint);
        }
        self.render(status, current, title, vec![Section::Notice("error", text)])
    }
}

/// A POST that calls one tool with `args` (made from the form) and goes
/// back to `back`; a refusal is shown as a page.
pub async fn act(
    app: &AppState, req: axum::extract::Request, back: &str, title: &str, tool: &str,
    args: impl FnOnce(&crate::oauth::form::Params) -> Value,
) -> Response {
    let (dash, params) = match Dash::form(app, req, back).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    match dash.call(app, tool, args(&params)).await {
        Ok(_) => crate::oauth::pages::see_other(back),
        Err(e) => dash.refused(back, title, &e),
    }
}

/// The headers of every signed-in page: a strict CSP (no inline script or
/// style), never cached, no referrer, no sniffing, never framed.
fn signed_in_headers(resp: Response) -> Response {
    crate::oauth::pages::browser_headers(
        resp,
        "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
}

/// `POST /admin/project`: an operator session on every project switches
/// the project it acts on (a cookie holds the choice); a key session stays
/// on its own project.
pub async fn switch_project(
    axum::extract::State(app): axum::extract::State<Arc<AppState>>, req: axum::extract::Request,
) -> Response {
    let (dash, params) = match Dash::form(&app, req, "/admin").await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let wanted = params.one("project").ok().flatten().unwrap_or("");
    if !dash.projects.iter().any(|p| p.id == wanted) {
        return crate::oauth::pages::forbidden(
            "This session cannot switch to that project: a key's session stays on the key's project.",
        );
    }
    let mut resp = crate::oauth::pages::see_other("/admin");
    resp.headers_mut().insert(
        header::SET_COOKIE,
        crate::oauth::pages::set_cookie(&app, PROJECT_COOKIE, wanted, "Path=/admin"),
    );
    resp
}
