//! Sign-in methods of a project: OAuth providers (client secret encrypted
//! at rest, never returned; their other settings kept beside it) and the
//! built-in email, magic link and SMS.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::ToolError;
use authgate_core::time::{from_micros, to_micros};
use authgate_store::schema::auth_providers;
use authgate_store::{Conn, JsonText, with_conn};

use authgate_core::crypto;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProviderKind {
    OAuth,
    /// Email and password, and magic links: delivered by AuthGate itself.
    BuiltIn,
    /// Twilio: its Account SID, Auth Token and a sender.
    Sms,
}

/// Every provider, in listing order.
pub const PROVIDERS: &[&str] = &[
    "google",
    "github",
    "discord",
    "azure",
    "apple",
    "email",
    "magic_link",
    "sms",
];

fn kind(provider: &str) -> Option<ProviderKind> {
    match provider {
        "google" | "github" | "discord" | "azure" | "apple" => Some(ProviderKind::OAuth),
        "email" | "magic_link" => Some(ProviderKind::BuiltIn),
        "sms" => Some(ProviderKind::Sms),
        _ => None,
    }
}

/// A provider's state as listed. The client secret is never included.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProviderState {
    pub provider: String,
    pub enabled: bool,
    /// Whether the provider has what it needs to work (OAuth: client id and
    /// secret; email and magic_link: always; sms: Account SID, Auth Token and sender).
    pub configured: bool,
    /// The OAuth client id (public), when set.
    pub client_id: Option<String>,
    /// Whether an OAuth client secret is stored (encrypted).
    pub has_client_secret: bool,
    /// Settings beside the credentials (scopes, tenant, team_id...), as
    /// set with configure_auth_providers.
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub settings: ProviderOptions,
    /// OAuth providers: the redirect URI to register at the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A provider's settings beside its credentials, as stored (none is a
/// secret; configure_auth_providers documents each).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tenants: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_countries: Option<Vec<String>>,
}

/// An enabled provider's configuration, its secret decrypted, for the
/// sign-in flows. Never logged.
pub struct ProviderConfig {
    pub provider: String,
    pub enabled: bool,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub options: ProviderOptions,
}

/// The redirect URI AuthGate sends an OAuth provider, to be registered
/// there: `{public_url}/api/v1/auth/oauth/{provider}/callback`.
pub fn redirect_uri(public_url: &str, provider: &str) -> String {
    format!(
        "{}/api/v1/auth/oauth/{provider}/callback",
        public_url.trim_end_matches('/')
    )
}

/// What the provider listing needs from the server: its public URL.
#[derive(Debug, Clone, Default)]
pub struct SignInSettings {
    /// AUTHGATE_PUBLIC_URL.
    pub public_url: String,
}

/// One provider change.
#[derive(Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderChange {
    /// google, github, discord, azure, apple, email, magic_link or sms.
    pub provider: String,
    pub enabled: bool,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    // The settings below: the tool's description says what each is.
    pub scopes: Option<Vec<String>>,
    pub hosted_domain: Option<String>,
    pub tenant: Option<String>,
    pub allowed_tenants: Option<Vec<String>>,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub sender: Option<String>,
    pub allowed_countries: Option<Vec<String>>,
}

impl ProviderChange {
    /// The settings this change names (unnamed ones keep what is stored).
    fn options(&self) -> ProviderOptions {
        ProviderOptions {
            scopes: self.scopes.clone(),
            hosted_domain: self.hosted_domain.clone(),
            tenant: self.tenant.clone(),
            allowed_tenants: self.allowed_tenants.clone(),
            team_id: self.team_id.clone(),
            key_id: self.key_id.clone(),
            sender: self.sender.clone(),
            allowed_countries: self.allowed_countries.clone(),
        }
    }
}

