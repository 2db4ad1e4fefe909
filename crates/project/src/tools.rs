//! The project tools: thin adapters from typed arguments to the domain API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::args::{DryRunArgs, ListArgs, NoArgs};
use authgate_core::{
    Page, RateBudget, Scope, Tool, ToolContext, ToolError, ToolKind, ToolMeta, ToolRegistry,
    groups, require_id,
};

use crate::callbacks::{self, Callback};
use crate::keys::{self, ApiKeyInfo, CreatedApiKey, NewApiKey, Project};
use crate::providers::{self, ProviderChange, ProviderState};

pub fn register(registry: &mut ToolRegistry) {
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

// ---------------------------------------------------------------- whoami

pub struct Whoami;

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
}

impl Tool for Whoami {
    type Input = NoArgs;
    type Output = WhoamiOutput;
    const META: ToolMeta = ToolMeta {
        name: "whoami",
        title: "Who am I",
        description: "Describe the API key making this call: its id, name, project, environment, scopes, tool allow-list and remaining rate-limit budget.",
        kind: ToolKind::Read,
        group: groups::PROJECT,
        idempotent: true,
        example: "{}",
    };

    async fn call(&self, ctx: &ToolContext, _: NoArgs) -> Result<WhoamiOutput, ToolError> {
        let project = keys::get_project(&ctx.store, &ctx.project_id).await?;
        let caller = &ctx.caller;
        Ok(WhoamiOutput {
            id: caller.key_id.clone(),
            name: caller.key_name.clone(),
            prefix: caller.key_prefix.clone(),
            environment: project.environment.clone(),
            project,
            scopes: caller.scopes.clone(),
            tools: caller.tools.clone(),
            rate_limit: ctx.rate_budget.clone(),
        })
    }
}

// ---------------------------------------------------- get_project_status

