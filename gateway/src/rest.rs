//! The end-user REST API (SPEC 6): thin HTTP adapters over the identity
//! flows. Each handler reads the project header, the bearer token or a
//! JSON body, calls one flow, and answers with its status; every rule
//! lives in the flows.
//!
//! CORS: browser apps call these endpoints directly. A request that carries
//! an `Origin` is served only when the origin is allowed for its project
//! (the origin of one of its callback URLs, or loopback for a test
//! project); any other gets 403 before anything runs. A preflight carries
//! no project header, so it is allowed when some project allows the
//! origin; the actual request is then checked against its own project.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use authgate_billing::mirror::{self, BillingSettings};
use authgate_core::{RequestMeta, ToolError};
use authgate_identity::flows::PROJECT_HEADER;

use crate::app::{AppState, RequestId};
pub use crate::errors::ApiError;

/// One route of the REST API.
#[derive(Debug, Clone, Copy)]
pub struct ApiRoute {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    pub path: &'static str,
}

/// The routes and the router, from one list: [`ROUTES`] is what the
/// router serves (the audit-completeness test walks it).
macro_rules! api {
    ($($method:ident $path:literal => $handler:ident,)*) => {
        /// Every route under `/api/v1`.
        pub const ROUTES: &[ApiRoute] = &[$(ApiRoute {
            method: api!(@upper $method),
            path: $path,
        }),*];

        fn router() -> Router<Arc<AppState>> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
    (@upper get) => { "GET" };
    (@upper post) => { "POST" };
    (@upper delete) => { "DELETE" };
}

api! {
    post "/api/v1/auth/sign-up" => sign_up,
    post "/api/v1/auth/sign-in" => sign_in,
    post "/api/v1/auth/refresh" => refresh,
    post "/api/v1/auth/sign-out" => sign_out,
    post "/api/v1/auth/verify-email" => verify_email,
    post "/api/v1/auth/resend-verification" => resend_verification,
    post "/api/v1/auth/change-email" => change_email,
    post "/api/v1/auth/password-reset/request" => reset_request,
    post "/api/v1/auth/password-reset/confirm" => reset_confirm,
    post "/api/v1/auth/magic-link/request" => magic_request,
    post "/api/v1/auth/magic-link/verify" => magic_verify,
    post "/api/v1/auth/mfa/totp/enroll" => totp_enroll,
    post "/api/v1/auth/mfa/totp/verify" => totp_verify,
    post "/api/v1/auth/mfa/totp/remove" => totp_remove,
    post "/api/v1/auth/active-org" => active_org,
    post "/api/v1/invitations/accept" => accept_invitation,
    post "/api/v1/permissions/check" => permissions_check,
    post "/api/v1/subscriptions" => create_subscription,
    delete "/api/v1/subscriptions/{id}" => cancel_subscription,
    post "/api/v1/webhooks/stripe" => stripe_webhook,
    get "/api/v1/me" => me,
    get "/api/v1/projects/{project_id}/jwks.json" => jwks,
}

/// The routes under `/api/v1`, with the CORS layer.
pub fn routes(app: Arc<AppState>) -> Router<Arc<AppState>> {
    router().layer(from_fn_with_state(app, cors))
}

// ------------------------------------------------------------ answers

type Answer = Result<Response, ApiError>;

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

#[derive(Serialize)]
struct UserBody<T> {
    user: T,
}

// ------------------------------------------------------------ request parts

/// What every end-user request carries.
struct Ctx {
    request_id: RequestId,
    meta: RequestMeta,
}

/// The id the front layer gave the request (a fresh one if it gave none).
fn request_id_of(rid: Option<axum::Extension<RequestId>>) -> RequestId {
    rid.map(|e| e.0)
        .unwrap_or_else(|| RequestId(authgate_core::new_id("req")))
}

fn ctx(peer: SocketAddr, headers: &HeaderMap, rid: Option<axum::Extension<RequestId>>) -> Ctx {
    let request_id = request_id_of(rid);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    Ctx {
        meta: RequestMeta::new(
            Some(peer.ip().to_string()),
            user_agent,
            Some(request_id.0.clone()),
        ),
        request_id,
    }
}

fn project_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(PROJECT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn require_project_header(headers: &HeaderMap) -> Result<&str, ToolError> {
    project_header(headers)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ToolError::invalid(PROJECT_HEADER, "the X-AuthGate-Project header is required")
                .with_hint("send the project id (prj_...) in X-AuthGate-Project")
        })
}

