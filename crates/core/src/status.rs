//! get_project_status is assembled from sections: each domain registers one
//! that reads its part in the call's snapshot. A section's output is a
//! typed struct whose fields become top-level keys of the status. The
//! tool's output schema is merged the same way, so it stays typed.
//!
//! A plain number of rows is not a section but a [`StatusCount`]: every
//! domain's counts are read together in one statement, so a count costs no
//! statement (on PostgreSQL, no round trip and no server work) of its own.
//! They make up the status's `counts` object, which no section may declare.

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

/// The key of the status counts' object.
pub const COUNTS: &str = "counts";

/// A number get_project_status reports under `counts`, declared by the
/// domain that owns the table (`registry.status_count(..)`).
#[derive(Clone, Copy, Debug)]
pub struct StatusCount {
    /// The key under `counts`.
    pub key: &'static str,
    /// What it counts, for the output schema.
    pub description: &'static str,
    /// One scalar `SELECT COUNT(*) FROM <table> WHERE project_id = {project}
    /// ...` in SQL both backends read; `{now}` stands for the call's time
    /// in microseconds. It must filter by `{project}` (the registry refuses
    /// one that does not).
    pub sql: &'static str,
}

/// Every [`StatusCount`] of the registry as one statement:
/// `SELECT 0 AS i, (<count 0>) AS n UNION ALL SELECT 1 AS i, (<count 1>) AS n ...`,
/// with `{project}` and `{now}` bound as parameters. Its SQL text is the
/// same on every call, so both backends keep it prepared.
#[derive(Debug, Default)]
pub struct CountsQuery {
    keys: Vec<&'static str>,
    pieces: Vec<Piece>,
}

#[derive(Debug, PartialEq)]
enum Piece {
    Sql(String),
    Project,
    Now,
}

impl CountsQuery {
    /// Checks and joins the counts; each problem is named.
    pub fn build(counts: &[StatusCount], problems: &mut Vec<String>) -> CountsQuery {
        let mut keys = Vec::with_capacity(counts.len());
        let mut sql = String::new();
        for (i, count) in counts.iter().enumerate() {
            if !count.sql.contains("{project}") {
                problems.push(format!(
                    "status count {} does not filter by {{project}}",
                    count.key
                ));
            }
            // A key declared twice is reported by `merged_schema`.
            keys.push(count.key);
            if i > 0 {
                sql.push_str(" UNION ALL ");
            }
            sql.push_str(&format!("SELECT {i} AS i, ({}) AS n", count.sql));
        }
        let mut pieces = Vec::new();
        let mut rest = sql.as_str();
        while let Some(at) = rest.find('{') {
            let (token, piece) = if rest[at..].starts_with("{project}") {
                ("{project}", Piece::Project)
            } else if rest[at..].starts_with("{now}") {
                ("{now}", Piece::Now)
            } else {
                problems.push(format!("status counts: unknown placeholder in {rest}"));
                break;
            };
            pieces.push(Piece::Sql(rest[..at].to_owned()));
            pieces.push(piece);
            rest = &rest[at + token.len()..];
        }
        pieces.push(Piece::Sql(rest.to_owned()));
        CountsQuery { keys, pieces }
    }

    /// Reads every count of the project in one statement.
    pub async fn read(
        &self, ctx: &ToolContext, conn: &mut Conn<'_>,
    ) -> Result<Map<String, Value>, ToolError> {
        use authgate_store::diesel_async::RunQueryDsl as _;
        if self.keys.is_empty() {
            return Ok(Map::new());
        }
        let statement = CountsStatement {
            pieces: &self.pieces,
            project: ctx.project_id(),
            now: ctx.now().timestamp_micros(),
        };
        let rows: Vec<(i32, i64)> = authgate_store::with_conn!(conn, c => {
            statement.load(c).await?
        });
        let mut out = Map::new();
        for (i, n) in rows {
            let key = usize::try_from(i)
                .ok()
                .and_then(|i| self.keys.get(i))
                .ok_or_else(|| ToolError::internal("a status count answered out of range"))?;
            out.insert((*key).to_owned(), Value::from(n));
        }
        Ok(out)
    }
}

