//! Who is calling: the API key a call is made with (its project, scopes
//! and tool allow-list), the MCP client it came through, and its rate
//! budget. The gateway resolves it; a tool reads it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ToolError;
use crate::meta::{Catalog, ToolKind, ToolMeta};

/// An API key's scope. Each includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read tools only.
    Read,
    /// Read and write tools.
    Write,
    /// Every tool, including danger tools.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The least scope that may call a tool of `kind`.
    pub fn required_for(kind: ToolKind) -> Scope {
        match kind {
            ToolKind::Read => Scope::Read,
            ToolKind::Write => Scope::Write,
            ToolKind::Danger => Scope::Admin,
        }
    }
}

/// The project a key belongs to, as tools show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    /// `live` or `test`; the project's keys start `ag_live_` or `ag_test_`.
    pub environment: String,
    pub created_at: DateTime<Utc>,
}

/// The API key a call is made with, as resolved by the gateway. It carries
/// what tools keep needing (the project), so they need not read it again.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub key_name: Option<String>,
    pub key_prefix: String,
    pub project: Project,
    pub scopes: Vec<Scope>,
    /// Tool names and `group:<name>` entries; `None` allows every tool.
    pub tools: Option<Vec<String>>,
    /// The OAuth client's name when the key is a grant made by the OAuth
    /// consent (`kind: oauth`); `None` for a key.
    pub client_name: Option<String>,
    /// What the connection narrowed itself to (`?toolsets=`,
    /// `?read_only=`), within what the key allows.
    pub connection: ConnectionLimits,
}

/// A connection's own narrowing of the tools it sees and calls, as GitHub's
/// MCP server (toolsets) and Supabase's (features, read_only) let clients
/// do: it never widens what the key allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConnectionLimits {
    /// The tool groups the connection asked for (`?toolsets=a,b`); none
    /// asked: every group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toolsets: Option<Vec<String>>,
    /// Only read tools (`?read_only=true`).
    pub read_only: bool,
}

impl ConnectionLimits {
    /// Whether the connection narrowed anything.
    pub fn is_set(&self) -> bool {
        self.read_only || self.toolsets.is_some()
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("key_id", &self.key_id)
            .field("project_id", &self.project.id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The MCP client a call comes from, as it named itself in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// At most 100 characters.
    pub name: String,
    /// At most 100 characters.
    pub version: String,
}

impl ClientInfo {
    /// Cuts what the client sent to a bounded size.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.chars().take(100).collect(),
            version: version.chars().take(100).collect(),
        }
    }
}

impl Caller {
    pub fn max_scope(&self) -> Option<Scope> {
        self.scopes.iter().copied().max()
    }

    fn allow_list_covers(&self, name: &str, group: &str) -> bool {
        match &self.tools {
            None => true,
            Some(entries) => entries
                .iter()
                .any(|e| e == name || e.strip_prefix("group:").is_some_and(|g| g == group)),
        }
    }

    /// Whether this key may see and call the tool.
    pub fn may_call(&self, meta: &ToolMeta) -> bool {
        self.check(meta).is_ok()
    }

    /// Refuses, with a reason, a tool this key may not call.
    pub fn check(&self, meta: &ToolMeta) -> Result<(), ToolError> {
        self.check_named(meta.name, meta.group, meta.kind)
    }

    /// [`Caller::check`] of an operation that is not a registered tool (a
    /// REST endpoint a key may call), by its name, group and kind.
    pub fn check_named(&self, name: &str, group: &str, kind: ToolKind) -> Result<(), ToolError> {
        let needed = Scope::required_for(kind);
        if self.max_scope().is_none_or(|s| s < needed) {
            let have: Vec<_> = self.scopes.iter().map(|s| s.as_str()).collect();
            return Err(ToolError::permission_denied(format!(
                "{} is a {} tool and needs a key with the '{}' scope; this key has [{}]",
                name,
                kind.as_str(),
                needed.as_str(),
                have.join(", ")
            ))
            .with_hint(format!(
                "ask a project admin for a key with the '{}' scope (create_api_key)",
                needed.as_str()
            )));
        }
        if !self.allow_list_covers(name, group) {
            return Err(ToolError::permission_denied(format!(
                "this key's tool allow-list does not include {name} (group:{group})"
            ))
            .with_hint(
                "use a key whose allow-list includes this tool, or one without an allow-list",
            ));
        }
        if self.connection.read_only && kind != ToolKind::Read {
            return Err(ToolError::permission_denied(format!(
                "this connection is read-only (read_only=true in its URL) and {name} is a {} tool",
                kind.as_str()
            ))
            .with_hint("connect without read_only=true to change things"));
        }
        if let Some(sets) = &self.connection.toolsets
            && !sets.iter().any(|s| s == group)
        {
            return Err(ToolError::permission_denied(format!(
                "this connection's toolsets ({}) do not include {name} (group {group})",
                sets.join(",")
            ))
            .with_hint(format!("add {group} to toolsets= in the connection's URL")));
        }
        Ok(())
    }

