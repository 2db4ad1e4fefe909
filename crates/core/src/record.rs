//! What is recorded of a tool call, and the recorder that writes it (the
//! audit domain implements it): the event type, the caller, well-formed
//! target ids and a keyed hash of the arguments, never a value.

use futures::future::BoxFuture;
use serde_json::Value;

use authgate_store::Conn;

use crate::caller::ClientInfo;
use crate::events::{EventType, Outcome};
use crate::hash::{hex, hmac};
use crate::{ErrorCode, ToolContext, ToolError, ToolKind, is_well_formed_id};

/// At most this many ids are recorded as a call's targets.
pub const MAX_TARGETS: usize = 20;

/// What is recorded of one tool call: never argument values or results.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub project_id: String,
    /// `tool.<name>`, or `mcp.unknown_tool`.
    pub event_type: EventType,
    /// The tool name (cut to 64 characters for unknown ones).
    pub tool: String,
    /// The tool's kind; none for a tool that does not exist.
    pub kind: Option<ToolKind>,
    /// Whether the call was a dry run (its result said `dry_run: true`).
    pub dry_run: bool,
    pub key_id: String,
    pub client: Option<ClientInfo>,
    /// Well-formed ids from the declared id arguments and the result.
    pub targets: Vec<String>,
    /// Keyed hash of the arguments.
    pub arguments_hash: String,
    pub outcome: Outcome,
    pub error_code: Option<ErrorCode>,
    pub latency_ms: i64,
    pub request_id: String,
}

/// Writes call records; the audit domain implements it.
pub trait CallRecorder: Send + Sync + 'static {
    fn record<'a>(
        &'a self, conn: &'a mut Conn<'_>, call: &'a CallRecord, ctx: &'a ToolContext,
    ) -> BoxFuture<'a, Result<(), ToolError>>;
}

/// A keyed hash of the arguments: equal calls hash equal, but a low-entropy
/// secret among the arguments cannot be recovered by guessing.
pub fn arguments_hash(key: &[u8; 32], args: &Value) -> String {
    hex(&hmac(key, canonical_json(args).as_bytes()))
}

/// JSON with object keys sorted, so equal arguments hash equal.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        canonical_json(&map[*k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// The ids a call concerns: its declared id arguments, and on success the
/// ids in its result (`id`, a nested object's `id`, `*_ids` lists). Only
/// well-formed ids count, at most [`MAX_TARGETS`], so no argument can grow
/// an audit row.
pub fn targets(id_arguments: &[String], args: &Value, output: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: &Value| {
        if let Some(s) = v.as_str()
            && out.len() < MAX_TARGETS
            && is_well_formed_id(s)
            && !out.iter().any(|o| o == s)
        {
            out.push(s.to_owned());
        }
    };
    if let Some(map) = args.as_object() {
        for name in id_arguments {
            match map.get(name) {
                Some(Value::Array(items)) => items.iter().for_each(&mut push),
                Some(v) => push(v),
                None => {}
            }
        }
    }
    if let Some(map) = output.and_then(Value::as_object) {
        for (k, v) in map {
            match v {
                Value::String(_) if k == "id" || k.ends_with("_id") => push(v),
                Value::Object(inner) => {
                    if let Some(id) = inner.get("id") {
                        push(id);
                    }
                }
                Value::Array(items) if k.ends_with("_ids") => items.iter().for_each(&mut push),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys() {
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": {"d": [1, {"f": 2, "e": 3}], "c": "x"}})),
            r#"{"a":{"c":"x","d":[1,{"e":3,"f":2}]},"b":1}"#
        );
        let k = [1u8; 32];
        assert_eq!(
            arguments_hash(&k, &json!({"a": 1, "b": 2})),
            arguments_hash(&k, &json!({"b": 2, "a": 1}))
        );
        assert_ne!(
            arguments_hash(&k, &json!({"a": 1})),
            arguments_hash(&k, &json!({"a": 2}))
        );
    }

    #[test]
    fn targets_are_declared_well_formed_ids_only_and_bounded() {
        let key = crate::new_id("key");
        let other = crate::new_id("key");
        let third = crate::new_id("cb");
        let declared = vec!["key_id".to_owned(), "user_ids".to_owned()];
        let mut t = targets(
            &declared,
            &json!({"key_id": key, "note_id": crate::new_id("prj"), "dry_run": true}),
            Some(&json!({"api_key": {"id": other}, "revoked_key_ids": [third], "id": key})),
        );
        t.sort();
        let mut expected = vec![key.clone(), other, third];
        expected.sort();
        assert_eq!(t, expected, "undeclared arguments are not targets");
        let junk = targets(
            &declared,
            &json!({"key_id": "x".repeat(10_000), "user_ids": ["not an id", 5]}),
            None,
        );
        assert!(junk.is_empty(), "{junk:?}");
        let many: Vec<String> = (0..50).map(|_| crate::new_id("usr")).collect();
        let bounded = targets(&declared, &json!({"user_ids": many}), None);
        assert_eq!(bounded.len(), MAX_TARGETS);
    }
}