fn bearer(headers: &HeaderMap) -> Result<&str, ToolError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ToolError::new(
                authgate_core::ErrorCode::Unauthenticated,
                "an access token is required",
            )
            .with_field("Authorization")
            .with_hint("send Authorization: Bearer <access_token> from sign-in or refresh")
        })
}

/// Parses a JSON body into `T`; a fault names its field.
fn body<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, ToolError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(ToolError::invalid("Content-Type", "the body must be JSON")
            .with_hint("send Content-Type: application/json"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| body_error(&e))?;
    de.end().map_err(|_| {
        ToolError::invalid("body", "the body has something after its JSON object")
            .with_hint("send one JSON object")
    })?;
    Ok(value)
}

fn body_error(err: &serde_path_to_error::Error<serde_json::Error>) -> ToolError {
    let inner = err.inner();
    let path = err.path().to_string();
    let message = inner.to_string();
    // serde names a missing field only in its message: "missing field `email`".
    let field = if let Some(rest) = message.strip_prefix("missing field `") {
        rest.split('`').next().map(str::to_owned)
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        rest.split('`').next().map(str::to_owned)
    } else if path == "." || path.is_empty() {
        None
    } else {
        Some(path)
    };
    let clean = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    match field {
        Some(f) => ToolError::invalid(f.clone(), format!("{f}: {clean}")),
        None => ToolError::new(
            authgate_core::ErrorCode::InvalidArgument,
            format!("the body is not valid JSON for this endpoint: {clean}"),
        )
        .with_hint(
            "send a JSON object with the fields of this endpoint (see the REST API in the README)",
        ),
    }
}

// ------------------------------------------------------------ handlers

type Parts = (
    State<Arc<AppState>>,
    ConnectInfo<SocketAddr>,
    Option<axum::Extension<RequestId>>,
    HeaderMap,
);

fn parts(p: Parts) -> (Arc<AppState>, Ctx, HeaderMap) {
    let (State(app), ConnectInfo(peer), rid, headers) = p;
    let c = ctx(peer, &headers, rid);
    (app, c, headers)
}

macro_rules! handler {
    ($name:ident, |$app:ident, $c:ident, $headers:ident, $bytes:ident| $body:expr) => {
        async fn $name(
            state: State<Arc<AppState>>,
            peer: ConnectInfo<SocketAddr>,
            rid: Option<axum::Extension<RequestId>>,
            headers: HeaderMap,
            $bytes: Bytes,
        ) -> Answer {
            let ($app, $c, $headers) = parts((state, peer, rid, headers));
            let result: Result<Response, ToolError> = async { $body }.await;
            result.map_err(|e| ApiError::new(e, &$c.request_id))
        }
    };
}

handler!(sign_up, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    let user = app
        .auth
        .sign_up(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(json(StatusCode::CREATED, &UserBody { user }))
});

handler!(sign_in, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    let signed_in = app
        .auth
        .sign_in(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(json(StatusCode::OK, &signed_in))
});

handler!(refresh, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    let pair = app
        .auth
        .refresh(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(json(StatusCode::OK, &pair))
});

