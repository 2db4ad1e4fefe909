//! The authorization endpoint and the consent's decision (the page itself
//! is `consent.rs`). A bad client or
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

use authgate_core::{Project, Scope};
use authgate_oauth::OAuthError;
use authgate_oauth::clients::Client;
use authgate_oauth::codes::{NewCode, valid_challenge};
use authgate_project::{Issuer, KeyRequest, validate_new_key};

use super::admin::{Admin, current, unavailable};
use super::cimd::{Lookup, client_for_authorization};
use super::discovery::{issuer, resources};
use super::form::{Params, read_form};
use super::pages::{forbidden, page, refusal, same_origin, see_other};
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
    super::consent::consent_page(
        &app,
        &admin,
        &authz.client,
        &authz.redirect_uri,
        &authz.requested,
        &projects,
        &params,
    )
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
