//! The authorization endpoint and its consent page. A bad client or
//! redirect URI is a page, never a redirect (the URI cannot be trusted);
//! every later problem goes back to the client's redirect URI with `error`,
//! `state` and `iss` (RFC 9207). No admin session: the sign-in page, which
//! comes back here. The consent names the client by the host it sends the
//! browser to (a name is the client's own claim), warns when that is a
//! loopback address, and picks the project, the scopes (at most the
//! session's), the tool groups (none ticked: all) and the environment.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;

use authgate_core::text::escape_html;
use authgate_core::{Project, Scope};
use authgate_oauth::OAuthError;
use authgate_oauth::clients::Client;
use authgate_oauth::codes::{NewCode, valid_challenge};
use authgate_oauth::redirect::is_loopback_host;
use authgate_project::{Issuer, KeyRequest, validate_new_key};

use super::admin::{Admin, current, unavailable};
use super::cimd::{Lookup, client_for_authorization};
use super::discovery::{SCOPES, issuer, resources};
use super::form::{Params, read_form};
use super::pages::{forbidden, hidden, page, refusal, same_origin, see_other};
use crate::app::AppState;

/// A checked authorization request.
struct Authorization {
    client: Client,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: String,
    resource: String,
    /// The scopes asked for (unknown ones are ignored; none: read, write).
    requested: Vec<Scope>,
}

/// Why a request cannot go on.
enum Stop {
    /// Shown as a page: the client or redirect URI is bad.
    Page(StatusCode, OAuthError),
    /// Sent back to the client's redirect URI.
    Back {
        redirect_uri: String,
        state: Option<String>,
        err: OAuthError,
    },
    Unavailable(authgate_core::ToolError),
}

impl Stop {
    fn answer(self, app: &AppState) -> Response {
        match self {
            Stop::Page(status, err) => refusal(status, &err),
            Stop::Back {
                redirect_uri,
                state,
                err,
            } => {
                let mut pairs = vec![("error", err.code), ("error_description", &err.description)];
                if let Some(s) = &state {
                    pairs.push(("state", s));
                }
                back(app, &redirect_uri, &mut pairs)
            }
            Stop::Unavailable(e) => unavailable(&e),
        }
    }
}

/// Redirects to the client with `pairs` and `iss`.
fn back(app: &AppState, redirect_uri: &str, pairs: &mut Vec<(&str, &str)>) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .extend_pairs(pairs.iter())
                .append_pair("iss", issuer(app));
            see_other(url.as_str())
        }
        Err(_) => refusal(
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_redirect_uri("the redirect URI is not a URL"),
        ),
    }
}

async fn check(app: &AppState, params: &Params) -> Result<Authorization, Stop> {
    let page_err = |e: String| Stop::Page(StatusCode::BAD_REQUEST, OAuthError::invalid_request(e));
    let client_id = params
        .one("client_id")
        .map_err(page_err)?
        .ok_or_else(|| page_err("client_id is required".into()))?;
    let client = match client_for_authorization(app, client_id).await {
        Ok(client) => client,
        Err(Lookup::Refused(err)) => return Err(Stop::Page(StatusCode::BAD_REQUEST, err)),
        Err(Lookup::Unavailable(e)) => return Err(Stop::Unavailable(e)),
    };
    let redirect_uri = match params.one("redirect_uri").map_err(page_err)? {
        Some(uri) if client.redirect_uri(uri) => uri.to_owned(),
        Some(uri) => {
            return Err(Stop::Page(
                StatusCode::BAD_REQUEST,
                OAuthError::invalid_redirect_uri(format!(
                    "{uri} is not a redirect URI of this client; register it first"
                )),
            ));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(page_err("redirect_uri is required".into())),
    };
    let state = params.one("state").ok().flatten().map(str::to_owned);
    let back = |err: OAuthError| Stop::Back {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        err,
    };
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|e| back(OAuthError::invalid_request(e)))
    };
    if one("response_type")? != Some("code") {
        return Err(back(OAuthError::unsupported_response_type(
            "response_type must be code",
        )));
    }
    if one("code_challenge_method")? != Some("S256") {
        return Err(back(OAuthError::invalid_request(
            "PKCE is required with code_challenge_method S256 (plain is not accepted)",
        )));
    }
    let code_challenge = match one("code_challenge")? {
        Some(c) if valid_challenge(c) => c.to_owned(),
        _ => {
            return Err(back(OAuthError::invalid_request(
                "code_challenge must be the S256 challenge: 43 base64url characters",
            )));
        }
    };
    let ours = resources(app);
    let resource = match one("resource")? {
        None => ours[0].clone(),
        Some(r) if ours.iter().any(|o| o == r) => r.to_owned(),
        Some(r) => {
            return Err(back(OAuthError::invalid_target(format!(
                "{r} is not a resource of this server; use {}",
                ours[0]
            ))));
        }
    };
    // The request's space-separated `scope`; on the consent's POST the
    // same name carries the ticked checkboxes, one value each.
    let mut requested: Vec<Scope> = params
        .all("scope")
        .into_iter()
        .flat_map(|v| v.split(' '))
        .filter_map(Scope::parse)
        .collect();
    if requested.is_empty() {
        requested = vec![Scope::Read, Scope::Write];
    }
    Ok(Authorization {
        client,
        redirect_uri,
        state,
        code_challenge,
        resource,
        requested,
    })
}