handler!(sign_out, |app, c, headers, _bytes| {
    let token = bearer(&headers)?;
    app.auth
        .sign_out(project_header(&headers), token, &c.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
});

handler!(verify_email, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    let user = app
        .auth
        .verify_email(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(json(StatusCode::OK, &UserBody { user }))
});

handler!(resend_verification, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    app.auth
        .resend_verification(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(accepted())
});

handler!(change_email, |app, c, headers, bytes| {
    let token = bearer(&headers)?;
    let user = app
        .auth
        .change_email(
            project_header(&headers),
            token,
            body(&headers, &bytes)?,
            &c.meta,
        )
        .await?;
    Ok(json(StatusCode::OK, &UserBody { user }))
});

handler!(reset_request, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    app.auth
        .request_password_reset(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(accepted())
});

handler!(reset_confirm, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    let user = app
        .auth
        .confirm_password_reset(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(json(StatusCode::OK, &UserBody { user }))
});

handler!(magic_request, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    app.auth
        .request_magic_link(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(accepted())
});

handler!(magic_verify, |app, c, headers, bytes| {
    let project = require_project_header(&headers)?;
    let signed_in = app
        .auth
        .verify_magic_link(project, body(&headers, &bytes)?, &c.meta)
        .await?;
    Ok(json(StatusCode::OK, &signed_in))
});

handler!(totp_enroll, |app, c, headers, _bytes| {
    let token = bearer(&headers)?;
    let enrollment = app
        .auth
        .enroll_totp(project_header(&headers), token, &c.meta)
        .await?;
    Ok(json(StatusCode::OK, &enrollment))
});

handler!(totp_verify, |app, c, headers, bytes| {
    let token = bearer(&headers)?;
    let active = app
        .auth
        .verify_totp(
            project_header(&headers),
            token,
            body(&headers, &bytes)?,
            &c.meta,
        )
        .await?;
    Ok(json(StatusCode::OK, &active))
});

handler!(totp_remove, |app, c, headers, bytes| {
    let token = bearer(&headers)?;
    let removed = app
        .auth
        .remove_totp(
            project_header(&headers),
            token,
            body(&headers, &bytes)?,
            &c.meta,
        )
        .await?;
    Ok(json(StatusCode::OK, &removed))
});

handler!(active_org, |app, c, headers, bytes| {
    let token = bearer(&headers)?;
    let active = authgate_orgs::flows::set_active_org(
        &app.auth,
        project_header(&headers),
        token,
        body(&headers, &bytes)?,
        &c.meta,
    )
    .await?;
    Ok(json(StatusCode::OK, &active))
});

handler!(accept_invitation, |app, c, headers, bytes| {
    let token = bearer(&headers)?;
    let member = authgate_orgs::flows::accept_invitation(
        &app.auth,
        project_header(&headers),
        token,
        body(&headers, &bytes)?,
        &c.meta,
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "membership": member }),
    ))
});

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionCheck {
    resource: String,
    action: String,
    context: Option<serde_json::Value>,
    /// With a key only.
    user_id: Option<String>,
    /// With a key only (id or slug).
    org_id: Option<String>,
}

