//! Integration tests: the real gateway on loopback, driven by a real MCP
//! client, on SQLite and (when AUTHGATE_TEST_DATABASE_URL is set) on
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod addresses;
mod alerts;
mod billing;
mod budgets;
mod cli;
mod common;
mod dashboard;
mod devex;
mod docs;
mod email;
mod enumeration;
mod export;
mod faults;
mod fixtures;
mod hardening;
mod hotpath;
mod identity;
mod logsecrets;
mod oauth;
mod observability;
mod orgs;
mod rbac;
mod registry;
mod resources;
mod security;
mod sms;
mod social;
mod sse;
mod stripe;
mod takeover;
mod tools;
mod webhooks;
