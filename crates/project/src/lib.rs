//! Projects and their configuration: API keys (hashed, scoped, with tool
//! allow-lists), auth providers (secrets encrypted at rest) and callback
//! URLs, with the MCP tools that manage them. Every function takes the
//! caller's [`Conn`](authgate_core::Conn), so it runs inside whatever unit
//! of work the caller opened.

pub mod callbacks;
pub mod keys;
pub mod providers;
pub mod tools;

pub use authgate_core::Project;
pub use keys::{
    ApiKeyInfo, AuthFailure, CreatedApiKey, Issuer, KeyRequest, KeySettings, NewApiKey,
    authenticate, create_api_key, create_project, ensure_first_project, get_project, list_projects,
    validate_new_key,
};
pub use tools::register;
