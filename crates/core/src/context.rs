//! What a tool call runs with: the caller, the store, a clock, the server
//! keys, the domains' settings, and what the registry offers a running
//! tool ([`Domains`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use authgate_store::{Conn, Store};

use crate::caller::{Caller, ClientInfo, RateBudget};
use crate::hash::hmac;
use crate::meta::Catalog;
use crate::pagination::{CursorCodec, PageRequest};
use crate::schema::JsonObject;
use crate::settings::Settings;
use crate::userdata::DynUserData;
use crate::{Clock, ToolError};

/// What a running tool may ask of the registry it was called through:
/// the domains' user-data sections, the catalogue of tools, and the
/// project status every domain contributes to.
pub trait Domains: Send + Sync {
    fn user_data(&self) -> &[Arc<dyn DynUserData>];
    fn catalog(&self) -> &Catalog;
    /// Every status section and count, read in the call's unit of work.
    fn read_status<'a, 'c>(
        &'a self, ctx: &'a ToolContext, conn: &'a mut Conn<'c>,
    ) -> BoxFuture<'a, Result<JsonObject, ToolError>>;
}

/// Keys derived from the server secret, one per purpose.
pub struct ServerKeys {
    pub cursor: [u8; 32],
    pub encryption: [u8; 32],
    pub audit: [u8; 32],
    /// Keys the hashes of low-entropy secrets (6-digit codes).
    pub codes: [u8; 32],
    /// Keys the CSRF tokens of admin browser sessions.
    pub csrf: [u8; 32],
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKeys(..)")
    }
}

impl ServerKeys {
    pub fn derive(secret: &[u8]) -> Self {
        let derive =
            |label: &str| -> [u8; 32] { hmac(secret, format!("authgate/{label}").as_bytes()) };
        Self {
            cursor: derive("cursor"),
            encryption: derive("encryption"),
            audit: derive("audit"),
            codes: derive("codes"),
            csrf: derive("csrf"),
        }
    }
}

/// Everything a tool call runs with. Cheap to clone.
#[derive(Clone)]
pub struct ToolContext {
    pub caller: Arc<Caller>,
    pub client: Option<ClientInfo>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<ServerKeys>,
    /// What the registry offers a running tool.
    pub domains: Arc<dyn Domains>,
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

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let a = ServerKeys::derive(b"secret-a");
        let b = ServerKeys::derive(b"secret-b");
        assert_ne!(a.cursor, a.encryption);
        assert_ne!(a.cursor, b.cursor);
        assert_eq!(a.audit, ServerKeys::derive(b"secret-a").audit);
    }
}
