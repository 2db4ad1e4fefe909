//! Projects and their configuration: API keys (hashed, scoped, with tool
//! allow-lists), auth providers (secrets encrypted at rest) and callback
//! URLs, with the MCP tools that manage them. Every function takes the
//! caller's [`Conn`](authgate_core::Conn), so it runs inside whatever unit
//! of work the caller opened.

pub mod apple;
mod callbacks;
mod flows;
mod keys;
mod projects;
mod providers;
mod sections;
mod tools;

pub use authgate_core::Project;
pub use callbacks::{
    Callback, add_callback, all_callbacks, link_target, list_callbacks, origin_allowed,
    origin_allowed_in, remove_callback, validate_callback_url,
};
pub use flows::{create_project, ensure_first_project};
pub use keys::{
    ApiKeyInfo, AuthFailure, CreatedApiKey, Issuer, KEY_EVENTS, KeyEvent, KeyKind, KeyRequest,
    KeySettings, NewApiKey, NewGrant, PREFIX_LEN, active_api_keys, authenticate_key,
    authenticate_key_in, caller_of_key, count_active_api_keys, create_api_key, create_grant,
    flush_key_uses, get_api_key, key_digest, key_well_formed, list_api_keys, record_last_used,
    regenerate_api_keys, revoke_api_key, validate_new_key,
};
pub use projects::{get_project, list_projects, require_project};
pub use providers::{
    PROVIDERS, ProviderChange, ProviderConfig, ProviderOptions, ProviderState, SignInSettings,
    client_secret, configure_providers, list_providers, provider_config, provider_enabled,
    redirect_uri,
};
pub use tools::{AUTH_CONFIG, PROJECT, register};
