//! The code exchange and the profile, per provider: OpenID providers answer
//! with an ID token (checked in `id_token.rs`); GitHub and Discord with an
//! access token that reads the profile from their API. Provider tokens are
//! used here and dropped: none is stored.

use serde::Deserialize;
use serde_json::Value;

use authgate_project::ProviderConfig;

use super::http::Call;
use super::id_token::{self, Expected};
use super::providers::Provider;
use super::{Profile, ProviderFailure, SocialSettings, apple};

/// One exchange of a code the provider sent to our callback.
pub struct Exchange<'a> {
    pub provider: Provider,
    pub config: &'a ProviderConfig,
    pub code: &'a str,
    pub verifier: &'a str,
    pub redirect_uri: &'a str,
    pub nonce_hash: &'a str,
    /// Apple's `user` form field (its first sign-in only): the name.
    pub apple_user: Option<&'a str>,
    /// Seconds since the epoch.
    pub now: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    error: Option<String>,
}

/// A short, printable rendering of a provider's error code.
fn error_code(e: &str) -> String {
    e.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

/// The provider's tokens for `code`.
async fn token_request(
    social: &SocialSettings, endpoint: &str, form: &[(&str, &str)],
) -> Result<TokenAnswer, ProviderFailure> {
    let (status, body) = social.http.send(Call::post_form(endpoint, form)).await?;
    let answer: Result<TokenAnswer, _> = body.json("token endpoint");
    if !(200..300).contains(&status) {
        let code = answer
            .ok()
            .and_then(|a| a.error)
            .map(|e| format!(" ({})", error_code(&e)))
            .unwrap_or_default();
        return Err(ProviderFailure::new(format!(
            "token endpoint: HTTP {status}{code}"
        )));
    }
    let answer = answer?;
    // GitHub answers some errors with 200 and an `error` field.
    if let Some(e) = &answer.error {
        return Err(ProviderFailure::new(format!(
            "token endpoint: {}",
            error_code(e)
        )));
    }
    Ok(answer)
}

/// Exchanges the code and reads the profile.
pub async fn exchange(
    social: &SocialSettings, ex: &Exchange<'_>,
) -> Result<Profile, ProviderFailure> {
    let client_id = ex.config.client_id.as_deref().unwrap_or_default();
    let stored = ex.config.client_secret.as_deref().unwrap_or_default();
    let options = &ex.config.options;
    let secret = if ex.provider == Provider::Apple {
        apple::client_secret(
            stored,
            options.team_id.as_deref().unwrap_or_default(),
            options.key_id.as_deref().unwrap_or_default(),
            client_id,
            ex.now,
        )?
    } else {
        stored.to_owned()
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", ex.code),
        ("redirect_uri", ex.redirect_uri),
        ("client_id", client_id),
        ("client_secret", secret.as_str()),
        ("code_verifier", ex.verifier),
    ];
    match ex.provider {
        Provider::Google | Provider::Azure | Provider::Apple => {
            let tenant = options.tenant.as_deref().unwrap_or("common");
            let doc = discovery(social, ex.provider, tenant).await?;
            let answer = token_request(social, &doc.token_endpoint, &form).await?;
            let token = answer
                .id_token
                .ok_or_else(|| ProviderFailure::new("token endpoint: no id_token"))?;
            let expected = Expected {
                provider: ex.provider,
                client_id,
                nonce_hash: ex.nonce_hash,
                hosted_domain: options.hosted_domain.as_deref(),
                tenant: options.tenant.as_deref(),
                allowed_tenants: options.allowed_tenants.as_deref(),
            };
            let mut profile = id_token::validate(social, &doc.jwks_uri, &token, &expected).await?;
            if ex.provider == Provider::Apple {
                profile.name = ex.apple_user.and_then(apple_name);
            }
            Ok(profile)
        }
        Provider::Github | Provider::Discord => {
            let (_, token_url) = social.endpoints.fixed(ex.provider).unwrap_or_default();
            let answer = token_request(social, &token_url, &form).await?;
            let token = answer
                .access_token
                .ok_or_else(|| ProviderFailure::new("token endpoint: no access_token"))?;
            if ex.provider == Provider::Github {
                github_profile(social, &token).await
            } else {
                discord_profile(social, &token).await
            }
        }
    }
}

/// The discovery document of an OpenID provider, its issuer checked
/// against the one configured.
pub async fn discovery(
    social: &SocialSettings, provider: Provider, tenant: &str,
) -> Result<super::keys::Discovery, ProviderFailure> {
    let url = social
        .endpoints
        .discovery_url(provider, tenant)
        .ok_or_else(|| ProviderFailure::new("not an OpenID provider"))?;
    let doc = social.keys.discovery(&social.http, &url).await?;
    let e = &social.endpoints;
    let ok = match provider {
        Provider::Google => doc.issuer == e.google_issuer,
        Provider::Apple => doc.issuer == e.apple_issuer,
        Provider::Azure => doc.issuer.starts_with(&format!("{}/", e.azure_login)),
        Provider::Github | Provider::Discord => false,
    };
    if !ok {
        return Err(ProviderFailure::new(format!(
            "discovery: issuer {:.120} is not the configured one",
            doc.issuer
        )));
    }
    Ok(doc)
}

/// The name in Apple's `user` field: `{"name": {"firstName", "lastName"}}`.
fn apple_name(user: &str) -> Option<String> {
    let v: Value = serde_json::from_str(user).ok()?;
    let name = v.get("name")?;
    let part = |k: &str| {
        name.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let full = format!("{} {}", part("firstName"), part("lastName"));
    let full = full.trim();
    (!full.is_empty()).then(|| full.chars().take(200).collect())
}

async fn authed_json<T: serde::de::DeserializeOwned>(
    social: &SocialSettings, url: &str, token: &str, what: &str,
) -> Result<T, ProviderFailure> {
    let (status, body) = social.http.send(Call::get(url).bearer(token)).await?;
    if !(200..300).contains(&status) {
        return Err(ProviderFailure::new(format!("{what}: HTTP {status}")));
    }
    body.json(what)
}

#[derive(Deserialize)]
struct GithubUser {
    id: i64,
    login: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// GitHub: the user, and only the primary address (verified or not).
async fn github_profile(social: &SocialSettings, token: &str) -> Result<Profile, ProviderFailure> {
    let api = &social.endpoints.github_api;
    let user: GithubUser =
        authed_json(social, &format!("{api}/user"), token, "GitHub /user").await?;
    let emails: Vec<GithubEmail> = authed_json(
        social,
        &format!("{api}/user/emails"),
        token,
        "GitHub /user/emails",
    )
    .await?;
    let primary = emails.into_iter().find(|e| e.primary);
    Ok(Profile {
        subject: user.id.to_string(),
        email_verified: primary.as_ref().is_some_and(|e| e.verified),
        email: primary.map(|e| e.email),
        name: user.name.or(user.login),
    })
}

#[derive(Deserialize)]
struct DiscordUser {
    id: String,
    username: Option<String>,
    global_name: Option<String>,
    email: Option<String>,
    #[serde(default)]
    verified: bool,
}

/// Discord: the address counts as the user's only when `verified`.
async fn discord_profile(social: &SocialSettings, token: &str) -> Result<Profile, ProviderFailure> {
    let url = format!("{}/users/@me", social.endpoints.discord_base);
    let user: DiscordUser = authed_json(social, &url, token, "Discord /users/@me").await?;
    if user.id.is_empty() || user.id.len() > 64 {
        return Err(ProviderFailure::new("Discord /users/@me: no usable id"));
    }
    Ok(Profile {
        subject: user.id,
        email_verified: user.verified && user.email.is_some(),
        email: user.email,
        name: user.global_name.or(user.username),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apples_user_field_gives_the_name() {
        assert_eq!(
            apple_name(r#"{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"a@b.c"}"#)
                .as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(apple_name("not json"), None);
        assert_eq!(apple_name(r#"{"name":{}}"#), None);
    }

    #[test]
    fn provider_error_codes_are_short_and_plain() {
        assert_eq!(error_code("bad_verification_code"), "bad_verification_code");
        assert_eq!(error_code("<script>x"), "scriptx");
        assert_eq!(error_code(&"a".repeat(500)).len(), 64);
    }
}