/// `POST /api/v1/permissions/check`: the engine of check_rbac_permission
/// for the developer's backend. With an access token, the user and the
/// organization come from the token (its active organization); with a
/// write-scoped API key, they are given.
async fn permissions_check(
    State(app): State<Arc<AppState>>,
    rid: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let request_id = request_id_of(rid);
    let presented = bearer(&headers).map_err(|e| ApiError::new(e, &request_id))?;
    let with_key = presented.starts_with("ag_");
    let (project, user_id, org_id, q) = if with_key {
        let caller = match crate::auth::rest_key(&app, &headers, &request_id.0).await {
            Ok(c) => c,
            Err(response) => return Ok(response),
        };
        let q: PermissionCheck =
            body(&headers, &bytes).map_err(|e| ApiError::new(e, &request_id))?;
        let need = |v: &Option<String>, field: &str| {
            v.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                ApiError::new(
                    ToolError::invalid(field, format!("{field} is required with an API key (the user and organization to check)")),
                    &request_id,
                )
            })
        };
        let (u, o) = (need(&q.user_id, "user_id")?, need(&q.org_id, "org_id")?);
        (caller.project.id.clone(), u, o, q)
    } else {
        let q: PermissionCheck =
            body(&headers, &bytes).map_err(|e| ApiError::new(e, &request_id))?;
        if q.user_id.is_some() || q.org_id.is_some() {
            let err = ToolError::invalid(
                if q.user_id.is_some() {
                    "user_id"
                } else {
                    "org_id"
                },
                "with an access token the user and organization come from the token; send only resource, action and context",
            );
            return Err(ApiError::new(err, &request_id));
        }
        let now = app.auth.now();
        let hint = project_header(&headers).map(str::to_owned);
        let claims = app
            .store
            .read(async |conn| {
                app.auth
                    .authenticate(conn, hint.as_deref(), presented, now)
                    .await
                    .map(|(c, _)| c)
            })
            .await
            .map_err(|e| ApiError::new(e, &request_id))?;
        let org = claims.org_id.clone().ok_or_else(|| {
            ApiError::new(
                ToolError::precondition("the access token carries no active organization")
                    .with_field("Authorization")
                    .with_hint("choose one with POST /api/v1/auth/active-org, then use the token it returns"),
                &request_id,
            )
        })?;
        (claims.aud, claims.sub, org, q)
    };
    let decision = app
        .store
        .read(async |conn| {
            let question = authgate_rbac::engine::Question {
                user_id: &user_id,
                org_id: &org_id,
                resource: &q.resource,
                action: &q.action,
                context: q.context.as_ref(),
            };
            authgate_rbac::engine::check(conn, &project, question).await
        })
        .await
        .map_err(|e| ApiError::new(e, &request_id))?;
    Ok(json(StatusCode::OK, &decision))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    user_id: String,
    price_id: String,
    /// With Stripe: the customer's payment method (`pm_...`, collected by
    /// the app with Stripe Elements), made the customer's default.
    payment_method: Option<String>,
}

/// The key's call on a subscription, as an audit event in its unit of work.
fn key_event(
    caller: &authgate_core::Caller,
    event_type: &str,
    target: &str,
    user_id: &str,
    request_id: &str,
) -> authgate_audit::NewAuditEvent {
    let meta = RequestMeta::new(None, None, Some(request_id.to_owned()));
    authgate_audit::NewAuditEvent::auth(&caller.project.id, event_type, None, &meta, "success")
        .by_key(&caller.key_id)
        .target(target)
        .target(user_id)
}

/// `POST /api/v1/subscriptions` (write-scoped API key): subscribes a user
/// to a price; 201 `{subscription}`.
async fn create_subscription(
    State(app): State<Arc<AppState>>,
    rid: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let request_id = request_id_of(rid);
    let caller = match crate::auth::rest_key(&app, &headers, &request_id.0).await {
        Ok(c) => c,
        Err(response) => return Ok(response),
    };
    let b: NewSubscription = body(&headers, &bytes).map_err(|e| ApiError::new(e, &request_id))?;
    let mirror = app.settings.get::<BillingSettings>().mirror;
    let payment_method = b.payment_method.as_deref().map(str::trim);
    payment_method_of(mirror.is_some(), payment_method)
        .map_err(|e| ApiError::new(e, &request_id))?;
    let now = app.auth.now();
    let subscription = app
        .store
        .write(async |conn| {
            let s = authgate_billing::subscriptions::create(
                conn,
                &caller.project.id,
                b.user_id.trim(),
                b.price_id.trim(),
                now,
            )
            .await?;
            if let Some(mirror) = &mirror {
                mirror_subscription(
                    conn,
                    mirror.as_ref(),
                    &caller.project.id,
                    &s,
                    payment_method,
                )
                .await?;
            }
            let event = key_event(
                &caller,
                "subscription.created",
                &s.id,
                &s.user_id,
                &request_id.0,
            );
            authgate_audit::record(conn, event, now).await?;
            Ok::<_, ToolError>(s)
        })
        .await
        .map_err(|e| ApiError::new(e, &request_id))?;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "subscription": subscription }),
    ))
}

