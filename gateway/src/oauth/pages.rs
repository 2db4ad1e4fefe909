//! The server-rendered pages of sign-in and consent: every value escaped
//! (`core::text::escape_html`), no script, strict headers; refusals as
//! pages carry the OAuth error code and never a Location. Also the checks
//! every browser POST passes: the Origin (or `Sec-Fetch-Site`) is ours.

use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use authgate_core::text::escape_html;
use authgate_oauth::OAuthError;

use crate::app::AppState;

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}\
h1{font-size:1.4rem}fieldset{border:1px solid #ccd;border-radius:6px;margin:1rem 0}\
.warn{background:#fff4e5;border:1px solid #f0b45b;padding:.5rem .8rem;border-radius:6px}\
.err{background:#fdecec;border:1px solid #e08080;padding:.5rem .8rem;border-radius:6px}\
button{font:inherit;padding:.4rem 1rem;margin-right:.5rem}code{background:#f2f2f5;padding:0 .2rem}";

/// A page: `body` is HTML made by the caller from escaped values.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>{} · AuthGate</title>\
<style>{STYLE}</style></head><body><h1>{}</h1>{body}</body></html>",
        escape_html(title),
        escape_html(title)
    );
    let mut resp = (status, html).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    browser_headers(
        resp,
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    )
}

/// The headers of every page a person sees (sign-in, consent, the
/// dashboard): `csp`, never cached, no referrer, no sniffing, never framed.
pub fn browser_headers(mut resp: Response, csp: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// A refusal shown as a page (a bad client, redirect URI or document):
/// never a redirect, since the redirect URI cannot be trusted.
pub fn refusal(status: StatusCode, err: &OAuthError) -> Response {
    let body = format!(
        "<p class=\"err\"><code>{}</code>: {}</p>",
        escape_html(err.code),
        escape_html(&err.description)
    );
    page(status, "Authorization refused", &body)
}

/// A 403 page for a browser POST that failed a check.
pub fn forbidden(why: &str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!("<p class=\"err\">{}</p>", escape_html(why)),
    )
}

/// The origin of the public URL (`scheme://host[:port]`).
fn our_origin(app: &AppState) -> String {
    url::Url::parse(&app.config.public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// A browser POST must come from our own pages: its `Origin` is ours; or,
/// when the Origin is withheld (`null`, as browsers send under
/// `Referrer-Policy: no-referrer`) or absent, `Sec-Fetch-Site` says
/// `same-origin` (absent too: not a browser, and the CSRF token still binds
/// the session).
pub fn same_origin(app: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let refused = || {
        forbidden(
            "This form was posted from another site. Open the page on this server and try again.",
        )
    };
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    match headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or(""))
    {
        Some("null") => match fetch_site {
            Some("same-origin") => Ok(()),
            _ => Err(refused()),
        },
        Some(origin) if origin != our_origin(app) => Err(refused()),
        Some(_) => Ok(()),
        None => match fetch_site {
            Some("cross-site") | Some("same-site") => Err(refused()),
            _ => Ok(()),
        },
    }
}

/// The session cookie, HttpOnly and SameSite=Lax, Secure on https.
pub fn session_cookie(app: &AppState, value: &str, max_age_secs: i64) -> HeaderValue {
    let name = authgate_oauth::admin::ADMIN_COOKIE;
    set_cookie(app, name, value, &format!("Path=/; Max-Age={max_age_secs}"))
}

/// A `Set-Cookie` value: every cookie the admin pages set is HttpOnly and
/// SameSite=Lax, and Secure when the public URL is https. `attrs` adds its
/// path and life.
pub fn set_cookie(app: &AppState, name: &str, value: &str, attrs: &str) -> HeaderValue {
    let secure = if app.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{name}={value}; {attrs}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The admin session cookie a request carries.
pub fn cookie_of(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, authgate_oauth::admin::ADMIN_COOKIE)
}

/// A cookie's value.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A redirect (303 See Other) to a path or URL.
pub fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape_html(name),
        escape_html(value)
    )
}
