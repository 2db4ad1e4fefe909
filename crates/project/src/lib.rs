//! Projects and their configuration: API keys (hashed, scoped, with tool
//! allow-lists), auth providers (secrets encrypted at rest) and callback
//! URLs, with the MCP tools that manage them.

pub mod callbacks;
pub mod crypto;
pub mod keys;
pub mod providers;
pub mod tools;

pub use keys::{
    ApiKeyInfo, AuthFailure, CreatedApiKey, NewApiKey, Project, authenticate, create_api_key,
    create_project, get_project, list_projects,
};
pub use tools::register;