    /// Whether every tool `entry` covers is one this key may call: a key may
    /// hand on only what it holds.
    pub fn covers_entry(&self, catalog: &Catalog, entry: &str) -> bool {
        let Some(entries) = &self.tools else {
            return true;
        };
        if entries.iter().any(|e| e == entry) {
            return true;
        }
        let tools = catalog.expand(entry);
        !tools.is_empty()
            && tools.iter().all(|t| {
                catalog
                    .group_of(t)
                    .is_some_and(|g| self.allow_list_covers(t, g))
            })
    }
}

/// A token bucket's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Budget {
    /// Sustained requests per second.
    pub per_second: u32,
    pub burst: u32,
    /// Requests that may be made right now before being limited.
    pub remaining: u32,
}

/// The rate-limit budget of the calling key, when the gateway knows it:
/// the key's own, and the project's, which all its keys share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RateBudget {
    /// Sustained requests per second for this key.
    pub per_second: u32,
    pub burst: u32,
    /// Requests this key may make right now before being limited.
    pub remaining: u32,
    /// The budget all of the project's keys share on this gateway.
    pub project: Budget,
}

#[cfg(test)]
mod tests {
    use super::*;

    mod groups {
        pub const PROJECT: &str = "project";
        pub const AUTH_CONFIG: &str = "auth_config";
        pub const AUDIT: &str = "audit";
    }

    fn meta(name: &'static str, kind: ToolKind, group: &'static str) -> ToolMeta {
        ToolMeta {
            name,
            title: name,
            description: "",
            kind,
            group,
            idempotent: false,
            example: "{}",
            uses_db: false,
            audited: kind != ToolKind::Read,
        }
    }

    fn caller(scopes: &[Scope], tools: Option<&[&str]>) -> Caller {
        Caller {
            key_id: "key_1".into(),
            key_name: None,
            key_prefix: "ag_live_abcd".into(),
            project: Project {
                id: "prj_1".into(),
                name: "P".into(),
                environment: "live".into(),
                created_at: DateTime::<Utc>::UNIX_EPOCH,
            },
            scopes: scopes.to_vec(),
            tools: tools.map(|t| t.iter().map(|s| s.to_string()).collect()),
            client_name: None,
            connection: ConnectionLimits::default(),
        }
    }

    #[test]
    fn scopes_gate_kinds() {
        let read = meta("whoami", ToolKind::Read, groups::PROJECT);
        let write = meta("add_callback", ToolKind::Write, groups::AUTH_CONFIG);
        let danger = meta("revoke_api_key", ToolKind::Danger, groups::AUTH_CONFIG);
        let r = caller(&[Scope::Read], None);
        assert!(r.may_call(&read) && !r.may_call(&write) && !r.may_call(&danger));
        let w = caller(&[Scope::Write], None);
        assert!(w.may_call(&read) && w.may_call(&write) && !w.may_call(&danger));
        let a = caller(&[Scope::Admin], None);
        assert!(a.may_call(&danger));
        let err = r.check(&write).expect_err("denied");
        assert_eq!(err.code, crate::ErrorCode::PermissionDenied);
    }

    #[test]
    fn allow_lists_take_names_and_groups() {
        let c = caller(&[Scope::Admin], Some(&["whoami", "group:audit"]));
        assert!(c.may_call(&meta("whoami", ToolKind::Read, groups::PROJECT)));
        assert!(c.may_call(&meta("list_audit_events", ToolKind::Read, groups::AUDIT)));
        assert!(!c.may_call(&meta("get_project_status", ToolKind::Read, groups::PROJECT)));
    }
}
