//! The project tools: thin adapters from typed arguments to the domain API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::args::{DangerResult, DryRunArgs, ListArgs, NoArgs};
use authgate_core::schema::JsonObject;
use authgate_core::status::StatusParts;
use authgate_core::{
    Conn, ConnectionLimits, Page, Project, RateBudget, Scope, ToolContext, ToolError, ToolGroup,
    ToolRegistry, require_id, tool,
};

use crate::callbacks::{self, Callback};
use crate::keys::{self, ApiKeyInfo, CreatedApiKey, Issuer, KeyRequest, KeySettings};
use crate::providers::{self, ProviderChange, ProviderState, SignInSettings};

pub const PROJECT: &str = "project";
pub const AUTH_CONFIG: &str = "auth_config";

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: PROJECT,
            summary: "the calling key and an overview of the whole project",
        })
        .group(ToolGroup {
            name: AUTH_CONFIG,
            summary: "sign-in providers, callback URLs and API keys",
        });
    crate::sections::register(registry);
    registry
        .register(Whoami)
        .register(GetProjectStatus)
        .register(ListAuthProviders)
        .register(ConfigureAuthProviders)
        .register(ListCallbacks)
        .register(AddCallback)
        .register(RemoveCallback)
        .register(ListApiKeys)
        .register(CreateApiKey)
        .register(RegenerateApiKey)
        .register(RevokeApiKey);
}

// ------------------------------------------------------------ project

#[derive(Debug, Serialize, JsonSchema)]
pub struct WhoamiOutput {
    /// The calling API key's id.
    pub id: String,
    pub name: Option<String>,
    pub prefix: String,
    pub project: Project,
    /// `live` or `test`.
    pub environment: String,
    pub scopes: Vec<Scope>,
    /// The key's tool allow-list; null allows every tool its scopes allow.
    pub tools: Option<Vec<String>>,
    /// The key's rate-limit budget on this gateway.
    pub rate_limit: Option<RateBudget>,
    /// What this connection narrowed itself to (`?toolsets=`,
    /// `?read_only=true` in its URL), within what the key allows.
    pub connection: ConnectionLimits,
    /// `key`, or `oauth` for a grant made by an MCP client's OAuth consent.
    pub kind: crate::KeyKind,
    /// The OAuth client's name, for a grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

/// Describe the calling API key: id, name, project, scopes, tool allow-list,
/// rate-limit budget, and the toolsets and read-only mode of this connection.
#[tool(read, group = PROJECT, title = "Who am I")]
pub async fn whoami(ctx: &ToolContext, _args: NoArgs) -> Result<WhoamiOutput, ToolError> {
    let caller = &ctx.caller;
    Ok(WhoamiOutput {
        id: caller.key_id.clone(),
        name: caller.key_name.clone(),
        prefix: caller.key_prefix.clone(),
        environment: caller.project.environment.clone(),
        project: caller.project.clone(),
        scopes: caller.scopes.clone(),
        tools: caller.tools.clone(),
        rate_limit: ctx.rate_budget,
        connection: caller.connection.clone(),
        kind: if caller.client_name.is_some() {
            crate::KeyKind::Oauth
        } else {
            crate::KeyKind::Key
        },
        client_name: caller.client_name.clone(),
    })
}

/// The sections of get_project_status, merged; read in one snapshot.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct ProjectStatus(pub JsonObject);

fn status_schema(status: &StatusParts<'_>) -> JsonObject {
    // Problems (a key declared twice) fail the registry's own build.
    let mut problems = Vec::new();
    authgate_core::status::merged_schema(status.sections, status.counts, &mut problems)
}

/// Overview of the project in one snapshot: id, name, environment, auth
/// providers and each domain's summary (plans, roles, organizations, counts).
/// Call it first.
#[tool(read, group = PROJECT, title = "Get project status", output_schema = status_schema)]
pub async fn get_project_status(
    ctx: &ToolContext, conn: &mut Conn<'_>, _args: NoArgs,
) -> Result<ProjectStatus, ToolError> {
    ctx.domains.read_status(ctx, conn).await.map(ProjectStatus)
}

// ------------------------------------------------------- auth providers

/// List the sign-in providers with whether each is enabled and configured.
/// Secrets are never returned.
#[tool(read, group = AUTH_CONFIG, title = "List auth providers")]
pub async fn list_auth_providers(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<ProviderState>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    let public_url = ctx.setting::<SignInSettings>().public_url;
    let all = providers::list_providers(conn, &public_url, ctx.project_id()).await?;
    page.page_fixed(all, |p| p.provider.clone())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigureAuthProvidersArgs {
    /// The changes, applied together or not at all.
    pub providers: Vec<ProviderChange>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProvidersOutput {
    /// Every provider after the change.
    pub providers: Vec<ProviderState>,
}

/// Enable, disable or configure sign-in providers in one transaction; omitted
/// fields keep stored values; secrets are encrypted, never returned. OAuth:
/// client_id, client_secret (apple: the .p8 PEM, with team_id, key_id); optional
/// scopes, google hosted_domain, azure tenant, allowed_tenants. sms: Twilio
/// Account SID as client_id, Auth Token as client_secret, sender; optional
/// allowed_countries.
#[tool(
    write,
    group = AUTH_CONFIG,
    title = "Configure auth providers",
    idempotent,
    example = r#"{"providers": [{"provider": "github", "enabled": true, "client_id": "Iv1.0123456789abcdef", "client_secret": "<from GitHub>"}]}"#
)]
pub async fn configure_auth_providers(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ConfigureAuthProvidersArgs,
) -> Result<ProvidersOutput, ToolError> {
    let public_url = ctx.setting::<SignInSettings>().public_url;
    let providers = providers::configure_providers(
        conn,
        &ctx.keys.encryption,
        &public_url,
        ctx.project_id(),
        &args.providers,
        ctx.now(),
    )
    .await?;
    Ok(ProvidersOutput { providers })
}

// ---------------------------------------------------------- callbacks

/// List the callback (redirect) URLs allowed for this project, oldest
/// first.
#[tool(read, group = AUTH_CONFIG, title = "List callback URLs", example = r#"{"limit": 20}"#)]
pub async fn list_callbacks(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<Callback>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    callbacks::list_callbacks(conn, ctx.project_id(), &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCallbackArgs {
    /// Absolute https URL (plain http only for localhost), without a #fragment.
    pub url: String,
}

/// Allow a callback (redirect) URL: absolute https (http for localhost only),
/// no fragment or credentials.
#[tool(
    write,
    group = AUTH_CONFIG,
    title = "Add callback URL",
    example = r#"{"url": "https://app.example.com/auth/callback"}"#
)]
pub async fn add_callback(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: AddCallbackArgs,
) -> Result<Callback, ToolError> {
    callbacks::add_callback(conn, ctx.project_id(), &args.url, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveCallbackArgs {
    /// The callback id (cb_...).
    pub callback_id: String,
    /// Show what would be removed without removing it.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RemovedCallback {
    /// The callback removed (or that would be).
    pub callback: Callback,
}

/// Stop allowing a callback URL. Nothing else depends on it.
#[tool(
    danger,
    group = AUTH_CONFIG,
    title = "Remove callback URL",
    example = r#"{"callback_id": "cb_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#
)]
pub async fn remove_callback(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: RemoveCallbackArgs,
) -> Result<DangerResult<RemovedCallback>, ToolError> {
    require_id("callback_id", "cb", &args.callback_id)?;
    let callback =
        callbacks::remove_callback(conn, ctx.project_id(), &args.callback_id, args.dry_run).await?;
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: RemovedCallback { callback },
        cascade: Default::default(),
    })
}

