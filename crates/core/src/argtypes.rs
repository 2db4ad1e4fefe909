//! A tool's arguments checked against the JSON types of its published input
//! schema before they are deserialised. serde lets a sequence stand in for
//! a struct (an array's items fill the fields in order, and an empty array
//! is a struct of defaults), so `{"state": []}` would read as an empty
//! document; here an array is never an object, a string never a number,
//! at any depth, and the error names the path.

use serde_json::{Map, Value};

use crate::ToolError;

/// Checks `args` against `schema`'s types (`type`, `properties`, `items`,
/// `prefixItems`, `additionalProperties` as a schema, `anyOf`/`oneOf`/
/// `allOf`, local `$ref`s). Unknown and missing properties are left to the
/// deserialiser, which names them better.
pub fn check_types(schema: &Map<String, Value>, args: &Value) -> Result<(), ToolError> {
    Checker { root: schema }
        .check(schema, args, "")
        .map_err(|m| m.error())
}

/// A value of the wrong type: where, what the schema wants, what came.
#[derive(Debug)]
struct Mismatch {
    path: String,
    expected: String,
    got: &'static str,
}

impl Mismatch {
    fn error(self) -> ToolError {
        if self.path.is_empty() {
            return ToolError::invalid(
                "arguments",
                format!("arguments must be {}, not {}", self.expected, self.got),
            );
        }
        let message = format!(
            "'{}' must be {}, not {}",
            self.path, self.expected, self.got
        );
        ToolError::invalid(self.path, message)
            .with_hint("see the tool's input schema for the type of each argument")
    }
}

struct Checker<'a> {
    root: &'a Map<String, Value>,
}

/// The JSON type of a value, as a schema names it.
fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn admits(wanted: &str, value: &Value) -> bool {
    let got = type_of(value);
    wanted == got || (wanted == "number" && got == "integer")
}