/// The host the client sends the browser to, shown as who is asking.
fn who_asks(client: &Client, redirect_uri: &str) -> (String, bool) {
    let source = if client.registration == "cimd" {
        client.id.as_str()
    } else {
        redirect_uri
    };
    let url = url::Url::parse(source).ok();
    let host = url
        .as_ref()
        .map(|u| match u.host_str() {
            Some(h) if !h.is_empty() => h.to_owned(),
            _ => format!("{}:", u.scheme()),
        })
        .unwrap_or_else(|| "an unknown address".to_owned());
    let loopback = url::Url::parse(redirect_uri)
        .ok()
        .is_some_and(|u| u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host));
    (host, loopback)
}

/// `GET /oauth/authorize`.
pub async fn show(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let params = Params::query(req.uri().query());
    let authz = match check(&app, &params).await {
        Ok(a) => a,
        Err(stop) => return stop.answer(&app),
    };
    let admin = match current(&app, req.headers()).await {
        Ok(Some(admin)) => admin,
        Ok(None) => {
            let here = format!("/oauth/authorize?{}", req.uri().query().unwrap_or(""));
            let login: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &here)
                .finish();
            return see_other(&format!("/admin/login?{login}"));
        }
        Err(resp) => return resp,
    };
    let projects = match projects_of(&app, &admin).await {
        Ok(p) => p,
        Err(e) => return unavailable(&e),
    };
    consent_page(&app, &admin, &authz, &projects, &params)
}

async fn projects_of(
    app: &AppState, admin: &Admin,
) -> Result<Vec<Project>, authgate_core::ToolError> {
    match admin {
        Admin::Key { caller, .. } => Ok(vec![caller.project.clone()]),
        Admin::Operator { session } => {
            let only = session.project_id.clone();
            let all = authgate_oauth::flows::projects(&app.store).await?;
            Ok(all
                .into_iter()
                .filter(|p| only.as_ref().is_none_or(|o| *o == p.id))
                .collect())
        }
    }
}

fn max_scope(admin: &Admin) -> Scope {
    match admin {
        Admin::Key { caller, .. } => caller.max_scope().unwrap_or(Scope::Read),
        Admin::Operator { .. } => Scope::Admin,
    }
}

fn consent_page(
    app: &AppState, admin: &Admin, authz: &Authorization, projects: &[Project], params: &Params,
) -> Response {
    let (host, loopback) = who_asks(&authz.client, &authz.redirect_uri);
    let name = authz.client.display_name();
    let mut body = format!(
        "<p><strong>{}</strong> (which will receive the authorization at <strong>{}</strong>) asks \
to use this AuthGate server's MCP tools on your behalf.</p>",
        escape_html(&name),
        escape_html(&host)
    );
    if loopback {
        body.push_str(
            "<p class=\"warn\">This client receives the authorization on this computer (a loopback \
address). Allow it only if you started this connection yourself, from an app on this machine.</p>",
        );
    }
    body.push_str("<form method=\"post\" action=\"/oauth/authorize\">");
    for name in [
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "resource",
        "response_type",
    ] {
        if let Ok(Some(v)) = params.one(name) {
            body.push_str(&hidden(name, v));
        }
    }
    body.push_str(&hidden("csrf_token", &admin.csrf_token(app)));
    body.push_str("<fieldset><legend>Project</legend>");
    for (i, p) in projects.iter().enumerate() {
        body.push_str(&format!(
            "<label><input type=\"radio\" name=\"project\" value=\"{}\"{}> {} <code>{}</code> ({})</label><br>",
            escape_html(&p.id),
            if i == 0 { " checked" } else { "" },
            escape_html(&p.name),
            escape_html(&p.id),
            escape_html(&p.environment)
        ));
    }
    body.push_str("</fieldset><fieldset><legend>Environment</legend>");
    let env = projects
        .first()
        .map(|p| p.environment.as_str())
        .unwrap_or("live");
    for e in ["live", "test"] {
        body.push_str(&format!(
            "<label><input type=\"radio\" name=\"environment\" value=\"{e}\"{}> {e}</label> ",
            if e == env { " checked" } else { "" }
        ));
    }
    body.push_str("</fieldset><fieldset><legend>Scopes</legend>");
    let max = max_scope(admin);
    for s in SCOPES {
        let Some(scope) = Scope::parse(s) else {
            continue;
        };
        if scope > max {
            continue;
        }
        let checked = if authz.requested.contains(&scope) {
            " checked"
        } else {
            ""
        };
        body.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"scope\" value=\"{s}\"{checked}> {s}</label> "
        ));
    }
    body.push_str("</fieldset><fieldset><legend>Tool groups (none ticked: every group)</legend>");
    for g in app.registry.catalog().groups() {
        body.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"groups\" value=\"group:{g}\"> {g}</label> "
        ));
    }
    body.push_str(
        "</fieldset><p><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p></form>",
    );
    page(StatusCode::OK, "Authorize an MCP client", &body)
}

