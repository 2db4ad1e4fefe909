//! The registry: where the domains register their tools, groups, status
//! counts and sections and user-data sections ([`ToolRegistry`]), checked
//! and frozen into the [`Registry`] the gateway serves. Running a call
//! through it is `dispatch.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use authgate_store::Conn;

use crate::context::Domains;
use crate::meta::{Catalog, ToolGroup, ToolKind};
use crate::record::CallRecorder;
use crate::schema::{JsonObject, object_schema_for};
use crate::status::{CountsQuery, DynStatusSection, StatusCount, StatusParts, StatusSection};
use crate::tool::{DynTool, Erased, Tool};
use crate::userdata::{DynUserData, UserDataSection};
use crate::{ToolContext, ToolError};

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
type BuildTool = Box<dyn FnOnce(&StatusParts<'_>) -> Arc<dyn DynTool> + Send>;

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
            build: Box::new(move |parts: &StatusParts<'_>| {
                let input = object_schema_for::<T::Input>();
                Arc::new(Erased {
                    id_arguments: id_arguments_of(&input),
                    input: Arc::new(input),
                    output: Arc::new(T::output_schema(parts)),
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
        let parts = StatusParts {
            sections: &self.sections,
            counts: &self.counts,
        };
        let built: Vec<Arc<dyn DynTool>> = pending.into_iter().map(|p| (p.build)(&parts)).collect();
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
        // Keys declared twice (by a count or a section) are reported here.
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
             result lists what would change with the same counts, and nothing changes. Lists \
             take limit (1 to 100, default 20) and cursor (the next_cursor of the page before) \
             and return {data, next_cursor, has_more}. Errors carry a code, the argument at \
             fault and a hint.",
        );
        out
    }
}

impl Domains for Registry {
    fn user_data(&self) -> &[Arc<dyn DynUserData>] {
        &self.user_data
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn read_status<'a, 'c>(
        &'a self, ctx: &'a ToolContext, conn: &'a mut Conn<'c>,
    ) -> BoxFuture<'a, Result<JsonObject, ToolError>> {
        Box::pin(crate::status::read_all(
            &self.sections,
            &self.counts,
            ctx,
            conn,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;

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
