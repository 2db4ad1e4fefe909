//! The `Tool` trait that every domain implements (usually through the
//! `#[tool]` attribute), with its types erased as the registry holds it. A
//! tool is a thin adapter: typed arguments in, the domain API called, a
//! typed result out. Its schemas come from the same types, so what clients
//! see and what the server parses cannot drift apart.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use authgate_store::Conn;

use crate::meta::ToolMeta;
use crate::schema::{JsonObject, object_schema_for};
use crate::status::StatusParts;
use crate::{ToolContext, ToolError};

pub trait Tool: Send + Sync + 'static {
    type Input: DeserializeOwned + JsonSchema + Send + 'static;
    type Output: Serialize + JsonSchema + Send + 'static;
    const META: ToolMeta;

    /// Runs the tool; `conn` is the call's unit of work when
    /// `META.uses_db`.
    fn call<'a>(
        &'a self, ctx: &'a ToolContext, conn: Option<&'a mut Conn<'_>>, input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;

    /// The output schema; by default that of `Output`. A tool whose result
    /// other domains contribute to computes it from the registry.
    fn output_schema(_status: &StatusParts<'_>) -> JsonObject {
        object_schema_for::<Self::Output>()
    }
}

/// A tool with its types erased, as the registry holds it.
pub trait DynTool: Send + Sync {
    fn meta(&self) -> &ToolMeta;
    fn input_schema(&self) -> &Arc<JsonObject>;
    fn output_schema(&self) -> &Arc<JsonObject>;
    /// Input properties that hold ids (`*_id`, `*_ids`): the call's audit
    /// targets come from these only.
    fn id_arguments(&self) -> &[String];
    /// Checks `args` against the input schema's types and parses them
    /// against the input type, without running anything.
    fn check_arguments(&self, args: Value) -> Result<(), ToolError>;
    /// Checks and parses `args` as [`DynTool::check_arguments`] does, then
    /// calls the tool.
    fn call_json<'a>(
        &'a self, ctx: &'a ToolContext, conn: Option<&'a mut Conn<'_>>, args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;
}

pub(crate) struct Erased<T: Tool> {
    pub(crate) tool: T,
    pub(crate) input: Arc<JsonObject>,
    pub(crate) output: Arc<JsonObject>,
    pub(crate) id_arguments: Vec<String>,
}

impl<T: Tool> DynTool for Erased<T> {
    fn meta(&self) -> &ToolMeta {
        &T::META
    }
    fn input_schema(&self) -> &Arc<JsonObject> {
        &self.input
    }
    fn output_schema(&self) -> &Arc<JsonObject> {
        &self.output
    }
    fn id_arguments(&self) -> &[String] {
        &self.id_arguments
    }
    fn check_arguments(&self, args: Value) -> Result<(), ToolError> {
        crate::check_types(&self.input, &args)?;
        parse_arguments::<T::Input>(args).map(|_| ())
    }
    fn call_json<'a>(
        &'a self, ctx: &'a ToolContext, conn: Option<&'a mut Conn<'_>>, args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            crate::check_types(&self.input, &args)?;
            let input: T::Input = parse_arguments(args)?;
            let output = self.tool.call(ctx, conn, input).await?;
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
