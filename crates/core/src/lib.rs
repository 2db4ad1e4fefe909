//! AuthGate foundations shared by every domain: the [`Tool`] trait and the
//! [`ToolRegistry`] the gateway serves, the [`ToolContext`] a call runs
//! with, the one [`ToolError`] with the stable codes of SPEC section 4,
//! prefixed ids, cursor pagination, and the generated tool reference.

pub mod args;
pub mod context;
pub mod docs;
pub mod error;
pub mod ids;
pub mod pagination;
pub mod schema;
pub mod time;
pub mod tool;

pub use context::{Caller, RateBudget, Scope, ServerKeys, ToolContext};
pub use error::{ErrorCode, ToolError};
pub use ids::{is_valid_id, new_id};
pub use pagination::{Page, PageRequest};
pub use time::{Clock, SystemClock};
pub use tool::{Catalog, DynTool, Tool, ToolKind, ToolMeta, ToolRegistry, groups};

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
