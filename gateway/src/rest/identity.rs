//! The end-user auth endpoints: each reads the project header, the access
//! token or the JSON body, and calls one identity flow.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::answer::{Answer, accepted, json, no_content, ok};
use super::extract::Rest;
use crate::app::AppState;

type App = State<Arc<AppState>>;

#[derive(Serialize)]
struct UserBody<T> {
    user: T,
}

pub async fn sign_up(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let user = app
        .auth
        .sign_up(c.project()?, c.body(&bytes)?, &c.meta)
        .await?;
    json(StatusCode::CREATED, &UserBody { user })
}

pub async fn sign_in(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    ok(&app
        .auth
        .sign_in(c.project()?, c.body(&bytes)?, &c.meta)
        .await?)
}

pub async fn refresh(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    ok(&app
        .auth
        .refresh(c.project()?, c.body(&bytes)?, &c.meta)
        .await?)
}

pub async fn sign_out(State(app): App, c: Rest) -> Answer {
    app.auth
        .sign_out(c.project_hint(), c.access_token()?, &c.meta)
        .await?;
    no_content()
}

pub async fn verify_email(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let user = app
        .auth
        .verify_email(c.project()?, c.body(&bytes)?, &c.meta)
        .await?;
    ok(&UserBody { user })
}

pub async fn resend_verification(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    app.auth
        .resend_verification(c.project()?, c.body(&bytes)?, &c.meta)
        .await?;
    accepted()
}

pub async fn change_email(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let user = app
        .auth
        .change_email(
            c.project_hint(),
            c.access_token()?,
            c.body(&bytes)?,
            &c.meta,
        )
        .await?;
    ok(&UserBody { user })
}

pub async fn reset_request(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    app.auth
        .request_password_reset(c.project()?, c.body(&bytes)?, &c.meta)
        .await?;
    accepted()
}

pub async fn reset_confirm(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let user = app
        .auth
        .confirm_password_reset(c.project()?, c.body(&bytes)?, &c.meta)
        .await?;
    ok(&UserBody { user })
}

pub async fn magic_request(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    app.auth
        .request_magic_link(c.project()?, c.body(&bytes)?, &c.meta)
        .await?;
    accepted()
}

pub async fn magic_verify(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    ok(&app
        .auth
        .verify_magic_link(c.project()?, c.body(&bytes)?, &c.meta)
        .await?)
}

pub async fn totp_enroll(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    // The body is optional: an account without a password sends none.
    let body = if bytes.is_empty() {
        authgate_identity::TotpEnroll::default()
    } else {
        c.body(&bytes)?
    };
    ok(&app
        .auth
        .enroll_totp(c.project_hint(), c.access_token()?, body, &c.meta)
        .await?)
}

pub async fn totp_verify(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    ok(&app
        .auth
        .verify_totp(
            c.project_hint(),
            c.access_token()?,
            c.body(&bytes)?,
            &c.meta,
        )
        .await?)
}

pub async fn totp_remove(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    ok(&app
        .auth
        .remove_totp(
            c.project_hint(),
            c.access_token()?,
            c.body(&bytes)?,
            &c.meta,
        )
        .await?)
}

/// The project's public keys. Keys are published before they sign, so a
/// cached set is never missing a key a token uses for longer than this.
pub async fn jwks(State(app): App, Path(project_id): Path<String>) -> Answer {
    let mut resp = ok(&app.auth.jwks(&project_id).await?)?;
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    Ok(resp)
}

pub async fn sms_request(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    app.auth
        .request_sms(c.project()?, c.body(&bytes)?, &c.meta)
        .await?;
    accepted()
}

pub async fn sms_verify(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    ok(&app
        .auth
        .verify_sms(c.project()?, c.body(&bytes)?, &c.meta)
        .await?)
}
