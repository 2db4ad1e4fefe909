//! Argument and result types shared by many tools. Each tool's input is its
//! own struct (serde cannot combine `flatten` with `deny_unknown_fields`), so
//! these are the whole inputs of tools that take only these.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// Show what would change, with the same counts, without changing it.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a danger tool removes or revokes along with its target, by kind:
/// `{"sessions": 3, "memberships": 1}`. A dry run reports the same counts.
pub type Cascade = BTreeMap<String, u64>;

// The one result shape of every danger tool: `{dry_run, <the target>,
// cascade}`. `T` is a struct whose fields name the target (e.g.
// `{callback: {...}}`).
/// What a danger tool did, or on a dry run would do: its target, and what
/// goes with it, counted by kind.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DangerResult<T> {
    /// True when nothing was changed.
    pub dry_run: bool,
    #[serde(flatten)]
    pub target: T,
    /// What is (or would be) removed along with the target, by kind.
    pub cascade: Cascade,
}
