//! get_project_status is assembled from sections: each domain registers one
//! that reads its part in the call's snapshot. A section's output is a
//! typed struct whose fields become top-level keys of the status; the
//! fields of a `counts` object are merged into one `counts` object. The
//! tool's output schema is merged the same way, so it stays typed.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use authgate_store::Conn;

use crate::schema::{JsonObject, object_schema_for};
use crate::{ToolContext, ToolError};

/// The key whose object fields every section may add to.
pub const COUNTS: &str = "counts";

/// One domain's part of get_project_status.
pub trait StatusSection: Send + Sync + 'static {
    /// A struct: each field is a key of the status (`counts` merges).
    type Output: Serialize + JsonSchema + Send + 'static;

    fn read<'a>(
        &'a self,
        ctx: &'a ToolContext,
        conn: &'a mut Conn<'_>,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;
}

/// A section with its type erased.
pub trait DynStatusSection: Send + Sync {
    fn schema(&self) -> &JsonObject;
    fn read_json<'a>(
        &'a self,
        ctx: &'a ToolContext,
        conn: &'a mut Conn<'_>,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;
}

struct Erased<S: StatusSection> {
    section: S,
    schema: JsonObject,
}

impl<S: StatusSection> DynStatusSection for Erased<S> {
    fn schema(&self) -> &JsonObject {
        &self.schema
    }

    fn read_json<'a>(
        &'a self,
        ctx: &'a ToolContext,
        conn: &'a mut Conn<'_>,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let out = self.section.read(ctx, conn).await?;
            serde_json::to_value(out).map_err(ToolError::internal)
        }
        .boxed()
    }
}

pub(crate) fn erase<S: StatusSection>(section: S) -> Arc<dyn DynStatusSection> {
    Arc::new(Erased {
        schema: object_schema_for::<S::Output>(),
        section,
    })
}

fn properties(schema: &JsonObject) -> Map<String, Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn required(schema: &JsonObject) -> Vec<Value> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn object(props: Map<String, Value>, required: Vec<Value>) -> JsonObject {
    let mut out = JsonObject::new();
    out.insert("type".into(), Value::String("object".into()));
    out.insert("properties".into(), Value::Object(props));
    out.insert("required".into(), Value::Array(required));
    out
}

/// The schema of every section merged; a key two sections both claim (other
/// than `counts`) is a problem.
pub fn merged_schema(
    sections: &[Arc<dyn DynStatusSection>],
    problems: &mut Vec<String>,
) -> JsonObject {
    let mut props = Map::new();
    let mut req = Vec::new();
    let mut counts = Map::new();
    let mut counts_req = Vec::new();
    for section in sections {
        let schema = section.schema();
        let section_req = required(schema);
        for (key, value) in properties(schema) {
            if key == COUNTS {
                let inner = value.as_object().cloned().unwrap_or_default();
                for (k, v) in properties(&inner) {
                    if counts.insert(k.clone(), v).is_some() {
                        problems.push(format!("status: counts.{k} comes from two sections"));
                    }
                }
                counts_req.extend(required(&inner));
                continue;
            }
            if section_req.contains(&Value::String(key.clone())) {
                req.push(Value::String(key.clone()));
            }
            if props.insert(key.clone(), value).is_some() {
                problems.push(format!("status: {key} comes from two sections"));
            }
        }
    }
    if !counts.is_empty() {
        props.insert(COUNTS.into(), Value::Object(object(counts, counts_req)));
        req.push(Value::String(COUNTS.into()));
    }
    object(props, req)
}

/// Reads every section in the call's unit of work and merges the results.
/// The sections do not depend on each other: on PostgreSQL they run
/// concurrently, their statements pipelined on the call's one connection
/// (one snapshot, about one round trip per statement a section runs in
/// sequence, instead of one per statement of all sections); on SQLite
/// one after another.
pub async fn read_all(
    sections: &[Arc<dyn DynStatusSection>],
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
) -> Result<JsonObject, ToolError> {
    let values = match conn.siblings(sections.len()) {
        Some(siblings) => {
            futures::future::try_join_all(sections.iter().zip(siblings).map(
                |(section, mut sibling)| async move { section.read_json(ctx, &mut sibling).await },
            ))
            .await?
        }
        None => {
            let mut values = Vec::with_capacity(sections.len());
            for section in sections {
                values.push(section.read_json(ctx, conn).await?);
            }
            values
        }
    };
    let mut out = JsonObject::new();
    let mut counts = Map::new();
    for value in values {
        let Value::Object(map) = value else {
            return Err(ToolError::internal("a status section is not an object"));
        };
        for (key, value) in map {
            match (key.as_str(), value) {
                (COUNTS, Value::Object(c)) => counts.extend(c),
                (_, value) => {
                    out.insert(key, value);
                }
            }
        }
    }
    if !counts.is_empty() {
        out.insert(COUNTS.into(), Value::Object(counts));
    }
    Ok(out)
}
