//! The `Tool` trait that every domain implements (usually through the
//! `#[tool]` attribute), and the registry the gateway serves. A tool is a
//! thin adapter: typed arguments in, the domain API called, a typed result
//! out. Its schemas come from the same types, so what clients see and what
//! the server parses cannot drift apart.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use authgate_store::Conn;

use crate::dispatch::CallRecorder;
use crate::schema::{JsonObject, object_schema_for};
use crate::status::{CountsQuery, DynStatusSection, StatusCount, StatusSection};
use crate::userdata::{DynUserData, UserDataSection};
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
}

impl ToolMeta {
    /// The description as clients see it, with the kind in front.
    pub fn full_description(&self) -> String {
        let extra = match self.kind {
            ToolKind::Danger => {
                " Pass dry_run: true to see what would change, with the same counts, without changing it."
            }
            _ => "",
        };
        format!("[{}] {}{}", self.kind.as_str(), self.description, extra)
    }
}

pub trait Tool: Send + Sync + 'static {
    type Input: DeserializeOwned + JsonSchema + Send + 'static;
    type Output: Serialize + JsonSchema + Send + 'static;
    const META: ToolMeta;

    /// Runs the tool; `conn` is the call's unit of work when
    /// `META.uses_db`.
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext,
        conn: Option<&'a mut Conn<'_>>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;

    /// The output schema; by default that of `Output`. A tool whose result
    /// other domains contribute to computes it from the registry.
    fn output_schema(_registry: &ToolRegistry) -> JsonObject {
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
    /// Parses `args` against the input type without running anything.
    fn check_arguments(&self, args: Value) -> Result<(), ToolError>;
    /// Parses `args` against the input type, then calls the tool.
    fn call_json<'a>(
        &'a self,
        ctx: &'a ToolContext,
        conn: Option<&'a mut Conn<'_>>,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;
}

struct Erased<T: Tool> {
    tool: T,
    input: Arc<JsonObject>,
    output: Arc<JsonObject>,
    id_arguments: Vec<String>,
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
        parse_arguments::<T::Input>(args).map(|_| ())
    }
    fn call_json<'a>(
        &'a self,
        ctx: &'a ToolContext,
        conn: Option<&'a mut Conn<'_>>,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
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

/// A tool group, usable in key allow-lists as `group:<name>`; one per
/// domain heading of the catalogue, declared by the domain that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolGroup {
    pub name: &'static str,
    /// What the group manages, for the server's instructions.
    pub summary: &'static str,
}