pub struct GetProjectStatus;

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProviderSummary {
    pub provider: String,
    pub enabled: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrganizationsSummary {
    pub count: i64,
    /// The 10 newest organizations.
    pub newest: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusCounts {
    pub end_users: i64,
    pub active_sessions: i64,
    pub open_security_alerts: i64,
    pub callbacks: i64,
    pub active_api_keys: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectStatus {
    pub project: Project,
    pub auth_providers: Vec<ProviderSummary>,
    /// Billing plans with prices (none until billing is set up).
    pub billing_plans: Vec<serde_json::Value>,
    /// Roles (none until roles are created).
    pub roles: Vec<serde_json::Value>,
    pub organizations: OrganizationsSummary,
    pub counts: StatusCounts,
}

impl Tool for GetProjectStatus {
    type Input = NoArgs;
    type Output = ProjectStatus;
    const META: ToolMeta = ToolMeta {
        name: "get_project_status",
        title: "Get project status",
        description: "Overview of the project: its id, name and environment; auth providers and whether each is enabled; billing plans; roles; organizations (count and the 10 newest); counts of end users, active sessions, open security alerts, callback URLs and active API keys.",
        kind: ToolKind::Read,
        group: groups::PROJECT,
        idempotent: true,
        example: "{}",
    };

    async fn call(&self, ctx: &ToolContext, _: NoArgs) -> Result<ProjectStatus, ToolError> {
        let project = keys::get_project(&ctx.store, &ctx.project_id).await?;
        let providers = providers::list_providers(&ctx.store, &ctx.project_id).await?;
        let callbacks = callbacks::count_callbacks(&ctx.store, &ctx.project_id).await?;
        let active_keys = keys::active_keys(&ctx.store, &ctx.project_id).await?;
        Ok(ProjectStatus {
            project,
            auth_providers: providers
                .into_iter()
                .map(|p| ProviderSummary {
                    provider: p.provider,
                    enabled: p.enabled,
                })
                .collect(),
            billing_plans: Vec::new(),
            roles: Vec::new(),
            organizations: OrganizationsSummary {
                count: 0,
                newest: Vec::new(),
            },
            counts: StatusCounts {
                end_users: 0,
                active_sessions: 0,
                open_security_alerts: 0,
                callbacks,
                active_api_keys: active_keys.len() as i64,
            },
        })
    }
}

// ---------------------------------------------------- list_auth_providers

pub struct ListAuthProviders;

impl Tool for ListAuthProviders {
    type Input = ListArgs;
    type Output = Page<ProviderState>;
    const META: ToolMeta = ToolMeta {
        name: "list_auth_providers",
        title: "List auth providers",
        description: "List the sign-in providers (google, github, discord, azure, apple, email, magic_link, sms) with whether each is enabled and configured. Client secrets are never returned.",
        kind: ToolKind::Read,
        group: groups::AUTH_CONFIG,
        idempotent: true,
        example: "{}",
    };

    async fn call(
        &self,
        ctx: &ToolContext,
        args: ListArgs,
    ) -> Result<Page<ProviderState>, ToolError> {
        let page = ctx.page_request("auth_providers", args.limit, args.cursor.as_deref())?;
        let all = providers::list_providers(&ctx.store, &ctx.project_id).await?;
        ctx.cursors()
            .page_fixed(&page, &ctx.project_id, all, |p| p.provider.clone())
    }
}

// ----------------------------------------------- configure_auth_providers

pub struct ConfigureAuthProviders;

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

impl Tool for ConfigureAuthProviders {
    type Input = ConfigureAuthProvidersArgs;
    type Output = ProvidersOutput;
    const META: ToolMeta = ToolMeta {
        name: "configure_auth_providers",
        title: "Configure auth providers",
        description: "Enable, disable or set credentials of sign-in providers, all in one transaction. OAuth providers (google, github, discord, azure, apple) need client_id and client_secret to be enabled; the secret is stored encrypted and never returned.",
        kind: ToolKind::Write,
        group: groups::AUTH_CONFIG,
        idempotent: true,
        example: r#"{"providers": [{"provider": "github", "enabled": true, "client_id": "Iv1.0123456789abcdef", "client_secret": "<from GitHub>"}]}"#,
    };

    async fn call(
        &self,
        ctx: &ToolContext,
        args: ConfigureAuthProvidersArgs,
    ) -> Result<ProvidersOutput, ToolError> {
        let providers = providers::configure_providers(
            &ctx.store,
            &ctx.keys.encryption,
            &ctx.project_id,
            &args.providers,
            ctx.now(),
        )
        .await?;
        Ok(ProvidersOutput { providers })
    }
}

// ---------------------------------------------------------- callbacks

pub struct ListCallbacks;

impl Tool for ListCallbacks {
    type Input = ListArgs;
    type Output = Page<Callback>;
    const META: ToolMeta = ToolMeta {
        name: "list_callbacks",
        title: "List callback URLs",
        description: "List the callback (redirect) URLs allowed for this project, oldest first.",
        kind: ToolKind::Read,
        group: groups::AUTH_CONFIG,
        idempotent: true,
        example: r#"{"limit": 20}"#,
    };

    async fn call(&self, ctx: &ToolContext, args: ListArgs) -> Result<Page<Callback>, ToolError> {
        let page = ctx.page_request("callbacks", args.limit, args.cursor.as_deref())?;
        callbacks::list_callbacks(&ctx.store, &ctx.project_id, &page, &ctx.cursors()).await
    }
}

pub struct AddCallback;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCallbackArgs {
    /// Absolute https URL (plain http only for localhost), without a #fragment.
    pub url: String,
}

impl Tool for AddCallback {
    type Input = AddCallbackArgs;
    type Output = Callback;
    const META: ToolMeta = ToolMeta {
        name: "add_callback",
        title: "Add callback URL",
        description: "Allow a callback (redirect) URL: absolute https, or http for localhost only; no fragments or credentials. A URL already allowed is a conflict.",
        kind: ToolKind::Write,
        group: groups::AUTH_CONFIG,
        idempotent: false,
        example: r#"{"url": "https://app.example.com/auth/callback"}"#,
    };

    async fn call(&self, ctx: &ToolContext, args: AddCallbackArgs) -> Result<Callback, ToolError> {
        callbacks::add_callback(&ctx.store, &ctx.project_id, &args.url, ctx.now()).await
    }
}

pub struct RemoveCallback;

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
pub struct RemoveCallbackOutput {
    pub dry_run: bool,
    /// The callback removed (or that would be).
    pub removed: Callback,
}

impl Tool for RemoveCallback {
    type Input = RemoveCallbackArgs;
    type Output = RemoveCallbackOutput;
    const META: ToolMeta = ToolMeta {
        name: "remove_callback",
        title: "Remove callback URL",
        description: "Stop allowing a callback URL. Nothing else depends on it.",
        kind: ToolKind::Danger,
        group: groups::AUTH_CONFIG,
        idempotent: false,
        example: r#"{"callback_id": "cb_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#,
    };

    async fn call(
        &self,
        ctx: &ToolContext,
        args: RemoveCallbackArgs,
    ) -> Result<RemoveCallbackOutput, ToolError> {
        require_id("callback_id", "cb", &args.callback_id)?;
        let removed = callbacks::remove_callback(
            &ctx.store,
            &ctx.project_id,
            &args.callback_id,
            args.dry_run,
        )
        .await?;
        Ok(RemoveCallbackOutput {
            dry_run: args.dry_run,
            removed,
        })
    }
}

// ------------------------------------------------------------ API keys

pub struct ListApiKeys;

impl Tool for ListApiKeys {
    type Input = ListArgs;
    type Output = Page<ApiKeyInfo>;
    const META: ToolMeta = ToolMeta {
        name: "list_api_keys",
        title: "List API keys",
        description: "List the project's API keys, revoked ones included: id, name, prefix (first 12 characters), scopes, tool allow-list, created_at, last_used_at, revoked_at. Never the key itself.",
        kind: ToolKind::Read,
        group: groups::AUTH_CONFIG,
        idempotent: true,
        example: "{}",
    };

    async fn call(&self, ctx: &ToolContext, args: ListArgs) -> Result<Page<ApiKeyInfo>, ToolError> {
        let page = ctx.page_request("api_keys", args.limit, args.cursor.as_deref())?;
        keys::list_api_keys(&ctx.store, &ctx.project_id, &page, &ctx.cursors()).await
    }
}

pub struct CreateApiKey;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyArgs {
    /// A label to recognise the key by (1 to 100 characters).
    pub name: Option<String>,
    /// read, write and/or admin (default ["read"]). No wider than the calling key's.
    pub scopes: Option<Vec<Scope>>,
    /// Tool names and group:<name> entries the key may call; omit for every tool its scopes allow.
    pub tools: Option<Vec<String>>,
}

impl Tool for CreateApiKey {
    type Input = CreateApiKeyArgs;
    type Output = CreatedApiKey;
    const META: ToolMeta = ToolMeta {
        name: "create_api_key",
        title: "Create API key",
        description: "Create an API key for this project. The full key is in the result this once and stored only as a hash. A key can hand on no more than it holds: scopes and tool allow-list are at most the calling key's.",
        kind: ToolKind::Write,
        group: groups::AUTH_CONFIG,
        idempotent: false,
        example: r#"{"name": "CI read-only", "scopes": ["read"], "tools": ["group:audit", "whoami"]}"#,
    };

    async fn call(
        &self,
        ctx: &ToolContext,
        args: CreateApiKeyArgs,
    ) -> Result<CreatedApiKey, ToolError> {
        let new = validate_new_key(ctx, args)?;
        keys::create_api_key(&ctx.store, &ctx.project_id, new, ctx.now()).await
    }
}

fn validate_new_key(ctx: &ToolContext, args: CreateApiKeyArgs) -> Result<NewApiKey, ToolError> {
    let name = match args.name {
        Some(n) => {
            let n = n.trim().to_owned();
            if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
                return Err(ToolError::invalid(
                    "name",
                    "name must be 1 to 100 printable characters",
                ));
            }
            Some(n)
        }
        None => None,
    };
    let mut scopes = args.scopes.unwrap_or_else(|| vec![Scope::Read]);
    if scopes.is_empty() {
        return Err(ToolError::invalid("scopes", "scopes must not be empty")
            .with_hint("pass [\"read\"], [\"write\"] or [\"admin\"]"));
    }
    scopes.sort();
    scopes.dedup();
    let wanted = scopes.iter().copied().max().unwrap_or(Scope::Read);
    if ctx.caller.max_scope().is_none_or(|have| have < wanted) {
        return Err(ToolError::permission_denied(format!(
            "this key cannot create a key with the '{}' scope, which is wider than its own",
            wanted.as_str()
        ))
        .with_field("scopes")
        .with_hint("ask for a key with fewer scopes, or call with an admin key"));
    }
    let tools = match args.tools {
        None => {
            if ctx.caller.tools.is_some() {
                return Err(ToolError::permission_denied(
                    "this key has a tool allow-list, so the new key needs one too, within it",
                )
                .with_field("tools")
                .with_hint("pass tools: the tools or groups the new key may call"));
            }
            None
        }
        Some(list) => {
            if list.is_empty() {
                return Err(ToolError::invalid(
                    "tools",
                    "tools must name at least one tool or group; omit it to allow every tool",
                ));
            }
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for (i, entry) in list.into_iter().enumerate() {
                if !ctx.catalog.knows(&entry) {
                    let groups: Vec<String> = ctx
                        .catalog
                        .groups()
                        .iter()
                        .map(|g| format!("group:{g}"))
                        .collect();
                    return Err(ToolError::invalid(
                        format!("tools[{i}]"),
                        "not a tool name or tool group",
                    )
                    .with_hint(format!(
                        "use tool names from tools/list or one of {}",
                        groups.join(", ")
                    )));
                }
                if !ctx.caller.covers_entry(&ctx.catalog, &entry) {
                    return Err(ToolError::permission_denied(format!(
                        "this key's allow-list does not cover {entry}"
                    ))
                    .with_field(format!("tools[{i}]")));
                }
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
            Some(out)
        }
    };
    Ok(NewApiKey {
        name,
        scopes,
        tools,
    })
}

pub struct RegenerateApiKey;

#[derive(Debug, Serialize, JsonSchema)]
pub struct RegenerateOutput {
    pub dry_run: bool,
    /// The keys revoked (or that would be), the calling key among them.
    pub revoked_key_ids: Vec<String>,
    /// The new admin key, in the shape of create_api_key; absent on a dry run.
    #[serde(flatten)]
    pub new_key: Option<CreatedApiKey>,
}

impl Tool for RegenerateApiKey {
    type Input = DryRunArgs;
    type Output = RegenerateOutput;
    const META: ToolMeta = ToolMeta {
        name: "regenerate_api_key",
        title: "Regenerate API keys",
        description: "Revoke every API key of the project, the calling key included, and return one new admin key, shown this once. Use after a key may have leaked. Switch your MCP client to the new key right away.",
        kind: ToolKind::Danger,
        group: groups::AUTH_CONFIG,
        idempotent: false,
        example: r#"{"dry_run": true}"#,
    };

    async fn call(
        &self,
        ctx: &ToolContext,
        args: DryRunArgs,
    ) -> Result<RegenerateOutput, ToolError> {
        if args.dry_run {
            let active = keys::active_keys(&ctx.store, &ctx.project_id).await?;
            return Ok(RegenerateOutput {
                dry_run: true,
                revoked_key_ids: active.into_iter().map(|k| k.id).collect(),
                new_key: None,
            });
        }
        let (revoked, new_key) =
            keys::regenerate_api_keys(&ctx.store, &ctx.project_id, ctx.now()).await?;
        Ok(RegenerateOutput {
            dry_run: false,
            revoked_key_ids: revoked,
            new_key: Some(new_key),
        })
    }
}

pub struct RevokeApiKey;

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
pub struct RevokeApiKeyOutput {
    pub dry_run: bool,
    pub revoked: ApiKeyInfo,
}

impl Tool for RevokeApiKey {
    type Input = RevokeApiKeyArgs;
    type Output = RevokeApiKeyOutput;
    const META: ToolMeta = ToolMeta {
        name: "revoke_api_key",
        title: "Revoke API key",
        description: "Revoke one API key: its next request is refused with 401. Revoking the calling key is allowed and ends this client's access.",
        kind: ToolKind::Danger,
        group: groups::AUTH_CONFIG,
        idempotent: false,
        example: r#"{"key_id": "key_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#,
    };

    async fn call(
        &self,
        ctx: &ToolContext,
        args: RevokeApiKeyArgs,
    ) -> Result<RevokeApiKeyOutput, ToolError> {
        require_id("key_id", "key", &args.key_id)?;
        let revoked = keys::revoke_api_key(
            &ctx.store,
            &ctx.project_id,
            &args.key_id,
            args.dry_run,
            ctx.now(),
        )
        .await?;
        Ok(RevokeApiKeyOutput {
            dry_run: args.dry_run,
            revoked,
        })
    }
}