impl std::fmt::Debug for ProviderChange {
    // The client secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderChange")
            .field("provider", &self.provider)
            .field("enabled", &self.enabled)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("options", &self.options())
            .finish()
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_providers)]
struct ProviderRow {
    project_id: String,
    provider: String,
    enabled: bool,
    client_id: Option<String>,
    client_secret_enc: Option<String>,
    updated_at: i64,
    settings: JsonText<ProviderOptions>,
}

fn default_state(public_url: &str, provider: &str) -> ProviderState {
    let k = kind(provider);
    ProviderState {
        provider: provider.to_owned(),
        enabled: provider == "email",
        configured: k == Some(ProviderKind::BuiltIn),
        client_id: None,
        has_client_secret: false,
        settings: ProviderOptions::default(),
        redirect_uri: (k == Some(ProviderKind::OAuth)).then(|| redirect_uri(public_url, provider)),
        updated_at: None,
    }
}

/// The settings a provider needs besides a client id and secret.
fn missing_settings(provider: &str, options: &ProviderOptions) -> Vec<&'static str> {
    let mut missing = Vec::new();
    match provider {
        "apple" => {
            if options.team_id.is_none() {
                missing.push("team_id");
            }
            if options.key_id.is_none() {
                missing.push("key_id");
            }
        }
        "sms" if options.sender.is_none() => missing.push("sender"),
        _ => {}
    }
    missing
}

fn state_of(public_url: &str, row: &ProviderRow) -> ProviderState {
    let k = kind(&row.provider);
    let configured = match k {
        Some(ProviderKind::OAuth | ProviderKind::Sms) => {
            row.client_id.is_some()
                && row.client_secret_enc.is_some()
                && missing_settings(&row.provider, &row.settings.0).is_empty()
        }
        Some(ProviderKind::BuiltIn) => true,
        None => false,
    };
    ProviderState {
        provider: row.provider.clone(),
        enabled: row.enabled,
        configured,
        client_id: row.client_id.clone(),
        has_client_secret: row.client_secret_enc.is_some(),
        settings: row.settings.0.clone(),
        redirect_uri: (k == Some(ProviderKind::OAuth))
            .then(|| redirect_uri(public_url, &row.provider)),
        updated_at: Some(from_micros(row.updated_at)),
    }
}

async fn load_rows(conn: &mut Conn<'_>, project_id: &str) -> Result<Vec<ProviderRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        auth_providers::table
            .filter(auth_providers::project_id.eq(project_id))
            .select(ProviderRow::as_select())
            .load(c)
            .await?
    }))
}

/// Every provider of the project, in the fixed order of [`PROVIDERS`].
pub async fn list_providers(
    conn: &mut Conn<'_>, public_url: &str, project_id: &str,
) -> Result<Vec<ProviderState>, ToolError> {
    let rows = load_rows(conn, project_id).await?;
    Ok(merge(public_url, rows))
}

fn merge(public_url: &str, rows: Vec<ProviderRow>) -> Vec<ProviderState> {
    let by_name: BTreeMap<String, ProviderRow> =
        rows.into_iter().map(|r| (r.provider.clone(), r)).collect();
    PROVIDERS
        .iter()
        .map(|p| {
            by_name
                .get(*p)
                .map(|row| state_of(public_url, row))
                .unwrap_or_else(|| default_state(public_url, p))
        })
        .collect()
}

/// Whether one provider is enabled (the sign-in flows check theirs).
pub async fn provider_enabled(
    conn: &mut Conn<'_>, project_id: &str, provider: &str,
) -> Result<bool, ToolError> {
    let row: Option<bool> = with_conn!(conn, c => {
        auth_providers::table
            .filter(auth_providers::project_id.eq(project_id))
            .filter(auth_providers::provider.eq(provider))
            .select(auth_providers::enabled)
            .first(c)
            .await
            .optional()?
    });
    Ok(row.unwrap_or_else(|| provider == "email"))
}

