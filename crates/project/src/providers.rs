//! Sign-in methods of a project: OAuth providers (client secret encrypted
//! at rest, never returned) and the built-in email, magic link and SMS.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::ToolError;
use authgate_core::time::{from_micros, to_micros};
use authgate_store::schema::auth_providers;
use authgate_store::{Conn, with_conn};

use authgate_core::crypto;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProviderKind {
    OAuth,
    /// Email and password, and magic links: delivered by AuthGate itself.
    BuiltIn,
    /// Needs an SMS gateway, which this server does not have yet.
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
    /// secret; email and magic_link: always; sms: no SMS gateway yet).
    pub configured: bool,
    /// The OAuth client id (public), when set.
    pub client_id: Option<String>,
    /// Whether an OAuth client secret is stored (encrypted).
    pub has_client_secret: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One provider change.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderChange {
    /// google, github, discord, azure, apple, email, magic_link or sms.
    pub provider: String,
    pub enabled: bool,
    /// OAuth client id (OAuth providers only).
    pub client_id: Option<String>,
    /// OAuth client secret (OAuth providers only); stored encrypted, never returned.
    pub client_secret: Option<String>,
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
}

fn default_state(provider: &str) -> ProviderState {
    let k = kind(provider);
    ProviderState {
        provider: provider.to_owned(),
        enabled: provider == "email",
        configured: k == Some(ProviderKind::BuiltIn),
        client_id: None,
        has_client_secret: false,
        updated_at: None,
    }
}

fn state_of(row: &ProviderRow) -> ProviderState {
    let configured = match kind(&row.provider) {
        Some(ProviderKind::OAuth) => row.client_id.is_some() && row.client_secret_enc.is_some(),
        Some(ProviderKind::BuiltIn) => true,
        _ => false,
    };
    ProviderState {
        provider: row.provider.clone(),
        enabled: row.enabled,
        configured,
        client_id: row.client_id.clone(),
        has_client_secret: row.client_secret_enc.is_some(),
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
    conn: &mut Conn<'_>, project_id: &str,
) -> Result<Vec<ProviderState>, ToolError> {
    let rows = load_rows(conn, project_id).await?;
    Ok(merge(rows))
}

fn merge(rows: Vec<ProviderRow>) -> Vec<ProviderState> {
    let by_name: BTreeMap<String, ProviderRow> =
        rows.into_iter().map(|r| (r.provider.clone(), r)).collect();
    PROVIDERS
        .iter()
        .map(|p| {
            by_name
                .get(*p)
                .map(state_of)
                .unwrap_or_else(|| default_state(p))
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
    Ok(row.unwrap_or_else(|| default_state(provider).enabled))
}

/// The decrypted client secret of an OAuth provider, for the sign-in flow.
pub async fn client_secret(
    conn: &mut Conn<'_>, encryption_key: &[u8; 32], project_id: &str, provider: &str,
) -> Result<Option<String>, ToolError> {
    let rows = load_rows(conn, project_id).await?;
    rows.iter()
        .find(|r| r.provider == provider)
        .and_then(|r| r.client_secret_enc.as_deref())
        .map(|enc| crypto::decrypt(encryption_key, &aad(project_id, provider), enc))
        .transpose()
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

/// Applies every change, after validating them all, in the caller's unit
/// of work.
pub async fn configure_providers(
    conn: &mut Conn<'_>, encryption_key: &[u8; 32], project_id: &str, changes: &[ProviderChange],
    now: DateTime<Utc>,
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
        let Some(k) = kind(&change.provider) else {
            return Err(ToolError::invalid(field("provider"), "unknown provider")
                .with_hint(format!("use one of: {}", PROVIDERS.join(", "))));
        };
        if !seen.insert(change.provider.as_str()) {
            return Err(ToolError::invalid(
                field("provider"),
                format!("provider {} is listed twice", change.provider),
            ));
        }
        if k != ProviderKind::OAuth
            && (change.client_id.is_some() || change.client_secret.is_some())
        {
            let f = if change.client_id.is_some() {
                "client_id"
            } else {
                "client_secret"
            };
            return Err(ToolError::invalid(
                field(f),
                format!("{} takes no OAuth credentials", change.provider),
            )
            .with_hint("remove client_id and client_secret for this provider"));
        }
        if k == ProviderKind::Sms && change.enabled {
            return Err(ToolError::precondition(
                "sms cannot be enabled: this server has no SMS gateway configured",
            )
            .with_field(field("enabled")));
        }
        if let Some(id) = &change.client_id {
            check_text(&field("client_id"), id, 512)?;
        }
        if let Some(secret) = &change.client_secret {
            check_text(&field("client_secret"), secret, 2048)?;
        }
    }
    let at = to_micros(now);
    conn.lock_project(project_id).await?;
    let existing = load_rows(conn, project_id).await?;
    let new_rows = plan_rows(&existing, encryption_key, project_id, changes, at)?;
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
    Ok(merge(rows))
}

/// The rows the changes produce, given what is stored.
fn plan_rows(
    rows: &[ProviderRow], encryption_key: &[u8; 32], project_id: &str, changes: &[ProviderChange],
    at: i64,
) -> Result<Vec<ProviderRow>, ToolError> {
    let existing: BTreeMap<&str, &ProviderRow> =
        rows.iter().map(|r| (r.provider.as_str(), r)).collect();
    let mut new_rows = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let old = existing.get(change.provider.as_str());
        let client_id = change
            .client_id
            .clone()
            .or_else(|| old.and_then(|r| r.client_id.clone()));
        let client_secret_enc = match &change.client_secret {
            Some(secret) => Some(crypto::encrypt(
                encryption_key,
                &aad(project_id, &change.provider),
                secret,
            )?),
            None => old.and_then(|r| r.client_secret_enc.clone()),
        };
        if kind(&change.provider) == Some(ProviderKind::OAuth)
            && change.enabled
            && (client_id.is_none() || client_secret_enc.is_none())
        {
            let missing = if client_id.is_none() {
                "client_id"
            } else {
                "client_secret"
            };
            return Err(ToolError::precondition(format!(
                "{} cannot be enabled without a {missing}",
                change.provider
            ))
            .with_field(format!("providers[{i}].{missing}"))
            .with_hint(format!(
                "pass client_id and client_secret from the {} developer console",
                change.provider
            )));
        }
        new_rows.push(ProviderRow {
            project_id: project_id.to_owned(),
            provider: change.provider.clone(),
            enabled: change.enabled,
            client_id,
            client_secret_enc,
            updated_at: at,
        });
    }
    Ok(new_rows)
}
