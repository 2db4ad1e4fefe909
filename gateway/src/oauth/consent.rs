//! The consent page: it names the client by the host it sends the browser
//! to (a name is the client's own claim), warns when that is a loopback
//! address, and offers the project, the scopes (at most the session's), the
//! tool groups (none ticked: all) and the environment.

use axum::response::Response;
use http::StatusCode;

use authgate_core::text::escape_html;
use authgate_core::{Project, Scope};
use authgate_oauth::clients::Client;
use authgate_oauth::redirect::is_loopback_host;

use super::admin::Admin;
use super::discovery::SCOPES;
use super::form::Params;
use super::pages::{hidden, page};
use crate::app::AppState;

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

fn max_scope(admin: &Admin) -> Scope {
    match admin {
        Admin::Key { caller, .. } => caller.max_scope().unwrap_or(Scope::Read),
        Admin::Operator { .. } => Scope::Admin,
    }
}

pub(super) fn consent_page(
    app: &AppState, admin: &Admin, client: &Client, redirect_uri: &str, requested: &[Scope],
    projects: &[Project], params: &Params,
) -> Response {
    let (host, loopback) = who_asks(client, redirect_uri);
    let name = client.display_name();
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
        let checked = if requested.contains(&scope) {
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