/// A provider's configuration with its secret decrypted, for its sign-in
/// flow; none when nothing is stored for it.
pub async fn provider_config(
    conn: &mut Conn<'_>, encryption_key: &[u8; 32], project_id: &str, provider: &str,
) -> Result<Option<ProviderConfig>, ToolError> {
    let row: Option<ProviderRow> = with_conn!(conn, c => {
        auth_providers::table
            .filter(auth_providers::project_id.eq(project_id))
            .filter(auth_providers::provider.eq(provider))
            .select(ProviderRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let Some(row) = row else {
        return Ok(None);
    };
    let client_secret = row
        .client_secret_enc
        .as_deref()
        .map(|enc| crypto::decrypt(encryption_key, &aad(project_id, provider), enc))
        .transpose()?;
    Ok(Some(ProviderConfig {
        provider: row.provider,
        enabled: row.enabled,
        client_id: row.client_id,
        client_secret,
        options: row.settings.0,
    }))
}

/// The decrypted client secret of an OAuth provider, for the sign-in flow.
pub async fn client_secret(
    conn: &mut Conn<'_>, encryption_key: &[u8; 32], project_id: &str, provider: &str,
) -> Result<Option<String>, ToolError> {
    Ok(provider_config(conn, encryption_key, project_id, provider)
        .await?
        .and_then(|c| c.client_secret))
}

fn aad(project_id: &str, provider: &str) -> String {
    format!("auth_provider/{project_id}/{provider}")
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ToolError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        return Err(ToolError::invalid(
            field,
            format!("{field} must be 1 to {max} printable characters"),
        ));
    }
    Ok(())
}

/// The provider a name stands for: the seed spells magic links
/// `magic-link`.
fn canonical(provider: &str) -> &str {
    match provider {
        "magic-link" => "magic_link",
        other => other,
    }
}

/// The one provider a setting belongs to (`scopes`: every OAuth one).
fn owner_of(setting: &str) -> &'static [&'static str] {
    match setting {
        "scopes" => &["google", "github", "discord", "azure", "apple"],
        "hosted_domain" => &["google"],
        "tenant" | "allowed_tenants" => &["azure"],
        "team_id" | "key_id" => &["apple"],
        _ => &["sms"],
    }
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Checks one change's settings: each names only its provider and has
/// its provider's form.
fn check_options(
    i: usize, provider: &str, options: &ProviderOptions, secret: Option<&str>,
) -> Result<(), ToolError> {
    let field = |name: &str| format!("providers[{i}].{name}");
    let named: [(&str, bool); 8] = [
        ("scopes", options.scopes.is_some()),
        ("hosted_domain", options.hosted_domain.is_some()),
        ("tenant", options.tenant.is_some()),
        ("allowed_tenants", options.allowed_tenants.is_some()),
        ("team_id", options.team_id.is_some()),
        ("key_id", options.key_id.is_some()),
        ("sender", options.sender.is_some()),
        ("allowed_countries", options.allowed_countries.is_some()),
    ];
    for (setting, set) in named {
        let owners = owner_of(setting);
        if set && !owners.contains(&provider) {
            return Err(ToolError::invalid(
                field(setting),
                format!("{setting} is a setting of {} only", owners.join(", ")),
            )
            .with_hint(format!("remove {setting} from the {provider} change")));
        }
    }
    if let Some(scopes) = &options.scopes {
        if scopes.is_empty() || scopes.len() > 20 {
            return Err(ToolError::invalid(
                field("scopes"),
                "scopes must list 1 to 20 scopes",
            ));
        }
        for scope in scopes {
            if scope.is_empty() || scope.len() > 200 || !scope.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(ToolError::invalid(
                    field("scopes"),
                    "each scope must be 1 to 200 printable characters without spaces",
                ));
            }
        }
    }
    if let Some(domain) = &options.hosted_domain {
        let ok = !domain.is_empty()
            && domain.len() <= 253
            && domain.contains('.')
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(ToolError::invalid(
                field("hosted_domain"),
                "hosted_domain must be a domain name such as example.com",
            ));
        }
    }
    if let Some(tenant) = &options.tenant
        && !matches!(tenant.as_str(), "common" | "organizations" | "consumers")
        && !is_guid(tenant)
    {
        return Err(ToolError::invalid(
            field("tenant"),
            "tenant must be common, organizations, consumers or a tenant id (a GUID)",
        ));
    }
    if let Some(tenants) = &options.allowed_tenants
        && (tenants.is_empty() || tenants.len() > 100 || !tenants.iter().all(|t| is_guid(t)))
    {
        return Err(ToolError::invalid(
            field("allowed_tenants"),
            "allowed_tenants must list 1 to 100 tenant ids (GUIDs)",
        ));
    }
    for (name, value) in [("team_id", &options.team_id), ("key_id", &options.key_id)] {
        if let Some(v) = value
            && (v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(ToolError::invalid(
                field(name),
                format!("{name} must be the 10 letters and digits Apple shows"),
            ));
        }
    }
    if let Some(sender) = &options.sender {
        let number = sender
            .strip_prefix('+')
            .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
        let service = sender
            .strip_prefix("MG")
            .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !number && !service {
            return Err(ToolError::invalid(
                field("sender"),
                "sender must be an E.164 number (+14155550100) or a Messaging Service SID (MG...)",
            ));
        }
    }
    if let Some(countries) = &options.allowed_countries
        && (countries.is_empty()
            || countries.len() > 250
            || !countries
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())))
    {
        return Err(ToolError::invalid(
            field("allowed_countries"),
            "allowed_countries must list ISO 3166-1 alpha-2 codes such as US, GB",
        ));
    }
    if provider == "apple"
        && let Some(pem) = secret
        && !crate::apple::is_p256_key(pem)
    {
        return Err(ToolError::invalid(
            field("client_secret"),
            "apple's client_secret must be the .p8 key Apple gave (a P-256 private key in PEM)",
        )
        .with_hint("paste the whole file, from -----BEGIN PRIVATE KEY----- to its END line"));
    }
    Ok(())
}