/// Input properties that name ids: `*_id` strings and `*_ids` lists.
fn id_arguments_of(input: &JsonObject) -> Vec<String> {
    input
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .keys()
                .filter(|k| k.ends_with("_id") || k.ends_with("_ids"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Where the domains register their tools, groups and status sections;
/// [`ToolRegistry::build`] checks it and freezes it into a [`Registry`].
#[derive(Default)]
pub struct ToolRegistry {
    pending: Vec<PendingTool>,
    groups: Vec<ToolGroup>,
    sections: Vec<Arc<dyn DynStatusSection>>,
    counts: Vec<StatusCount>,
    user_data: Vec<Arc<dyn DynUserData>>,
    recorder: Option<Arc<dyn CallRecorder>>,
}

/// Makes a tool once the whole registry is known (its output schema may
/// depend on it).
type BuildTool = Box<dyn FnOnce(&ToolRegistry) -> Arc<dyn DynTool> + Send>;

struct PendingTool {
    build: BuildTool,
}

impl ToolRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a tool group.
    pub fn group(&mut self, group: ToolGroup) -> &mut Self {
        self.groups.push(group);
        self
    }

    /// Adds a tool. Its output schema is computed when the registry is
    /// built, so it may depend on what other domains registered.
    pub fn register<T: Tool>(&mut self, tool: T) -> &mut Self {
        self.pending.push(PendingTool {
            build: Box::new(move |registry: &ToolRegistry| {
                let input = object_schema_for::<T::Input>();
                Arc::new(Erased {
                    id_arguments: id_arguments_of(&input),
                    input: Arc::new(input),
                    output: Arc::new(T::output_schema(registry)),
                    tool,
                }) as Arc<dyn DynTool>
            }),
        });
        self
    }

    /// Adds a section of get_project_status.
    pub fn status_section<S: StatusSection>(&mut self, section: S) -> &mut Self {
        self.sections.push(crate::status::erase(section));
        self
    }

    /// Adds a number under get_project_status's `counts`.
    pub fn status_count(&mut self, count: StatusCount) -> &mut Self {
        self.counts.push(count);
        self
    }

    /// The status counts registered so far, in order.
    pub fn status_counts(&self) -> &[StatusCount] {
        &self.counts
    }

    /// Adds a section of what the project holds about an end user.
    pub fn user_data<S: UserDataSection>(&mut self, section: S) -> &mut Self {
        self.user_data.push(crate::userdata::erase(section));
        self
    }

    /// Sets what records every tool call (the audit domain does).
    pub fn call_recorder(&mut self, recorder: Arc<dyn CallRecorder>) -> &mut Self {
        self.recorder = Some(recorder);
        self
    }

    /// The status sections registered so far, in order.
    pub fn status_sections(&self) -> &[Arc<dyn DynStatusSection>] {
        &self.sections
    }

    /// Checks every declaration and freezes the registry. Each problem is
    /// named, so a mistake in a domain's registration fails start-up (and
    /// the registry tests) with a message, never a panic.
    pub fn build(mut self) -> Result<Registry, Vec<String>> {
        let pending = std::mem::take(&mut self.pending);
        let built: Vec<Arc<dyn DynTool>> = pending.into_iter().map(|p| (p.build)(&self)).collect();
        let mut problems = Vec::new();
        let mut tools: BTreeMap<&'static str, Arc<dyn DynTool>> = BTreeMap::new();
        let mut group_names: BTreeMap<&'static str, ToolGroup> = BTreeMap::new();
        for g in &self.groups {
            if group_names.insert(g.name, *g).is_some() {
                problems.push(format!("group {} is declared twice", g.name));
            }
        }
        for tool in &built {
            let meta = tool.meta();
            problems.extend(check_tool(tool.as_ref(), &group_names));
            if tools.insert(meta.name, tool.clone()).is_some() {
                problems.push(format!("tool {} is registered twice", meta.name));
            }
        }
        for g in group_names.keys() {
            if !tools.values().any(|t| t.meta().group == *g) {
                problems.push(format!("group {g} has no tools"));
            }
        }
        let status_schema =
            crate::status::merged_schema(&self.sections, &self.counts, &mut problems);
        let counts = CountsQuery::build(&self.counts, &mut problems);
        let Some(recorder) = self.recorder.clone() else {
            problems.push("no call recorder: register the audit domain".into());
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let catalog = Catalog {
            tools: tools
                .values()
                .map(|t| (t.meta().name, t.meta().group))
                .collect(),
        };
        Ok(Registry {
            tools,
            groups: self.groups,
            sections: self.sections,
            counts,
            user_data: self.user_data,
            status_schema,
            catalog,
            recorder,
        })
    }
}

/// What is wrong with one tool's declaration.
fn check_tool(tool: &dyn DynTool, groups: &BTreeMap<&'static str, ToolGroup>) -> Vec<String> {
    let meta = tool.meta();
    let mut problems = Vec::new();
    let name = meta.name;
    if !groups.contains_key(meta.group) {
        problems.push(format!("{name}: group {} is not declared", meta.group));
    }
    if meta.title.trim().is_empty() || meta.description.trim().is_empty() {
        problems.push(format!("{name}: needs a title and a description"));
    }
    match serde_json::from_str::<Value>(meta.example) {
        Ok(example) => {
            if let Err(e) = tool.check_arguments(example) {
                problems.push(format!("{name}: example does not parse: {e}"));
            }
        }
        Err(e) => problems.push(format!("{name}: example is not JSON: {e}")),
    }
    let props = |schema: &JsonObject| -> Vec<String> {
        schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    let input = props(tool.input_schema());
    let output = props(tool.output_schema());
    if tool.input_schema().get("additionalProperties") != Some(&Value::Bool(false)) {
        problems.push(format!(
            "{name}: input must refuse unknown arguments (serde deny_unknown_fields)"
        ));
    }
    if tool.output_schema().get("type") != Some(&Value::String("object".into())) {
        problems.push(format!("{name}: output must be a JSON object"));
    }
    if meta.kind == ToolKind::Danger {
        if !input.iter().any(|p| p == "dry_run") {
            problems.push(format!("{name}: a danger tool takes dry_run"));
        }
        if !(output.iter().any(|p| p == "dry_run") && output.iter().any(|p| p == "cascade")) {
            problems.push(format!(
                "{name}: a danger tool returns DangerResult ({{dry_run, <target>, cascade}})"
            ));
        }
    }
    if name.starts_with("list_")
        && !(input.iter().any(|p| p == "limit") && input.iter().any(|p| p == "cursor"))
    {
        problems.push(format!("{name}: a list takes limit and cursor"));
    }
    problems
}

/// The frozen set of tools, groups and status sections a server serves.
pub struct Registry {
    tools: BTreeMap<&'static str, Arc<dyn DynTool>>,
    groups: Vec<ToolGroup>,
    sections: Vec<Arc<dyn DynStatusSection>>,
    counts: CountsQuery,
    user_data: Vec<Arc<dyn DynUserData>>,
    status_schema: JsonObject,
    catalog: Catalog,
    pub(crate) recorder: Arc<dyn CallRecorder>,
}

impl Registry {
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

    pub fn groups(&self) -> &[ToolGroup] {
        &self.groups
    }

    pub fn status_sections(&self) -> &[Arc<dyn DynStatusSection>] {
        &self.sections
    }

    /// Every status count, as the one statement that reads them.
    pub fn status_counts(&self) -> &CountsQuery {
        &self.counts
    }

    /// Where end users' data lives, domain by domain.
    pub fn user_data(&self) -> &[Arc<dyn DynUserData>] {
        &self.user_data
    }

    /// The schema of get_project_status's result: every section merged.
    pub fn status_schema(&self) -> &JsonObject {
        &self.status_schema
    }

    /// Names and groups, for validating key allow-lists.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The server's instructions for clients, built from the groups.
    pub fn instructions(&self) -> String {
        let mut out = String::from(
            "AuthGate manages one project's authentication through these tool groups \
             (a key may be limited to some; tools/list shows what this key may call):\n",
        );
        for g in &self.groups {
            let names: Vec<&str> = self
                .tools
                .values()
                .filter(|t| t.meta().group == g.name)
                .map(|t| t.meta().name)
                .collect();
            out.push_str(&format!(
                "- {}: {} ({})\n",
                g.name,
                g.summary,
                names.join(", ")
            ));
        }
        out.push_str(
            "Call whoami first to see what this key may do, and get_project_status for an \
             overview. Danger tools delete or revoke: call them with dry_run: true first; the \
             result lists what would change with the same counts. Lists take limit and cursor \
             and return next_cursor. Errors carry a code, the argument at fault and a hint.",
        );
        out
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
    fn a_status_count_of_every_project_fails_the_registry() {
        let mut registry = ToolRegistry::new();
        registry.status_count(StatusCount {
            key: "all_users",
            description: "Every project's users.",
            sql: "SELECT COUNT(*) FROM end_users",
        });
        let problems = registry.build().err().expect("refused");
        assert!(
            problems.contains(&"status count all_users does not filter by {project}".to_owned()),
            "{problems:?}"
        );
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

    #[test]
    fn id_arguments_are_the_id_properties() {
        let schema = object_schema_for::<IdArgs>();
        assert_eq!(id_arguments_of(&schema), vec!["key_id", "user_ids"]);
    }

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct IdArgs {
        key_id: String,
        user_ids: Vec<String>,
        idle: bool,
    }
}