/// `POST /oauth/authorize`: the consent's decision.
pub async fn decide(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, params) = match read_form(req).await {
        Ok(form) => form,
        Err(why) => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                &OAuthError::invalid_request(why),
            );
        }
    };
    if let Err(resp) = same_origin(&app, &parts.headers) {
        return resp;
    }
    let admin = match current(&app, &parts.headers).await {
        Ok(Some(admin)) => admin,
        Ok(None) => {
            return page(
                StatusCode::UNAUTHORIZED,
                "Signed out",
                "<p class=\"err\">Your admin session has ended. Start the connection again from the client.</p>",
            );
        }
        Err(resp) => return resp,
    };
    if !admin.csrf_ok(&app, params.one("csrf_token").ok().flatten()) {
        return forbidden("The form's CSRF token is missing or wrong; reload the page.");
    }
    let authz = match check(&app, &params).await {
        Ok(a) => a,
        Err(stop) => return stop.answer(&app),
    };
    match params.one("decision") {
        Ok(Some("allow")) => {}
        Ok(Some("deny")) => {
            let mut pairs = vec![
                ("error", "access_denied"),
                ("error_description", "the user denied the request"),
            ];
            if let Some(s) = &authz.state {
                pairs.push(("state", s));
            }
            return back(&app, &authz.redirect_uri, &mut pairs);
        }
        _ => {
            return refusal(
                StatusCode::BAD_REQUEST,
                &OAuthError::invalid_request("decision must be allow or deny"),
            );
        }
    }
    match grant(&app, &admin, &authz, &params).await {
        Ok(code) => {
            let mut pairs = vec![("code", code.as_str())];
            if let Some(s) = &authz.state {
                pairs.push(("state", s));
            }
            back(&app, &authz.redirect_uri, &mut pairs)
        }
        Err(resp) => resp,
    }
}

fn bad_form(msg: impl Into<String>) -> Response {
    refusal(StatusCode::BAD_REQUEST, &OAuthError::invalid_request(msg))
}

/// Checks the consent's choices against the session and issues the code.
async fn grant(
    app: &AppState, admin: &Admin, authz: &Authorization, params: &Params,
) -> Result<String, Response> {
    let projects = projects_of(app, admin).await.map_err(|e| unavailable(&e))?;
    let chosen = params.one("project").map_err(bad_form)?;
    let project = match chosen {
        Some(id) => projects.iter().find(|p| p.id == id),
        None if projects.len() == 1 => projects.first(),
        None => None,
    }
    .ok_or_else(|| bad_form("project must be one of the projects this session may use"))?;
    match params.one("environment").map_err(bad_form)? {
        None => {}
        Some(e) if e == project.environment => {}
        Some(e) => {
            return Err(bad_form(format!(
                "project {} is a {} project, not {e}; pick a {e} project or the {} environment",
                project.id, project.environment, project.environment
            )));
        }
    }
    let mut scopes = Vec::new();
    for s in params.all("scope") {
        scopes.push(Scope::parse(s).ok_or_else(|| bad_form(format!("{s} is not a scope")))?);
    }
    if scopes.is_empty() {
        return Err(bad_form("tick at least one scope"));
    }
    let groups: Vec<String> = params
        .all("groups")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let issuer = match admin {
        Admin::Key { caller, .. } => Issuer::Key(caller),
        Admin::Operator { .. } => Issuer::Operator,
    };
    let request = KeyRequest {
        name: Some(authz.client.display_name()),
        scopes: Some(scopes),
        tools: (!groups.is_empty()).then_some(groups),
    };
    let key = validate_new_key(issuer, app.registry.catalog(), request).map_err(|e| {
        refusal(
            StatusCode::FORBIDDEN,
            &OAuthError::invalid_scope(e.message.clone()),
        )
    })?;
    let new = NewCode {
        project_id: project.id.clone(),
        client_id: authz.client.id.clone(),
        redirect_uri: authz.redirect_uri.clone(),
        code_challenge: authz.code_challenge.clone(),
        resource: authz.resource.clone(),
        scopes: key.scopes,
        tools: key.tools,
    };
    let settings = app.oauth;
    let now = app.clock.now();
    authgate_oauth::flows::issue_code(&app.store, new, &settings, now)
        .await
        .map_err(|e| unavailable(&e))
}
