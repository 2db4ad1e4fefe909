//! The `authgate` binary's library: configuration, the MCP gateway (rmcp
//! over Streamable HTTP, plus a legacy SSE bridge), API-key authentication,
//! rate limits and audit of agent calls. It holds no domain logic: tools
//! come from the domain crates' registries.

pub mod app;
pub mod auth;
pub mod config;
pub mod docs;
pub mod errors;
pub mod http;
pub mod keycache;
pub mod logging;
pub mod mcp;
pub mod metrics;
pub mod ratelimit;
pub mod rest;
pub mod server;
pub mod sse;

pub use app::registry;
pub use config::Config;
pub use server::Server;
