//! What a tool call runs with: the project and key it is scoped to, the
//! store, a clock, and the server keys.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use authgate_store::Store;

use crate::pagination::{CursorCodec, PageRequest};
use crate::settings::Settings;
use crate::tool::{Catalog, Registry, ToolKind, ToolMeta};
use crate::{Clock, ToolError};

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
        let needed = Scope::required_for(meta.kind);
        if self.max_scope().is_none_or(|s| s < needed) {
            let have: Vec<_> = self.scopes.iter().map(|s| s.as_str()).collect();
            return Err(ToolError::permission_denied(format!(
                "{} is a {} tool and needs a key with the '{}' scope; this key has [{}]",
                meta.name,
                meta.kind.as_str(),
                needed.as_str(),
                have.join(", ")
            ))
            .with_hint(format!(
                "ask a project admin for a key with the '{}' scope (create_api_key)",
                needed.as_str()
            )));
        }
        if !self.allow_list_covers(meta.name, meta.group) {
            return Err(ToolError::permission_denied(format!(
                "this key's tool allow-list does not include {} (group:{})",
                meta.name, meta.group
            ))
            .with_hint(
                "use a key whose allow-list includes this tool, or one without an allow-list",
            ));
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

/// Keys derived from the server secret, one per purpose.
pub struct ServerKeys {
    pub cursor: [u8; 32],
    pub encryption: [u8; 32],
    pub audit: [u8; 32],
    /// Keys the hashes of low-entropy secrets (6-digit codes).
    pub codes: [u8; 32],
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKeys(..)")
    }
}

impl ServerKeys {
    pub fn derive(secret: &[u8]) -> Self {
        let derive = |label: &str| -> [u8; 32] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(b"authgate/");
            mac.update(label.as_bytes());
            mac.finalize().into_bytes().into()
        };
        Self {
            cursor: derive("cursor"),
            encryption: derive("encryption"),
            audit: derive("audit"),
            codes: derive("codes"),
        }
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

/// Everything a tool call runs with. Cheap to clone.
#[derive(Clone)]
pub struct ToolContext {
    pub caller: Arc<Caller>,
    pub client: Option<ClientInfo>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<ServerKeys>,
    pub registry: Arc<Registry>,
    pub settings: Settings,
    pub rate_budget: Option<RateBudget>,
    pub request_id: String,
    /// The tool being called; set by [`Registry::call`]. It names the
    /// call's cursors, so a cursor of one list is refused by another.
    pub tool: &'static str,
    /// Where a long tool reports its progress (MCP progress notifications
    /// when the client sent a progressToken); none otherwise.
    pub progress: Option<std::sync::Arc<dyn Progress>>,
}

/// Progress of a long tool call, as `done` of `total` units.
pub trait Progress: Send + Sync {
    fn report(&self, done: u64, total: u64, message: &str);
}

impl ToolContext {
    pub fn project_id(&self) -> &str {
        &self.caller.project.id
    }

    /// Now, truncated to microseconds (what PostgreSQL keeps).
    pub fn now(&self) -> DateTime<Utc> {
        crate::time::from_micros(crate::time::to_micros(self.clock.now()))
    }

    /// Validates `limit` and `cursor` for this tool's list in this project.
    pub fn page(&self, limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest, ToolError> {
        PageRequest::new(
            CursorCodec::new(self.keys.cursor),
            self.tool,
            self.project_id(),
            limit,
            cursor,
        )
    }

    /// Reports progress when the caller asked for it.
    pub fn progress(&self, done: u64, total: u64, message: &str) {
        if let Some(p) = &self.progress {
            p.report(done, total, message);
        }
    }

    /// A domain's setting (see [`Settings`]).
    pub fn setting<T: Clone + Default + Send + Sync + 'static>(&self) -> T {
        self.settings.get::<T>()
    }
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

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let a = ServerKeys::derive(b"secret-a");
        let b = ServerKeys::derive(b"secret-b");
        assert_ne!(a.cursor, a.encryption);
        assert_ne!(a.cursor, b.cursor);
        assert_eq!(a.audit, ServerKeys::derive(b"secret-a").audit);
    }
}
