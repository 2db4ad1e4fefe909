//! AuthGate foundations shared by every domain: the [`Tool`] trait (usually
//! written with the [`tool`] attribute), the [`ToolRegistry`] the domains
//! register tools, groups and status sections into, the [`Registry`] the
//! gateway serves and runs calls through (one unit of work per call, the
//! audit record inside it), the [`ToolContext`] a call runs with, the one
//! [`ToolError`] with the stable codes of SPEC section 4, the audit event
//! types, prefixed ids, cursor pagination, hashing, and the generated tool
//! reference.
//!
//! Modules, leaves first: `meta` (kinds, groups, catalogue), `caller`,
//! `userdata`, `context`, `status`, `tool`, `record`, `registry`,
//! `dispatch` (running a call); beside them `error`, `events`, `hash`,
//! `secrets`, `crypto`, `ids`, `pagination`, `schema`, `args`, `text`,
//! `time`, `settings`, `request`, `docs`.

pub mod args;
mod argtypes;
pub mod caller;
pub mod changes;
pub mod context;
pub mod crypto;
mod dispatch;
pub mod docs;
pub mod error;
pub mod events;
pub mod fuzzing;
pub mod hash;
pub mod ids;
pub mod meta;
pub mod net;
pub mod pagination;
pub mod published;
pub mod record;
pub mod registry;
pub mod request;
pub mod schema;
pub mod secrets;
pub mod settings;
pub mod status;
pub mod text;
pub mod time;
pub mod tls;
pub mod tool;
pub mod userdata;

pub use argtypes::check_types;
pub use authgate_macros::tool;
pub use authgate_store::{Conn, insert_new, with_conn};
pub use caller::{Budget, Caller, ClientInfo, ConnectionLimits, Project, RateBudget, Scope};
pub use changes::{ChangeType, attach_change_sink};
pub use context::{Domains, Progress, ServerKeys, ToolContext};
pub use error::{ErrorCode, Refusable, ToolError, settle};
pub use events::{ActorType, EventType, Outcome};
pub use ids::{is_valid_id, is_well_formed_id, new_id};
pub use meta::{Catalog, ToolGroup, ToolKind, ToolMeta};
pub use pagination::{Page, PageRequest};
pub use record::{CallRecord, CallRecorder};
pub use registry::{Registry, ToolRegistry};
pub use request::RequestMeta;
pub use settings::Settings;
pub use status::{StatusCount, StatusSection};
pub use time::{Clock, SystemClock};
pub use tool::{DynTool, Tool};
pub use userdata::{UserDataSection, UserRef};

/// Checks that `value` is an id with `prefix`, naming `field` when not.
pub fn require_id(field: &str, prefix: &str, value: &str) -> Result<(), ToolError> {
    if is_valid_id(prefix, value) {
        Ok(())
    } else {
        Err(ToolError::invalid(
            field,
            format!(
                "{field} must be an id like {prefix}_01J... (the prefix and a 26-character ULID)"
            ),
        ))
    }
}

/// At most `max` characters of `s`, for echoing input back safely.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}
