//! Argument types shared by many tools. Each tool's input is its own
//! struct (serde cannot combine `flatten` with `deny_unknown_fields`), so
//! these are the whole inputs of tools that take only these.

use schemars::JsonSchema;
use serde::Deserialize;

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Arguments of a list: page size and where to continue.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
}

/// The arguments of a danger tool that acts on the whole project.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunArgs {
    /// Show what would change without changing it.
    #[serde(default)]
    pub dry_run: bool,
}
