//! Where the server calls out to: the social sign-in providers
//! (`AUTHGATE_OAUTH_*`) and the SMS gateway. Each is https, or plain http on
//! loopback only (a stand-in on this machine).

use super::source::Source;

/// A URL the server calls out to (an identity provider, an SMS gateway):
/// https, or plain http on loopback only; without a trailing `/`.
pub(super) fn parse_outbound_url(name: &str, v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/').to_owned();
    if authgate_identity::social::endpoint_allowed(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{name} must be an https URL (plain http only for 127.0.0.1, [::1] or localhost), got '{v}'"
        ))
    }
}

/// The providers' endpoints: the real services unless the environment
/// points one elsewhere.
pub(super) fn social_endpoints(
    src: &Source<'_>,
) -> Result<authgate_identity::social::SocialEndpoints, String> {
    let mut e = authgate_identity::social::SocialEndpoints::default();
    let defaults = e.clone();
    let base = |var: &str, default: &str| src.get(var, default, parse_outbound_url);
    e.google_issuer = base("AUTHGATE_OAUTH_GOOGLE_ISSUER", &defaults.google_issuer)?;
    e.google_overridden = e.google_issuer != defaults.google_issuer;
    e.azure_login = base("AUTHGATE_OAUTH_AZURE_ISSUER", &defaults.azure_login)?;
    e.apple_issuer = base("AUTHGATE_OAUTH_APPLE_ISSUER", &defaults.apple_issuer)?;
    e.github_base = base("AUTHGATE_OAUTH_GITHUB_BASE_URL", &defaults.github_base)?;
    e.github_api = base("AUTHGATE_OAUTH_GITHUB_API_URL", &defaults.github_api)?;
    e.discord_base = base("AUTHGATE_OAUTH_DISCORD_BASE_URL", &defaults.discord_base)?;
    Ok(e)
}
