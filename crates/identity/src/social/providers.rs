//! The providers AuthGate signs users in with: where each one's endpoints
//! are, what it is asked for, and the URL a browser is sent to.

use url::Url;

/// An OAuth provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Github,
    Discord,
    Azure,
    Apple,
}

impl Provider {
    pub fn parse(name: &str) -> Option<Provider> {
        Some(match name {
            "google" => Provider::Google,
            "github" => Provider::Github,
            "discord" => Provider::Discord,
            "azure" => Provider::Azure,
            "apple" => Provider::Apple,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Github => "github",
            Provider::Discord => "discord",
            Provider::Azure => "azure",
            Provider::Apple => "apple",
        }
    }

    /// Whether it signs an ID token (OpenID Connect).
    pub fn is_oidc(self) -> bool {
        matches!(self, Provider::Google | Provider::Azure | Provider::Apple)
    }

    /// The scopes asked for when the project sets none.
    pub fn default_scopes(self) -> &'static str {
        match self {
            Provider::Google | Provider::Azure => "openid email profile",
            Provider::Apple => "openid name email",
            Provider::Github => "read:user user:email",
            Provider::Discord => "identify email",
        }
    }
}

/// Where the providers are. Defaults are the real services; each can be
/// pointed elsewhere by the server's environment (`AUTHGATE_OAUTH_*`),
/// never by a project.
#[derive(Debug, Clone)]
pub struct SocialEndpoints {
    /// Google's issuer (`https://accounts.google.com`).
    pub google_issuer: String,
    /// Microsoft's login host (`https://login.microsoftonline.com`).
    pub azure_login: String,
    /// Apple's issuer (`https://appleid.apple.com`).
    pub apple_issuer: String,
    /// GitHub's web base (`https://github.com`).
    pub github_base: String,
    /// GitHub's API base (`https://api.github.com`).
    pub github_api: String,
    /// Discord's API base (`https://discord.com/api`).
    pub discord_base: String,
    /// Whether Google's issuer was overridden: then the ID token's `iss`
    /// must equal it exactly (Google's own tokens may also say
    /// `accounts.google.com`).
    pub google_overridden: bool,
}

impl Default for SocialEndpoints {
    fn default() -> Self {
        Self {
            google_issuer: "https://accounts.google.com".into(),
            azure_login: "https://login.microsoftonline.com".into(),
            apple_issuer: "https://appleid.apple.com".into(),
            github_base: "https://github.com".into(),
            github_api: "https://api.github.com".into(),
            discord_base: "https://discord.com/api".into(),
            google_overridden: false,
        }
    }
}

impl SocialEndpoints {
    /// The discovery document of an OpenID provider (`tenant`: Azure's).
    pub fn discovery_url(&self, provider: Provider, tenant: &str) -> Option<String> {
        let base = match provider {
            Provider::Google => self.google_issuer.clone(),
            Provider::Apple => self.apple_issuer.clone(),
            Provider::Azure => format!("{}/{tenant}/v2.0", self.azure_login),
            Provider::Github | Provider::Discord => return None,
        };
        Some(format!("{base}/.well-known/openid-configuration"))
    }

    /// The `iss` values an ID token of `provider` may carry (Azure's
    /// depends on the token's `tid`).
    pub fn issuers(&self, provider: Provider, tid: Option<&str>) -> Vec<String> {
        match provider {
            Provider::Google if self.google_overridden => vec![self.google_issuer.clone()],
            Provider::Google => vec![
                "https://accounts.google.com".into(),
                "accounts.google.com".into(),
            ],
            Provider::Apple => vec![self.apple_issuer.clone()],
            Provider::Azure => tid
                .map(|tid| vec![format!("{}/{tid}/v2.0", self.azure_login)])
                .unwrap_or_default(),
            Provider::Github | Provider::Discord => Vec::new(),
        }
    }

    /// The authorize and token endpoints of the providers without
    /// discovery.
    pub fn fixed(&self, provider: Provider) -> Option<(String, String)> {
        match provider {
            Provider::Github => Some((
                format!("{}/login/oauth/authorize", self.github_base),
                format!("{}/login/oauth/access_token", self.github_base),
            )),
            Provider::Discord => Some((
                format!("{}/oauth2/authorize", self.discord_base),
                format!("{}/oauth2/token", self.discord_base),
            )),
            _ => None,
        }
    }

    /// Every endpoint base, for the start-up check of their addresses.
    pub fn bases(&self) -> [(&'static str, &str); 6] {
        [
            ("AUTHGATE_OAUTH_GOOGLE_ISSUER", &self.google_issuer),
            ("AUTHGATE_OAUTH_AZURE_ISSUER", &self.azure_login),
            ("AUTHGATE_OAUTH_APPLE_ISSUER", &self.apple_issuer),
            ("AUTHGATE_OAUTH_GITHUB_BASE_URL", &self.github_base),
            ("AUTHGATE_OAUTH_GITHUB_API_URL", &self.github_api),
            ("AUTHGATE_OAUTH_DISCORD_BASE_URL", &self.discord_base),
        ]
    }
}

/// What the authorize URL carries.
pub struct AuthorizeRequest<'a> {
    pub endpoint: &'a str,
    pub provider: Provider,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub hosted_domain: Option<&'a str>,
}

/// The URL the browser is sent to at the provider.
pub fn authorize_url(req: &AuthorizeRequest<'_>) -> Result<String, String> {
    let mut url = Url::parse(req.endpoint).map_err(|e| format!("authorize endpoint: {e}"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", req.client_id)
            .append_pair("redirect_uri", req.redirect_uri)
            .append_pair("scope", req.scopes)
            .append_pair("state", req.state)
            .append_pair("code_challenge", req.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if req.provider.is_oidc() {
            q.append_pair("nonce", req.nonce);
        }
        if req.provider == Provider::Apple {
            // Apple posts the answer when it includes the user's name.
            q.append_pair("response_mode", "form_post");
        }
        if let Some(hd) = req.hosted_domain {
            q.append_pair("hd", hd);
        }
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_urls_carry_pkce_state_and_nonce_for_oidc_only() {
        let req = |provider| AuthorizeRequest {
            endpoint: "https://idp.test/authorize?x=1",
            provider,
            client_id: "cid",
            redirect_uri: "https://ag.test/cb",
            scopes: provider.default_scopes(),
            state: "st",
            nonce: "nn",
            code_challenge: "cc",
            hosted_domain: None,
        };
        let google = Url::parse(&authorize_url(&req(Provider::Google)).unwrap()).unwrap();
        let q: std::collections::BTreeMap<_, _> = google.query_pairs().into_owned().collect();
        assert_eq!(q["x"], "1");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["nonce"], "nn");
        assert_eq!(q["scope"], "openid email profile");
        let github = authorize_url(&req(Provider::Github)).unwrap();
        assert!(!github.contains("nonce="), "{github}");
        let apple = authorize_url(&req(Provider::Apple)).unwrap();
        assert!(apple.contains("response_mode=form_post"), "{apple}");
    }
}
