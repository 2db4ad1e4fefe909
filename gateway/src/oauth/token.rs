//! The token endpoint (RFC 6749 §3.2): `authorization_code` with PKCE and
//! `refresh_token`, for a client authenticated as it registered (`none`,
//! `client_secret_basic` or `client_secret_post`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use authgate_oauth::OAuthError;
use authgate_oauth::clients::Client;
use authgate_oauth::codes::Exchange;

use super::form::{Params, read_form};
use super::{error_json, ok_json, unavailable_json};
use crate::app::AppState;

/// Who the client says it is, and its secret if it sent one.
pub(super) struct ClientAuth {
    pub id: String,
    pub secret: Option<String>,
    basic: bool,
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// The client's credentials, from the Basic header or the form.
fn client_auth(headers: &HeaderMap, params: &Params) -> Result<ClientAuth, OAuthError> {
    let form_id = params
        .one("client_id")
        .map_err(OAuthError::invalid_request)?;
    let form_secret = params
        .one("client_secret")
        .map_err(OAuthError::invalid_request)?;
    if let Some((id, secret)) = basic_credentials(headers) {
        if form_id.is_some_and(|f| f != id) || form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "send the client's credentials once: in the Authorization header or in the form",
            ));
        }
        return Ok(ClientAuth {
            id,
            secret: Some(secret),
            basic: true,
        });
    }
    let Some(id) = form_id else {
        return Err(OAuthError::invalid_client(
            "client_id is required (or HTTP Basic client authentication)",
        ));
    };
    Ok(ClientAuth {
        id: id.to_owned(),
        secret: form_secret.map(str::to_owned),
        basic: false,
    })
}

/// An `invalid_client` answer: 401, with a Basic challenge when the
/// client tried Basic (RFC 6749 §5.2).
fn client_refused(auth_basic: bool, err: &OAuthError) -> Response {
    let mut resp = error_json(StatusCode::UNAUTHORIZED, err);
    if auth_basic {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"authgate\""),
        );
    }
    resp
}

/// Loads and authenticates the client; the error is the answer.
async fn authenticated_client(app: &AppState, auth: &ClientAuth) -> Result<Client, Response> {
    let now = app.clock.now();
    let client = authgate_oauth::flows::find_client(&app.store, &auth.id, now)
        .await
        .map_err(|e| unavailable_json(&e))?;
    let Some(client) = client else {
        return Err(client_refused(
            auth.basic,
            &OAuthError::invalid_client(
                "unknown client_id: the registration expired or never existed; clear the client's saved OAuth state and connect again",
            ),
        ));
    };
    client
        .authenticate(auth.secret.as_deref())
        .map_err(|e| client_refused(auth.basic, &e))?;
    Ok(client)
}

/// A POST of the token or revocation endpoint: its form and the client,
/// authenticated; or the answer that refuses it.
pub(super) async fn client_form(
    app: &AppState, req: Request,
) -> Result<(Params, Client), Response> {
    let (parts, params) = read_form(req).await.map_err(|why| {
        error_json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &OAuthError::invalid_request(why),
        )
    })?;
    let auth = match client_auth(&parts.headers, &params) {
        Ok(auth) => auth,
        Err(err) if err.code == "invalid_client" => return Err(client_refused(false, &err)),
        Err(err) => return Err(error_json(StatusCode::BAD_REQUEST, &err)),
    };
    let client = authenticated_client(app, &auth).await?;
    Ok((params, client))
}

pub async fn token(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (params, client) = match client_form(&app, req).await {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let one = |name: &str| params.one(name).map_err(OAuthError::invalid_request);
    let answer = match one("grant_type") {
        Ok(Some("authorization_code")) => code_grant(&app, &client, &params).await,
        Ok(Some("refresh_token")) => refresh_grant(&app, &client, &params).await,
        Ok(Some(other)) => Ok(Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {other} is not supported; use authorization_code or refresh_token"
        )))),
        Ok(None) => Ok(Err(OAuthError::invalid_request("grant_type is required"))),
        Err(err) => Ok(Err(err)),
    };
    match answer {
        Ok(Ok(pair)) => ok_json(StatusCode::OK, pair),
        Ok(Err(err)) => error_json(StatusCode::BAD_REQUEST, &err),
        Err(e) => unavailable_json(&e),
    }
}

type Answer =
    Result<Result<authgate_oauth::tokens::TokenPair, OAuthError>, authgate_core::ToolError>;

async fn code_grant(app: &AppState, client: &Client, params: &Params) -> Answer {
    let field = |name: &str| params.one(name).map_err(OAuthError::invalid_request);
    let (code, redirect_uri, verifier, resource) = match (
        field("code"),
        field("redirect_uri"),
        field("code_verifier"),
        field("resource"),
    ) {
        (Ok(Some(c)), Ok(r), Ok(v), Ok(res)) => (c, r, v, res),
        (Ok(None), ..) => return Ok(Err(OAuthError::invalid_request("code is required"))),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return Ok(Err(e)),
    };
    let exchange = Exchange {
        code,
        client,
        redirect_uri,
        code_verifier: verifier,
        resource,
    };
    let settings = app.oauth;
    let now = app.clock.now();
    authgate_oauth::flows::exchange_code(&app.store, exchange, &settings, now).await
}

async fn refresh_grant(app: &AppState, client: &Client, params: &Params) -> Answer {
    let token = match params.one("refresh_token") {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Ok(Err(OAuthError::invalid_request(
                "refresh_token is required",
            )));
        }
        Err(e) => return Ok(Err(OAuthError::invalid_request(e))),
    };
    let settings = app.oauth;
    let now = app.clock.now();
    authgate_oauth::flows::refresh(&app.store, token, client, &settings, now).await
}
