//! The `authgate` binary's library: configuration, the MCP gateway (rmcp
//! over Streamable HTTP, plus a legacy SSE bridge), the end-user REST API,
//! API-key authentication, rate limits and audit of agent calls. It holds
//! no domain logic: tools come from the domain crates' registries and REST
//! handlers call the domains' flows. One concern a file: `front.rs` (ids,
//! spans, the request log line), `auth/` (keys, budgets, host, sessions,
//! refusals), `mcp/` (the MCP handler and its definitions), `sse.rs`,
//! `rest/` (routes, extraction, answers, CORS, handlers by domain),
//! `server.rs` (assembly and start-up), `app.rs` (shared state).

pub mod admin;
pub mod api_error;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod docs;
pub mod front;
pub mod healthcheck;
pub mod jsonrpc;
pub mod keycache;
pub mod logging;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod ratelimit;
pub mod registry;
pub mod request;
pub mod rest;
pub mod serve;
pub mod server;
pub mod settings;
pub mod sse;

pub use config::Config;
pub use registry::registry;
pub use server::Server;