/// Checks `payment_method` before anything is written: a Stripe
/// PaymentMethod id, and only when Stripe is configured.
fn payment_method_of(stripe: bool, payment_method: Option<&str>) -> Result<(), ToolError> {
    let Some(pm) = payment_method else {
        return Ok(());
    };
    if !stripe {
        return Err(ToolError::invalid(
            "payment_method",
            "payment_method is used only when Stripe is configured (STRIPE_SECRET_KEY)",
        ));
    }
    let well_formed = pm.starts_with("pm_")
        && pm.len() <= 255
        && pm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(ToolError::invalid(
            "payment_method",
            "payment_method must be a Stripe PaymentMethod id such as pm_1Q2w3E4r5T6y",
        ))
    }
}

/// A new subscription in the payment provider, in the unit of work that
/// made it here: a refusal there leaves none here either.
async fn mirror_subscription(
    conn: &mut authgate_core::Conn<'_>,
    mirror: &dyn mirror::PaymentMirror,
    project_id: &str,
    s: &authgate_billing::subscriptions::Subscription,
    payment_method: Option<&str>,
) -> Result<(), ToolError> {
    let price = mirror::provider_price_id(conn, project_id, &s.price_id)
        .await?
        .ok_or_else(|| {
            ToolError::precondition(format!(
                "price {} has no Stripe price (it is one-time, or was made before Stripe was configured)",
                s.price_id
            ))
            .with_field("price_id")
            .with_hint("use a monthly or yearly price of a plan created while Stripe is configured")
        })?;
    let user = authgate_identity::users::get(conn, project_id, &s.user_id).await?;
    let customer = mirror::provider_customer_id(conn, project_id, &s.user_id).await?;
    let mirrored = mirror
        .subscription_created(mirror::SubscriptionRequest {
            project_id,
            subscription_id: &s.id,
            user_id: &s.user_id,
            email: &user.email,
            provider_price_id: &price,
            payment_method,
            customer_id: customer.as_deref(),
        })
        .await?;
    mirror::set_subscription_ids(conn, project_id, &s.id, &mirrored).await
}

/// `POST /api/v1/webhooks/stripe`: Stripe's events, signed with the
/// endpoint's secret; 400 for a bad signature, 200 once applied (or when
/// seen before).
async fn stripe_webhook(
    State(app): State<Arc<AppState>>,
    rid: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let request_id = request_id_of(rid);
    let result = async {
        let secret = app.config.stripe_webhook_secret.as_deref().ok_or_else(|| {
            ToolError::not_found("Stripe webhooks are not configured on this server")
                .with_hint("set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret")
        })?;
        let payload = std::str::from_utf8(&bytes)
            .map_err(|_| ToolError::invalid("body", "the event is not UTF-8 JSON"))?;
        let signature = headers
            .get(authgate_stripe::webhook::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        let outcome = authgate_stripe::webhook::handle(
            &app.store,
            secret,
            payload,
            signature,
            app.auth.now(),
        )
        .await?;
        let applied = match outcome {
            authgate_stripe::webhook::Outcome::Applied { subscription_id } => {
                serde_json::json!({"received": true, "subscription_id": subscription_id})
            }
            authgate_stripe::webhook::Outcome::Replayed => {
                serde_json::json!({"received": true, "replayed": true})
            }
            authgate_stripe::webhook::Outcome::Ignored => serde_json::json!({"received": true}),
        };
        Ok::<_, ToolError>(json(StatusCode::OK, &applied))
    }
    .await;
    result.map_err(|e| ApiError::new(e, &request_id))
}

#[derive(serde::Deserialize)]
struct CancelQuery {
    immediately: Option<bool>,
}

/// `DELETE /api/v1/subscriptions/{id}[?immediately=true]`: cancels at the
/// end of the period, or now.
async fn cancel_subscription(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<CancelQuery>, axum::extract::rejection::QueryRejection>,
    rid: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
) -> Answer {
    let request_id = request_id_of(rid);
    let caller = match crate::auth::rest_key(&app, &headers, &request_id.0).await {
        Ok(c) => c,
        Err(response) => return Ok(response),
    };
    let immediately = match query {
        Ok(q) => q.0.immediately.unwrap_or(false),
        Err(_) => {
            let err = ToolError::invalid("immediately", "immediately must be true or false");
            return Err(ApiError::new(err, &request_id));
        }
    };
    let now = app.auth.now();
    let subscription = app
        .store
        .write(async |conn| {
            let s = authgate_billing::subscriptions::cancel(
                conn,
                &caller.project.id,
                &id,
                immediately,
                now,
            )
            .await?;
            if let Some(mirror) = app.settings.get::<BillingSettings>().mirror
                && let Some(stripe_id) =
                    mirror::provider_subscription_id(conn, &caller.project.id, &s.id).await?
            {
                mirror
                    .subscription_canceled(&stripe_id, immediately)
                    .await?;
            }
            let event = key_event(
                &caller,
                "subscription.canceled",
                &s.id,
                &s.user_id,
                &request_id.0,
            )
            .meta("immediately", immediately);
            authgate_audit::record(conn, event, now).await?;
            Ok::<_, ToolError>(s)
        })
        .await
        .map_err(|e| ApiError::new(e, &request_id))?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "subscription": subscription }),
    ))
}