// ------------------------------------------------------------ API keys

/// List the project's API keys, revoked ones included: id, name, prefix,
/// scopes, allow-list, last use. Never the key itself.
#[tool(read, group = AUTH_CONFIG, title = "List API keys")]
pub async fn list_api_keys(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<ApiKeyInfo>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    keys::list_api_keys(conn, ctx.project_id(), &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyArgs {
    /// A label to recognise the key by (1 to 100 characters).
    pub name: Option<String>,
    /// read, write and/or admin (default ["read"]). No wider than the calling key's.
    pub scopes: Option<Vec<Scope>>,
    /// Tool names and group:<name> entries it may call (omit: all its scopes
    /// allow).
    pub tools: Option<Vec<String>>,
}

/// Create an API key for this project; the key is shown once and stored hashed.
/// Its scopes and tool allow-list can be at most the calling key's. At most
/// AUTHGATE_MAX_ACTIVE_KEYS (100) active keys.
#[tool(
    write,
    group = AUTH_CONFIG,
    title = "Create API key",
    example = r#"{"name": "CI read-only", "scopes": ["read"], "tools": ["group:audit", "whoami"]}"#
)]
pub async fn create_api_key(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: CreateApiKeyArgs,
) -> Result<CreatedApiKey, ToolError> {
    let new = keys::validate_new_key(
        Issuer::Key(&ctx.caller),
        ctx.domains.catalog(),
        KeyRequest {
            name: args.name,
            scopes: args.scopes,
            tools: args.tools,
        },
    )?;
    let settings: KeySettings = ctx.setting();
    keys::create_api_key(conn, ctx.project_id(), new, settings, ctx.now()).await
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Regenerated {
    /// The keys revoked (or that would be), the calling key among them.
    pub revoked_key_ids: Vec<String>,
    /// The new admin key, in the shape of create_api_key; absent on a dry run.
    #[serde(flatten)]
    pub new_key: Option<CreatedApiKey>,
}

/// Revoke every API key of the project, the calling one included, and return
/// one new admin key, shown once. Use after a leak; switch your MCP client to
/// the new key at once.
#[tool(danger, group = AUTH_CONFIG, title = "Regenerate API keys", example = r#"{"dry_run": true}"#)]
pub async fn regenerate_api_key(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: DryRunArgs,
) -> Result<DangerResult<Regenerated>, ToolError> {
    let (revoked, new_key) =
        keys::regenerate_api_keys(conn, ctx.project_id(), args.dry_run, ctx.now()).await?;
    let cascade = [("api_keys".to_owned(), revoked.len() as u64)].into();
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: Regenerated {
            revoked_key_ids: revoked,
            new_key,
        },
        cascade,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeApiKeyArgs {
    /// The key id (key_...), as list_api_keys shows it.
    pub key_id: String,
    /// Show what would change without changing it.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RevokedKey {
    /// The key revoked (or that would be).
    pub api_key: ApiKeyInfo,
}

/// Revoke one API key: its next request gets 401. Revoking the calling key ends
/// this client's access.
#[tool(
    danger,
    group = AUTH_CONFIG,
    title = "Revoke API key",
    example = r#"{"key_id": "key_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#
)]
pub async fn revoke_api_key(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: RevokeApiKeyArgs,
) -> Result<DangerResult<RevokedKey>, ToolError> {
    require_id("key_id", "key", &args.key_id)?;
    let api_key = keys::revoke_api_key(
        conn,
        ctx.project_id(),
        &args.key_id,
        args.dry_run,
        ctx.now(),
    )
    .await?;
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: RevokedKey { api_key },
        cascade: Default::default(),
    })
}
