//! Running a tool call: the caller's scope and allow-list are checked, the
//! tool runs in one unit of work, and a write or danger call's audit record
//! is written inside that same transaction, so the change and its record
//! commit together or not at all. A refused or failed call is recorded in a
//! transaction of its own (its change, if any, has rolled back).

use std::borrow::Cow;
use std::time::Instant;

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use authgate_store::Conn;

use crate::context::ClientInfo;
use crate::{DynTool, ErrorCode, Registry, ToolContext, ToolError, ToolKind, is_well_formed_id};

/// At most this many ids are recorded as a call's targets.
pub const MAX_TARGETS: usize = 20;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Error,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Denied => "denied",
        }
    }
}

/// What is recorded of one tool call: never argument values or results.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub project_id: String,
    /// `tool.<name>`, or `mcp.unknown_tool`.
    pub event_type: Cow<'static, str>,
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
        &'a self,
        conn: &'a mut Conn<'_>,
        call: &'a CallRecord,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, Result<(), ToolError>>;
}

/// A keyed hash of the arguments: equal calls hash equal, but a low-entropy
/// secret among the arguments cannot be recovered by guessing.
pub fn arguments_hash(key: &[u8; 32], args: &Value) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(canonical_json(args).as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

impl Registry {
    /// Calls a registered tool for `ctx`'s caller. The caller's scope and
    /// allow-list decide first; the tool runs in one unit of work (a read
    /// snapshot for read tools, a write transaction otherwise) with the
    /// audit record of a write or danger call inside it.
    pub async fn call(
        &self,
        mut ctx: ToolContext,
        tool: &dyn DynTool,
        args: Value,
    ) -> Result<Value, ToolError> {
        let started = Instant::now();
        let meta = *tool.meta();
        ctx.tool = meta.name;
        let ctx = &ctx;
        let record =
            |outcome: Outcome, error: Option<&ToolError>, output: Option<&Value>| CallRecord {
                project_id: ctx.project_id().to_owned(),
                event_type: Cow::Owned(format!("tool.{}", meta.name)),
                tool: meta.name.to_owned(),
                kind: Some(meta.kind),
                dry_run: output
                    .and_then(|o| o.get("dry_run"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                key_id: ctx.caller.key_id.clone(),
                client: ctx.client.clone(),
                targets: targets(tool.id_arguments(), &args, output),
                arguments_hash: arguments_hash(&ctx.keys.audit, &args),
                outcome,
                error_code: error.map(|e| e.code),
                latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
                request_id: ctx.request_id.clone(),
            };
        if let Err(denied) = ctx.caller.check(&meta) {
            self.record_alone(ctx, record(Outcome::Denied, Some(&denied), None))
                .await;
            return Err(denied);
        }
        let audited = meta.kind != ToolKind::Read;
        let result = match (audited, meta.uses_db) {
            (false, false) => tool.call_json(ctx, None, args.clone()).await,
            (false, true) => {
                ctx.store
                    .read(async |conn| tool.call_json(ctx, Some(conn), args.clone()).await)
                    .await
            }
            (true, true) => {
                ctx.store
                    .write(async |conn| {
                        let value = tool.call_json(ctx, Some(conn), args.clone()).await?;
                        let call = record(Outcome::Success, None, Some(&value));
                        self.recorder.record(conn, &call, ctx).await?;
                        Ok(value)
                    })
                    .await
            }
            // A tool that manages its own units of work (many small
            // transactions): its record follows in one of its own.
            (true, false) => {
                let result = tool.call_json(ctx, None, args.clone()).await;
                if let Ok(value) = &result {
                    self.record_alone(ctx, record(Outcome::Success, None, Some(value)))
                        .await;
                }
                result
            }
        };
        if let Err(err) = &result {
            let denied = err.code == ErrorCode::PermissionDenied;
            if audited || denied {
                let outcome = if denied {
                    Outcome::Denied
                } else {
                    Outcome::Error
                };
                self.record_alone(ctx, record(outcome, Some(err), None))
                    .await;
            }
        }
        result
    }

    /// Records a call to a tool that does not exist (the name cut short).
    pub async fn record_unknown_tool(&self, ctx: &ToolContext, name: &str, args: &Value) {
        let call = CallRecord {
            project_id: ctx.project_id().to_owned(),
            event_type: Cow::Borrowed("mcp.unknown_tool"),
            tool: crate::truncate(name, 64),
            kind: None,
            dry_run: false,
            key_id: ctx.caller.key_id.clone(),
            client: ctx.client.clone(),
            targets: Vec::new(),
            arguments_hash: arguments_hash(&ctx.keys.audit, args),
            outcome: Outcome::Denied,
            error_code: Some(ErrorCode::NotFound),
            latency_ms: 0,
            request_id: ctx.request_id.clone(),
        };
        self.record_alone(ctx, call).await;
    }

    /// Writes a record in a transaction of its own. A failure is logged:
    /// the call's answer does not depend on it.
    async fn record_alone(&self, ctx: &ToolContext, call: CallRecord) {
        let written = ctx
            .store
            .write(async |conn| self.recorder.record(conn, &call, ctx).await)
            .await;
        if let Err(err) = written {
            tracing::warn!(request_id = %ctx.request_id, error = %err, "could not write the audit record");
        }
    }
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
