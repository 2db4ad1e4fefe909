//! The configuration's debug output: every setting, secrets redacted
//! (a database URL's password, the server key, Stripe's keys), so it can
//! be logged.

use super::Config;
use super::parse::redact_url;

impl std::fmt::Debug for Config {
    // Secrets stay out of any debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<set>"))
            .field("public_url", &self.public_url)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("stateless", &self.stateless)
            .field("rate_limit", &self.rate_limit)
            .field("project_rate_limit", &self.project_rate_limit)
            .field("auth_failure_limit", &self.auth_failure_limit)
            .field("public_rate_limit", &self.public_rate_limit)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("refresh_reuse_interval", &self.refresh_reuse_interval)
            .field("token_retention", &self.token_retention)
            .field("request_read_timeout", &self.request_read_timeout)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("max_active_keys", &self.max_active_keys)
            .field("outbox_retention", &self.outbox_retention)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_dir", &self.mail_dir)
            .field("email_from", &self.email_from)
            .field(
                "stripe_secret_key",
                &self.stripe_secret_key.as_ref().map(|_| "<set>"),
            )
            .field(
                "stripe_webhook_secret",
                &self.stripe_webhook_secret.as_ref().map(|_| "<set>"),
            )
            .field("stripe_api_base", &self.stripe_api_base)
            .field("log_format", &self.log_format)
            .field("security", &self.security)
            .field("social", &self.social)
            .field("sms_twilio_base", &self.sms_twilio_base)
            .field("sms_daily_cap", &self.sms_daily_cap)
            .field("webhooks", &self.webhooks)
            .field("oauth", &self.oauth)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("db_timeout", &self.db_timeout)
            .field("max_sessions_per_key", &self.max_sessions_per_key)
            .finish()
    }
}
