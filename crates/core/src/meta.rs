//! What describes a tool before it runs: its kind, its fixed metadata,
//! the groups allow-lists name, and the catalogue of names and groups that
//! key allow-lists are checked against. Nothing here runs a tool.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

/// What a tool may do, shown in its description and as MCP annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// Reads only.
    Read,
    /// Creates or changes, never destroys.
    Write,
    /// Deletes or revokes; accepts `dry_run`.
    Danger,
}

impl ToolKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Read => "read",
            ToolKind::Write => "write",
            ToolKind::Danger => "danger",
        }
    }
}

/// The fixed description of a tool; `#[tool]` fills it in.
#[derive(Debug, Clone, Copy)]
pub struct ToolMeta {
    pub name: &'static str,
    pub title: &'static str,
    /// The function's doc comment.
    pub description: &'static str,
    pub kind: ToolKind,
    /// A group declared with [`ToolRegistry::group`].
    pub group: &'static str,
    /// Whether calling twice with the same arguments changes nothing more.
    pub idempotent: bool,
    /// An example `arguments` object, as JSON text; checked against the
    /// input type when the registry is built.
    pub example: &'static str,
    /// Whether the tool runs on a connection inside the call's unit of
    /// work; a tool that answers from the context alone needs none.
    pub uses_db: bool,
    /// Whether each call leaves an audit record: every write and danger
    /// call, and the reads that hand out personal data.
    pub audited: bool,
}

impl ToolMeta {
    /// The description as clients see it, with the kind in front (what
    /// `dry_run` does is said once, in the server's instructions).
    pub fn full_description(&self) -> String {
        format!("[{}] {}", self.kind.as_str(), self.description)
    }
}

/// A tool group, usable in key allow-lists as `group:<name>`; one per
/// domain heading of the catalogue, declared by the domain that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolGroup {
    pub name: &'static str,
    /// What the group manages, for the server's instructions.
    pub summary: &'static str,
}

/// The names and groups of the registered tools.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub(crate) tools: BTreeMap<&'static str, &'static str>,
}

impl Catalog {
    pub fn group_of(&self, tool: &str) -> Option<&'static str> {
        self.tools.get(tool).copied()
    }

    pub fn groups(&self) -> Vec<&'static str> {
        let mut groups: Vec<_> = self.tools.values().copied().collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    /// Whether `entry` names a tool or a `group:<name>`.
    pub fn knows(&self, entry: &str) -> bool {
        match entry.strip_prefix("group:") {
            Some(group) => self.tools.values().any(|g| *g == group),
            None => self.tools.contains_key(entry),
        }
    }

    /// The tools an allow-list entry covers.
    pub fn expand(&self, entry: &str) -> Vec<&'static str> {
        match entry.strip_prefix("group:") {
            Some(group) => self
                .tools
                .iter()
                .filter(|(_, g)| **g == group)
                .map(|(name, _)| *name)
                .collect(),
            None => self
                .tools
                .get_key_value(entry)
                .map(|(name, _)| vec![*name])
                .unwrap_or_default(),
        }
    }
}