/// [`CountsQuery`] with the call's parameters, as a diesel query.
#[derive(Clone, Copy)]
struct CountsStatement<'a> {
    pieces: &'a [Piece],
    project: &'a str,
    now: i64,
}

impl diesel::query_builder::QueryId for CountsStatement<'_> {
    type QueryId = ();
    // Cached by its SQL text, which is the same on every call.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for CountsStatement<'_> {
    type SqlType = (diesel::sql_types::Integer, diesel::sql_types::BigInt);
}

impl<DB> diesel::query_builder::QueryFragment<DB> for CountsStatement<'_>
where
    DB: diesel::backend::Backend,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
{
    fn walk_ast<'b>(
        &'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        for piece in self.pieces {
            match piece {
                Piece::Sql(sql) => out.push_sql(sql),
                Piece::Project => {
                    out.push_bind_param::<diesel::sql_types::Text, str>(self.project)?;
                }
                Piece::Now => out.push_bind_param::<diesel::sql_types::BigInt, i64>(&self.now)?,
            }
        }
        Ok(())
    }
}

/// What the domains registered for get_project_status, as the status
/// tool's output schema is computed from it when the registry is built.
#[derive(Clone, Copy)]
pub struct StatusParts<'a> {
    pub sections: &'a [Arc<dyn DynStatusSection>],
    pub counts: &'a [StatusCount],
}

/// One domain's part of get_project_status.
pub trait StatusSection: Send + Sync + 'static {
    /// A struct: each field is a key of the status (`counts` merges).
    type Output: Serialize + JsonSchema + Send + 'static;

    fn read<'a>(
        &'a self, ctx: &'a ToolContext, conn: &'a mut Conn<'_>,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;
}

