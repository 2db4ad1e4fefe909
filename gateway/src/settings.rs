//! The domains' settings, from the configuration: one typed value per
//! domain, read by its tools through `ToolContext::setting`.

use std::sync::Arc;

use authgate_core::Settings;

use crate::config::Config;

/// Every domain's settings, and identity's (the REST flows take it too).
pub fn domain_settings(
    config: &Config,
) -> Result<(Settings, authgate_identity::IdentitySettings), String> {
    let mut settings = Settings::default();
    settings.insert(authgate_project::KeySettings {
        max_active_keys: config.max_active_keys,
    });
    settings.insert(config.webhooks.clone());
    settings.insert(authgate_project::SignInSettings {
        public_url: config.public_url.clone(),
    });
    let passwords =
        authgate_identity::Passwords::for_this_machine(authgate_identity::HashParams::default())
            .map_err(|e| e.to_string())?;
    if let Some(secret_key) = &config.stripe_secret_key {
        let stripe = authgate_stripe::StripeMirror::new(&authgate_stripe::StripeConfig {
            secret_key: secret_key.clone(),
            api_base: config.stripe_api_base.clone(),
        })?;
        settings.insert(authgate_billing::BillingSettings {
            mirror: Some(Arc::new(stripe)),
        });
    }
    let mut identity = authgate_identity::IdentitySettings::new(&config.public_url, passwords);
    identity.access_ttl = chrono::Duration::from_std(config.access_token_ttl)
        .map_err(|_| "AUTHGATE_ACCESS_TOKEN_TTL is too long".to_owned())?;
    identity.sessions.lifetime = chrono::Duration::from_std(config.refresh_token_ttl)
        .map_err(|_| "AUTHGATE_REFRESH_TOKEN_TTL is too long".to_owned())?;
    identity.sessions.reuse_interval = chrono::Duration::from_std(config.refresh_reuse_interval)
        .map_err(|_| "AUTHGATE_REFRESH_REUSE_INTERVAL is too long".to_owned())?;
    identity.social = authgate_identity::social::SocialSettings::new(
        config.social.clone(),
        authgate_identity::social::outbound_client(),
    );
    identity.sms.twilio_base = config.sms_twilio_base.clone();
    identity.sms.daily_cap = i64::from(config.sms_daily_cap);
    settings.insert(identity.clone());
    Ok((settings, identity))
}

/// The authorization server's lifetimes, from the configuration.
pub fn oauth_settings(config: &Config) -> Result<authgate_oauth::OAuthSettings, String> {
    let duration = |d: std::time::Duration, var: &str| {
        chrono::Duration::from_std(d).map_err(|_| format!("{var} is too long"))
    };
    Ok(authgate_oauth::OAuthSettings {
        access_ttl: duration(config.oauth.access_ttl, "AUTHGATE_OAUTH_ACCESS_TTL")?,
        reuse_interval: duration(
            config.refresh_reuse_interval,
            "AUTHGATE_REFRESH_REUSE_INTERVAL",
        )?,
        keys: authgate_project::KeySettings {
            max_active_keys: config.max_active_keys,
        },
        ..authgate_oauth::OAuthSettings::default()
    })
}

/// The client that fetches MCP clients' metadata documents: the guarded
/// client of webhooks (resolver-checked addresses, no redirects) with 5 s
/// and, when `AUTHGATE_OAUTH_EXTRA_CA_FILE` is set, its CAs trusted too.
pub fn cimd_client(config: &Config) -> Result<authgate_webhooks::GuardedClient, String> {
    let tls = match &config.oauth.extra_ca_file {
        Some(path) => authgate_core::tls::client_config_with_ca_file(path)
            .map_err(|e| format!("AUTHGATE_OAUTH_EXTRA_CA_FILE: {e}"))?,
        None => authgate_core::tls::client_config(),
    };
    Ok(authgate_webhooks::GuardedClient::with_tls(
        config.oauth.cimd_allow_loopback,
        std::time::Duration::from_secs(5),
        tls,
    ))
}
