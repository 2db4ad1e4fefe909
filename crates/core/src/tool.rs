//! The `Tool` trait that every domain implements, and the registry the
//! gateway serves. A tool is a thin adapter: typed arguments in, the domain
//! API called, a typed result out. Its schemas come from the same types, so
//! what clients see and what the server parses cannot drift apart.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::schema::{JsonObject, object_schema_for};
use crate::{ToolContext, ToolError};

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

/// The tool groups usable in key allow-lists as `group:<name>`; one per
/// domain heading of the tool catalogue.
pub mod groups {
    pub const PROJECT: &str = "project";
    pub const AUTH_CONFIG: &str = "auth_config";
    pub const AUDIT: &str = "audit";
    pub const EMAIL: &str = "email";
}

/// The fixed description of a tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolMeta {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub kind: ToolKind,
    pub group: &'static str,
    /// Whether calling twice with the same arguments changes nothing more.
    pub idempotent: bool,
    /// An example `arguments` object, as JSON text, for the docs.
    pub example: &'static str,
}

impl ToolMeta {
    /// The description as clients see it, with the kind in front.
    pub fn full_description(&self) -> String {
        let extra = match self.kind {
            ToolKind::Danger => " Pass dry_run: true to see what would change without changing it.",
            _ => "",
        };
        format!("[{}] {}{}", self.kind.as_str(), self.description, extra)
    }
}

pub trait Tool: Send + Sync + 'static {
    type Input: DeserializeOwned + JsonSchema + Send + 'static;
    type Output: Serialize + JsonSchema + Send + 'static;
    const META: ToolMeta;

    fn call(
        &self,
        ctx: &ToolContext,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;
}

/// A tool with its types erased, as the registry holds it.
pub trait DynTool: Send + Sync {
    fn meta(&self) -> &ToolMeta;
    fn input_schema(&self) -> &Arc<JsonObject>;
    fn output_schema(&self) -> &Arc<JsonObject>;
    /// Parses `args` against the input type, then calls the tool.
    fn call_json<'a>(
        &'a self,
        ctx: &'a ToolContext,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;
}

struct Erased<T: Tool> {
    tool: T,
    meta: ToolMeta,
    input: Arc<JsonObject>,
    output: Arc<JsonObject>,
}

impl<T: Tool> DynTool for Erased<T> {
    fn meta(&self) -> &ToolMeta {
        &self.meta
    }
    fn input_schema(&self) -> &Arc<JsonObject> {
        &self.input
    }
    fn output_schema(&self) -> &Arc<JsonObject> {
        &self.output
    }
    fn call_json<'a>(
        &'a self,
        ctx: &'a ToolContext,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let input: T::Input = parse_arguments(args)?;
            let output = self.tool.call(ctx, input).await?;
            serde_json::to_value(output).map_err(ToolError::internal)
        }
        .boxed()
    }
}

/// Deserializes tool arguments, turning serde's complaint into an
/// invalid_argument that names the argument at fault.
pub fn parse_arguments<T: DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    if !args.is_object() {
        return Err(ToolError::invalid(
            "arguments",
            "arguments must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(args).map_err(|err| {
        let path = err.path().to_string();
        let parent = if path == "." { String::new() } else { path };
        let inner = err.into_inner().to_string();
        let join = |name: &str| {
            if parent.is_empty() {
                name.to_owned()
            } else {
                format!("{parent}.{name}")
            }
        };
        let quoted = inner.split('`').nth(1).unwrap_or_default().to_owned();
        if inner.starts_with("unknown field") {
            let accepted = inner
                .split_once("expected ")
                .map(|(_, rest)| rest.replace('`', ""))
                .unwrap_or_else(|| "no arguments".into());
            // serde_path_to_error's path already ends in the unknown name.
            let field = if parent.is_empty() { quoted } else { parent };
            ToolError::invalid(field.clone(), format!("unknown argument '{field}'"))
                .with_hint(format!("remove it; this accepts {accepted}"))
        } else if inner.starts_with("missing field") {
            ToolError::invalid(
                join(&quoted),
                format!("missing required argument '{}'", join(&quoted)),
            )
            .with_hint("see the tool's input schema for the required arguments")
        } else if parent.is_empty() {
            ToolError::invalid("arguments", format!("invalid arguments: {inner}"))
        } else {
            ToolError::invalid(
                parent.clone(),
                format!("invalid value for '{parent}': {inner}"),
            )
        }
    })
}

/// Every tool the server offers, by name.
#[derive(Default, Clone)]
pub struct ToolRegistry {
    tools: BTreeMap<&'static str, Arc<dyn DynTool>>,
}

impl ToolRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool. Two tools with one name is a programming error.
    pub fn register<T: Tool>(&mut self, tool: T) -> &mut Self {
        let meta = T::META;
        let erased = Erased {
            tool,
            meta,
            input: Arc::new(object_schema_for::<T::Input>()),
            output: Arc::new(object_schema_for::<T::Output>()),
        };
        let previous = self.tools.insert(meta.name, Arc::new(erased));
        assert!(previous.is_none(), "tool {} registered twice", meta.name);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn DynTool>> {
        self.tools.get(name)
    }

    /// Tools in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn DynTool>> {
        self.tools.values()
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Names and groups, for validating key allow-lists.
    pub fn catalog(&self) -> Catalog {
        Catalog {
            tools: self
                .tools
                .values()
                .map(|t| (t.meta().name, t.meta().group))
                .collect(),
        }
    }
}

/// The names and groups of the registered tools.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tools: BTreeMap<&'static str, &'static str>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        url: String,
        nested: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        enabled: bool,
    }

    #[test]
    fn argument_errors_name_the_field() {
        let err = parse_arguments::<Args>(serde_json::json!({})).expect_err("missing");
        assert_eq!(err.field.as_deref(), Some("url"));
        assert!(err.message.contains("missing required argument 'url'"));

        let err = parse_arguments::<Args>(serde_json::json!({"url": 5})).expect_err("type");
        assert_eq!(err.field.as_deref(), Some("url"));
        assert!(err.message.contains("expected a string"), "{}", err.message);

        let err = parse_arguments::<Args>(serde_json::json!({"url": "x", "evil": 1}))
            .expect_err("unknown");
        assert_eq!(err.field.as_deref(), Some("evil"));
        assert!(err.hint.as_deref().unwrap_or_default().contains("url"));

        let err =
            parse_arguments::<Args>(serde_json::json!({"url": "x", "nested": {"enabled": "yes"}}))
                .expect_err("nested type");
        assert_eq!(err.field.as_deref(), Some("nested.enabled"));

        let err = parse_arguments::<Args>(serde_json::json!([1])).expect_err("not an object");
        assert_eq!(err.field.as_deref(), Some("arguments"));
    }
}