async fn me(
    State(app): State<Arc<AppState>>,
    rid: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
) -> Answer {
    let request_id = request_id_of(rid);
    let result = async {
        let token = bearer(&headers)?;
        let mut me = app.auth.me(project_header(&headers), token).await?;
        // The user's organizations come from the orgs domain.
        let (project, user) = (me.project_id.clone(), me.user.id.clone());
        let memberships = app
            .store
            .read(async |conn| authgate_orgs::members::of_user(conn, &project, &user).await)
            .await?;
        me.memberships = memberships
            .into_iter()
            .filter_map(|m| serde_json::to_value(m).ok())
            .collect();
        Ok::<_, ToolError>(me)
    }
    .await;
    result
        .map(|me| json(StatusCode::OK, &me))
        .map_err(|e| ApiError::new(e, &request_id))
}

async fn jwks(
    State(app): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    rid: Option<axum::Extension<RequestId>>,
) -> Answer {
    let request_id = request_id_of(rid);
    let jwks = app
        .auth
        .jwks(&project_id)
        .await
        .map_err(|e| ApiError::new(e, &request_id))?;
    let mut resp = json(StatusCode::OK, &jwks);
    let h = resp.headers_mut();
    // Keys are published before they sign, so a cached set is never
    // missing a key a token uses for longer than this.
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

// ------------------------------------------------------------ CORS

const ALLOW_HEADERS: &str = "authorization, content-type, x-authgate-project";
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// The project a request is for: its header, or the audience of its
/// bearer token (only to pick whose origins apply; the flow verifies it).
fn request_project(headers: &HeaderMap) -> Option<String> {
    if let Some(p) = project_header(headers).filter(|p| !p.is_empty()) {
        return Some(p.to_owned());
    }
    let token = bearer(headers).ok()?;
    jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token)
        .ok()?
        .get("aud")?
        .as_str()
        .map(str::to_owned)
}

async fn cors(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        // Not a browser's cross-origin call: nothing to add.
        return next.run(req).await;
    };
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
    let allowed = app
        .store
        .read(async |conn| {
            authgate_project::callbacks::origin_allowed(conn, project.as_deref(), &origin).await
        })
        .await;
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(authgate_core::new_id("req")));
    match allowed {
        Ok(true) => {}
        Ok(false) => {
            let err = ToolError::permission_denied(format!(
                "the origin {origin} may not call this project's API from a browser"
            ))
            .with_field("Origin")
            .with_hint("add a callback URL on this origin with add_callback (test projects also allow loopback origins)");
            return ApiError::new(err, &request_id).into_response();
        }
        Err(err) => return ApiError::new(err, &request_id).into_response(),
    }
    let Ok(origin_value) = HeaderValue::from_str(&origin) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut resp = if preflight {
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