/// Applies every change, after validating them all, in the caller's unit
/// of work.
pub async fn configure_providers(
    conn: &mut Conn<'_>, encryption_key: &[u8; 32], public_url: &str, project_id: &str,
    changes: &[ProviderChange], now: DateTime<Utc>,
) -> Result<Vec<ProviderState>, ToolError> {
    if changes.is_empty() {
        return Err(ToolError::invalid(
            "providers",
            "providers must list at least one provider change",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, change) in changes.iter().enumerate() {
        let field = |name: &str| format!("providers[{i}].{name}");
        let provider = canonical(&change.provider);
        let Some(k) = kind(provider) else {
            return Err(ToolError::invalid(field("provider"), "unknown provider")
                .with_hint(format!("use one of: {}", PROVIDERS.join(", "))));
        };
        if !seen.insert(provider) {
            return Err(ToolError::invalid(
                field("provider"),
                format!("provider {provider} is listed twice"),
            ));
        }
        if k == ProviderKind::BuiltIn
            && (change.client_id.is_some() || change.client_secret.is_some())
        {
            let f = if change.client_id.is_some() {
                "client_id"
            } else {
                "client_secret"
            };
            return Err(
                ToolError::invalid(field(f), format!("{provider} takes no credentials"))
                    .with_hint("remove client_id and client_secret for this provider"),
            );
        }
        if let Some(id) = &change.client_id {
            check_text(&field("client_id"), id, 512)?;
        }
        if let Some(secret) = &change.client_secret {
            // Apple's is a PEM key: lines.
            let flat = secret.replace(['\n', '\r'], "");
            let checked = if provider == "apple" { &flat } else { secret };
            check_text(&field("client_secret"), checked, 4096)?;
        }
        check_options(
            i,
            provider,
            &change.options(),
            change.client_secret.as_deref(),
        )?;
    }
    let at = to_micros(now);
    conn.lock_project(project_id).await?;
    let existing = load_rows(conn, project_id).await?;
    let new_rows = plan_rows(
        &existing,
        encryption_key,
        public_url,
        project_id,
        changes,
        at,
    )?;
    with_conn!(conn, c => {
        for row in &new_rows {
            diesel::delete(
                auth_providers::table
                    .filter(auth_providers::project_id.eq(&row.project_id))
                    .filter(auth_providers::provider.eq(&row.provider)),
            )
            .execute(c)
            .await?;
            diesel::insert_into(auth_providers::table).values(row).execute(c).await?;
        }
    });
    let rows = load_rows(conn, project_id).await?;
    Ok(merge(public_url, rows))
}

/// Stored settings with the named ones replaced.
fn merged_options(old: Option<&ProviderOptions>, change: ProviderOptions) -> ProviderOptions {
    let old = old.cloned().unwrap_or_default();
    ProviderOptions {
        scopes: change.scopes.or(old.scopes),
        hosted_domain: change.hosted_domain.or(old.hosted_domain),
        tenant: change.tenant.or(old.tenant),
        allowed_tenants: change.allowed_tenants.or(old.allowed_tenants),
        team_id: change.team_id.or(old.team_id),
        key_id: change.key_id.or(old.key_id),
        sender: change.sender.or(old.sender),
        allowed_countries: change.allowed_countries.or(old.allowed_countries),
    }
}

/// The rows the changes produce, given what is stored.
fn plan_rows(
    rows: &[ProviderRow], encryption_key: &[u8; 32], public_url: &str, project_id: &str,
    changes: &[ProviderChange], at: i64,
) -> Result<Vec<ProviderRow>, ToolError> {
    let existing: BTreeMap<&str, &ProviderRow> =
        rows.iter().map(|r| (r.provider.as_str(), r)).collect();
    let mut new_rows = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let provider = canonical(&change.provider);
        let old = existing.get(provider);
        let client_id = change
            .client_id
            .clone()
            .or_else(|| old.and_then(|r| r.client_id.clone()));
        let client_secret_enc = match &change.client_secret {
            Some(secret) => Some(crypto::encrypt(
                encryption_key,
                &aad(project_id, provider),
                secret,
            )?),
            None => old.and_then(|r| r.client_secret_enc.clone()),
        };
        let options = merged_options(old.map(|r| &r.settings.0), change.options());
        let needs_credentials = matches!(
            kind(provider),
            Some(ProviderKind::OAuth | ProviderKind::Sms)
        );
        if needs_credentials && change.enabled {
            let mut missing = Vec::new();
            if client_id.is_none() {
                missing.push("client_id");
            }
            if client_secret_enc.is_none() {
                missing.push("client_secret");
            }
            missing.extend(missing_settings(provider, &options));
            if let Some(first) = <[&str]>::first(&missing) {
                return Err(ToolError::precondition(format!(
                    "{provider} cannot be enabled without {}",
                    missing.join(", ")
                ))
                .with_field(format!("providers[{i}].{first}"))
                .with_hint(if provider == "sms" {
                    "pass client_id (the Twilio Account SID), client_secret (its Auth Token) and sender (a Twilio number or Messaging Service SID)".to_owned()
                } else {
                    format!(
                        "pass {} from the {provider} developer console, and register this redirect URI there: {}",
                        missing.join(" and "),
                        redirect_uri(public_url, provider)
                    )
                }));
            }
        }
        new_rows.push(ProviderRow {
            project_id: project_id.to_owned(),
            provider: provider.to_owned(),
            enabled: change.enabled,
            client_id,
            client_secret_enc,
            updated_at: at,
            settings: JsonText(options),
        });
    }
    Ok(new_rows)
}