/// A section with its type erased.
pub trait DynStatusSection: Send + Sync {
    fn schema(&self) -> &JsonObject;
    fn read_json<'a>(
        &'a self, ctx: &'a ToolContext, conn: &'a mut Conn<'_>,
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
        &'a self, ctx: &'a ToolContext, conn: &'a mut Conn<'_>,
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

/// The schema of every section and count merged; a key two sections both
/// claim, or a section's `counts`, is a problem.
pub fn merged_schema(
    sections: &[Arc<dyn DynStatusSection>], status_counts: &[StatusCount],
    problems: &mut Vec<String>,
) -> JsonObject {
    let mut props = Map::new();
    let mut req = Vec::new();
    let mut counts = Map::new();
    let mut counts_req = Vec::new();
    for count in status_counts {
        let schema = serde_json::json!({
            "type": "integer",
            "minimum": 0,
            "description": count.description,
        });
        if counts.insert(count.key.to_owned(), schema).is_some() {
            problems.push(format!("status: counts.{} is declared twice", count.key));
        }
        counts_req.push(Value::String(count.key.to_owned()));
    }
    for section in sections {
        let schema = section.schema();
        let section_req = required(schema);
        for (key, value) in properties(schema) {
            if key == COUNTS {
                problems.push(
                    "status: a section declares counts; register each as a StatusCount \
                     (registry.status_count)"
                        .into(),
                );
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

/// Reads every section and every count in the call's unit of work and
/// merges the results. None depends on another: on PostgreSQL they run
/// concurrently, their statements pipelined on the call's one connection
/// (one snapshot; the call waits for about one round trip per statement a
/// section runs in sequence, not one per statement); on SQLite one after
/// another.
pub async fn read_all(
    sections: &[Arc<dyn DynStatusSection>], counts: &CountsQuery, ctx: &ToolContext,
    conn: &mut Conn<'_>,
) -> Result<JsonObject, ToolError> {
    let (values, counted) =
        match conn.siblings(sections.len() + 1) {
            Some(mut siblings) => {
                let mut for_counts = siblings
                    .pop()
                    .ok_or_else(|| ToolError::internal("no sibling"))?;
                futures::future::try_join(
                    futures::future::try_join_all(sections.iter().zip(siblings).map(
                        |(section, mut sibling)| async move {
                            section.read_json(ctx, &mut sibling).await
                        },
                    )),
                    async move { counts.read(ctx, &mut for_counts).await },
                )
                .await?
            }
            None => {
                let mut values = Vec::with_capacity(sections.len());
                for section in sections {
                    values.push(section.read_json(ctx, conn).await?);
                }
                (values, counts.read(ctx, conn).await?)
            }
        };
    let mut out = JsonObject::new();
    for value in values {
        let Value::Object(map) = value else {
            return Err(ToolError::internal("a status section is not an object"));
        };
        out.extend(map);
    }
    if !counted.is_empty() {
        out.insert(COUNTS.into(), Value::Object(counted));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: StatusCount = StatusCount {
        key: "end_users",
        description: "End users.",
        sql: "SELECT COUNT(*) FROM end_users WHERE project_id = {project}",
    };

    #[test]
    fn counts_join_into_one_statement_with_bound_parameters() {
        let sessions = StatusCount {
            key: "active_sessions",
            description: "Active sessions.",
            sql: "SELECT COUNT(*) FROM sessions WHERE project_id = {project} AND expires_at > {now}",
        };
        let mut problems = Vec::new();
        let q = CountsQuery::build(&[USERS, sessions], &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(q.keys, ["end_users", "active_sessions"]);
        let sql = |s: &str| Piece::Sql(s.to_owned());
        assert_eq!(
            q.pieces,
            [
                sql("SELECT 0 AS i, (SELECT COUNT(*) FROM end_users WHERE project_id = "),
                Piece::Project,
                sql(
                    ") AS n UNION ALL SELECT 1 AS i, (SELECT COUNT(*) FROM sessions WHERE project_id = "
                ),
                Piece::Project,
                sql(" AND expires_at > "),
                Piece::Now,
                sql(") AS n"),
            ]
        );
        let statement = CountsStatement {
            pieces: &q.pieces,
            project: "prj_1",
            now: 7,
        };
        let pg = diesel::debug_query::<diesel::pg::Pg, _>(&statement).to_string();
        assert!(
            pg.starts_with(
                "SELECT 0 AS i, (SELECT COUNT(*) FROM end_users WHERE project_id = $1) AS n"
            ) && pg.contains("project_id = $2 AND expires_at > $3) AS n")
                && pg.ends_with(r#"-- binds: ["prj_1", "prj_1", 7]"#),
            "{pg}"
        );
    }

    #[test]
    fn a_count_without_the_project_or_declared_twice_is_refused() {
        let everyone = StatusCount {
            key: "all_users",
            description: "Every project's users.",
            sql: "SELECT COUNT(*) FROM end_users",
        };
        let mut problems = Vec::new();
        CountsQuery::build(&[USERS, everyone, USERS], &mut problems);
        assert_eq!(
            problems,
            ["status count all_users does not filter by {project}"]
        );
        let mut schema_problems = Vec::new();
        merged_schema(&[], &[USERS, USERS], &mut schema_problems);
        assert_eq!(
            schema_problems,
            ["status: counts.end_users is declared twice"]
        );
    }

    #[derive(Serialize, JsonSchema)]
    struct OwnCounts {
        counts: u32,
    }

    struct CountingSection;

    impl StatusSection for CountingSection {
        type Output = OwnCounts;

        async fn read(&self, _: &ToolContext, _: &mut Conn<'_>) -> Result<OwnCounts, ToolError> {
            Ok(OwnCounts { counts: 0 })
        }
    }

    #[test]
    fn a_section_that_declares_counts_is_refused() {
        let mut problems = Vec::new();
        let schema = merged_schema(&[erase(CountingSection)], &[USERS], &mut problems);
        assert_eq!(
            problems,
            [
                "status: a section declares counts; register each as a StatusCount (registry.status_count)"
            ]
        );
        let counts = &properties(&schema)[COUNTS]["properties"];
        assert_eq!(
            counts
                .as_object()
                .map(|c| c.keys().map(String::as_str).collect::<Vec<_>>()),
            Some(vec!["end_users"])
        );
    }
}
