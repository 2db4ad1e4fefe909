//! What every REST handler reads from its request, in one extractor: the
//! client's address and user agent (for audit events and throttling), the
//! project header, the bearer token, and the JSON body parsed into the
//! flow's type with a fault naming its field.

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use authgate_core::{ErrorCode, RequestMeta, ToolError};
use authgate_identity::PROJECT_HEADER;

use crate::auth::bearer;

/// A REST request's context.
pub struct Rest {
    pub meta: RequestMeta,
    pub headers: HeaderMap,
    /// The client's address (see `front.rs`).
    pub client: Option<std::net::IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for Rest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let client = crate::request::ClientAddr::of(&parts.extensions);
        let ip = client.map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        Ok(Rest {
            meta: RequestMeta::new(ip, user_agent, Some(crate::request::current_id())),
            headers: parts.headers.clone(),
            client,
        })
    }
}

impl Rest {
    /// The project API key this endpoint takes, checked as MCP checks one.
    pub async fn key(
        &self, app: &crate::app::AppState, endpoint: &crate::auth::KeyEndpoint,
    ) -> Result<std::sync::Arc<authgate_core::Caller>, axum::response::Response> {
        crate::auth::rest_key(app, &self.headers, self.client, self.request_id(), endpoint).await
    }

    pub fn request_id(&self) -> &str {
        self.meta.request_id.as_deref().unwrap_or_default()
    }

    /// The project header, when sent.
    pub fn project_hint(&self) -> Option<&str> {
        self.headers
            .get(PROJECT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// The project header, which this endpoint needs.
    pub fn project(&self) -> Result<&str, ToolError> {
        self.project_hint().ok_or_else(|| {
            ToolError::invalid(PROJECT_HEADER, "the X-AuthGate-Project header is required")
                .with_hint("send the project id (prj_...) in X-AuthGate-Project")
        })
    }

    /// The access token, which this endpoint needs.
    pub fn access_token(&self) -> Result<&str, ToolError> {
        bearer(&self.headers).ok_or_else(|| {
            ToolError::new(ErrorCode::Unauthenticated, "an access token is required")
                .with_field("Authorization")
                .with_hint("send Authorization: Bearer <access_token> from sign-in or refresh")
        })
    }

    /// The JSON body as `T`; a fault names its field.
    pub fn body<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, ToolError> {
        let is_json = self
            .headers
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
}

fn body_error(err: &serde_path_to_error::Error<serde_json::Error>) -> ToolError {
    let message = err.inner().to_string();
    let path = err.path().to_string();
    // serde names a missing or unknown field only in its message.
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let field = named.or_else(|| (path != "." && !path.is_empty()).then_some(path));
    let clean = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    match field {
        Some(f) => ToolError::invalid(f.clone(), format!("{f}: {clean}")),
        None => ToolError::new(
            ErrorCode::InvalidArgument,
            format!("the body is not valid JSON for this endpoint: {clean}"),
        )
        .with_hint(
            "send a JSON object with the fields of this endpoint (see the REST API in the README)",
        ),
    }
}