/// "an object", "a string or null", ...
fn described(types: &[&str]) -> String {
    let one = |t: &&str| match *t {
        "object" | "array" | "integer" => format!("an {t}"),
        "null" => "null".to_owned(),
        other => format!("a {other}"),
    };
    types.iter().map(one).collect::<Vec<_>>().join(" or ")
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

impl<'a> Checker<'a> {
    /// The schema a `$ref` points at (`#/$defs/X` or `#/definitions/X`).
    fn resolve(&self, schema: &'a Map<String, Value>) -> &'a Map<String, Value> {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let mut at = self.root;
        for part in reference.trim_start_matches("#/").split('/') {
            match at.get(part).and_then(Value::as_object) {
                Some(next) => at = next,
                None => return schema,
            }
        }
        at
    }

    fn check(
        &self, schema: &'a Map<String, Value>, value: &Value, path: &str,
    ) -> Result<(), Mismatch> {
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all.iter().filter_map(Value::as_object) {
                self.check(part, value, path)?;
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = schema.get(key).and_then(Value::as_array) {
                self.one_of(branches, value, path)?;
            }
        }
        if let Some(types) = declared_types(schema)
            && !types.iter().any(|t| admits(t, value))
        {
            return Err(Mismatch {
                path: path.to_owned(),
                expected: described(&types),
                got: type_of(value),
            });
        }
        match value {
            Value::Object(fields) => self.fields(schema, fields, path),
            Value::Array(items) => self.items(schema, items, path),
            _ => Ok(()),
        }
    }

    /// At least one branch holds; otherwise the error of the branch whose
    /// own type fits (it failed deeper), or the union of their types.
    fn one_of(&self, branches: &'a [Value], value: &Value, path: &str) -> Result<(), Mismatch> {
        let mut types = Vec::new();
        let mut deeper = None;
        for branch in branches.iter().filter_map(Value::as_object) {
            match self.check(branch, value, path) {
                Ok(()) => return Ok(()),
                Err(m) if m.path != path => deeper = deeper.or(Some(m)),
                Err(_) => {}
            }
            types.extend(declared_types(self.resolve(branch)).unwrap_or_default());
        }
        Err(deeper.unwrap_or_else(|| Mismatch {
            path: path.to_owned(),
            expected: described(&types),
            got: type_of(value),
        }))
    }

    fn fields(
        &self, schema: &'a Map<String, Value>, fields: &Map<String, Value>, path: &str,
    ) -> Result<(), Mismatch> {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema
            .get("additionalProperties")
            .and_then(Value::as_object);
        for (name, value) in fields {
            let sub = properties
                .and_then(|p| p.get(name))
                .and_then(Value::as_object)
                .or(additional);
            if let Some(sub) = sub {
                self.check(sub, value, &child(path, name))?;
            }
        }
        Ok(())
    }

    fn items(
        &self, schema: &'a Map<String, Value>, items: &[Value], path: &str,
    ) -> Result<(), Mismatch> {
        let prefix = schema.get("prefixItems").and_then(Value::as_array);
        let rest = schema.get("items").and_then(Value::as_object);
        for (i, item) in items.iter().enumerate() {
            let sub = prefix
                .and_then(|p| p.get(i))
                .and_then(Value::as_object)
                .or(rest);
            if let Some(sub) = sub {
                self.check(sub, item, &format!("{path}[{i}]"))?;
            }
        }
        Ok(())
    }
}

/// The `type` a schema declares: one name or a list.
fn declared_types(schema: &Map<String, Value>) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "state": {
                    "type": "object",
                    "properties": {
                        "roles": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"key": {"type": "string"}, "n": {"type": ["integer", "null"]}}
                        }}
                    }
                },
                "limit": {"type": "integer"},
                "ratio": {"type": "number"},
                "mode": {"anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}]},
                "meta": {"type": "object", "additionalProperties": {"type": "string"}}
            },
            "$defs": {"Mode": {"type": "string", "enum": ["a", "b"]}}
        })
        .as_object()
        .cloned()
        .expect("object")
    }

    fn refused(args: Value) -> (String, String) {
        let e = check_types(&schema(), &args).expect_err("refused");
        (e.field.unwrap_or_default(), e.message)
    }

    #[test]
    fn arrays_never_stand_in_for_objects_at_any_depth() {
        assert_eq!(refused(json!({"state": []})).0, "state");
        assert_eq!(
            refused(json!({"state": {"roles": [[]]}})).0,
            "state.roles[0]"
        );
        assert_eq!(refused(json!({"state": {"roles": {}}})).0, "state.roles");
        assert_eq!(refused(json!([])).0, "arguments");
        let (field, message) = refused(json!({"state": {"roles": [{"key": 5}]}}));
        assert_eq!(field, "state.roles[0].key");
        assert_eq!(
            message,
            "'state.roles[0].key' must be a string, not integer"
        );
    }

    #[test]
    fn numbers_strings_nulls_unions_and_maps_are_checked() {
        assert_eq!(refused(json!({"limit": "5"})).0, "limit");
        assert_eq!(refused(json!({"limit": 1.5})).0, "limit");
        assert!(
            check_types(&schema(), &json!({"ratio": 2})).is_ok(),
            "an integer is a number"
        );
        assert_eq!(
            refused(json!({"mode": 3})).1,
            "'mode' must be a string or null, not integer"
        );
        assert!(check_types(&schema(), &json!({"mode": null})).is_ok());
        assert!(check_types(&schema(), &json!({"mode": "a"})).is_ok());
        assert_eq!(refused(json!({"meta": {"x": []}})).0, "meta.x");
        assert_eq!(
            refused(json!({"state": {"roles": [{"n": "1"}]}})).0,
            "state.roles[0].n"
        );
        assert!(
            check_types(
                &schema(),
                &json!({"state": {"roles": [{"key": "k", "n": null}]}, "unknown": []})
            )
            .is_ok(),
            "unknown names are the deserialiser's to refuse"
        );
    }
}
