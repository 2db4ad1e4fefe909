//! The OAuth error of RFC 6749 §5.2 (and RFC 7591 §3.2.2, RFC 8707):
//! a registered code and a description safe to show.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, ...
    pub code: &'static str,
    pub description: String,
}

macro_rules! codes {
    ($($name:ident => $code:literal,)*) => {
        impl OAuthError {
            $(pub fn $name(description: impl Into<String>) -> Self {
                OAuthError { code: $code, description: description.into() }
            })*
        }
    };
}

codes! {
    invalid_request => "invalid_request",
    invalid_client => "invalid_client",
    invalid_grant => "invalid_grant",
    unauthorized_client => "unauthorized_client",
    unsupported_grant_type => "unsupported_grant_type",
    unsupported_response_type => "unsupported_response_type",
    invalid_scope => "invalid_scope",
    invalid_target => "invalid_target",
    invalid_redirect_uri => "invalid_redirect_uri",
    invalid_client_metadata => "invalid_client_metadata",
    access_denied => "access_denied",
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}
