//! The schemas as clients see them (tools/list and docs/tools): what a
//! model needs and nothing that costs its context for no use, in the
//! strictest dialect the model providers take (Gemini's function
//! declarations want one `type` per schema).
//!
//! Input schemas: an optional argument is simply not required (no
//! `["string", "null"]`, no `anyOf` with null); a documented enum is one
//! `enum` of strings with its variants' docs folded into the description;
//! a free-form argument gets the one type a model should send (its
//! `x-one-type`, else `object`); no root `title`; the descriptions of
//! `cursor` and `dry_run`, which the server's instructions explain once,
//! go. The tool's own checks still use the full schema (`argtypes`), which
//! also accepts what the published one leaves out (a null, a JSON string
//! for a document), so a client that follows the published schema always
//! passes.
//!
//! Output schemas: the shape (types, properties, items, enums) without
//! prose (`description`, `title`, `default`) or checks a reader does not
//! need (`required`, `format`, bounds, `additionalProperties`: the server
//! builds every answer from its types, and the full schemas are in the
//! repository), no `type` that `properties` or `items` already imply, and
//! an object shape that appears more than once is written once under
//! `$defs` and referred to.
//!
//! Both drop `additionalProperties` from what is published: Gemini's
//! function declarations refuse the keyword. The server still refuses
//! unknown arguments, naming the ones it takes.

use serde_json::{Map, Value};

use crate::schema::JsonObject;

/// Arguments whose meaning the server's instructions give once for all.
const SELF_EXPLAINED: &[&str] = &["cursor", "limit", "dry_run"];

/// Whether a description only restates an id argument's name and prefix
/// ("The end user's id (usr_...)."), which the name and the tool say.
fn restates_id(name: &str, description: &str) -> bool {
    name.ends_with("_id")
        && description.starts_with("The ")
        && description.ends_with("_...).")
        && !description.contains(',')
        && !description.contains(" or ")
        && description.len() <= 48
}

/// A free-form argument's published type, set on the Rust side with
/// `#[schemars(extend("x-one-type" = "number"))]`.
pub const ONE_TYPE: &str = "x-one-type";

/// The input schema clients see.
pub fn input(schema: &JsonObject) -> JsonObject {
    let mut out = schema.clone();
    out.remove("title");
    compact_object(&mut out);
    let mut value = Value::Object(out);
    remove_keywords(&mut value, &["additionalProperties"]);
    match value {
        Value::Object(out) => out,
        _ => Map::new(),
    }
}

/// Rewrites an object schema's properties (and their subschemas).
fn compact_object(schema: &mut JsonObject) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            let Value::Object(p) = prop else { continue };
            let optional = !required.contains(name);
            compact_argument(p, optional);
            let restated = p
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| restates_id(name, d));
            if restated || SELF_EXPLAINED.contains(&name.as_str()) {
                p.remove("description");
            }
        }
    }
    if let Some(Value::Object(items)) = schema.get_mut("items") {
        compact_argument(items, false);
    }
    if let Some(Value::Object(extra)) = schema.get_mut("additionalProperties") {
        compact_argument(extra, false);
    }
}

/// One argument (or an item of one): one type, no null when optional.
fn compact_argument(p: &mut JsonObject, optional: bool) {
    if optional {
        drop_null(p);
    }
    if let Some(alternatives) = p.remove("oneOf") {
        fold_documented_enum(p, alternatives);
    }
    let has_shape = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"]
        .iter()
        .any(|k| p.contains_key(*k));
    let one = p.remove(ONE_TYPE);
    if !has_shape {
        p.insert(
            "type".into(),
            one.unwrap_or_else(|| Value::String("object".into())),
        );
    }
    p.remove("title");
    compact_object(p);
}

/// `type: [T, "null"]` → `type: T`; `anyOf: [X, {"type": "null"}]` → X.
fn drop_null(p: &mut JsonObject) {
    if let Some(Value::Array(types)) = p.get("type") {
        let rest: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        let single = match rest.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(rest),
        };
        p.insert("type".into(), single);
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(alts)) = p.get(key) else {
            continue;
        };
        let non_null: Vec<Value> = alts
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if non_null.len() + 1 == alts.len() {
            p.remove(key);
            if let [Value::Object(only)] = non_null.as_slice() {
                for (k, v) in only {
                    p.entry(k.clone()).or_insert_with(|| v.clone());
                }
            } else {
                p.insert(key.into(), Value::Array(non_null));
            }
        }
    }
    if p.get("default") == Some(&Value::Null) {
        p.remove("default");
    }
}

/// `oneOf` of documented string constants → one `enum`, the variants'
/// docs folded into the description. Any other `oneOf` is put back.
fn fold_documented_enum(p: &mut JsonObject, alternatives: Value) {
    let Value::Array(alts) = &alternatives else {
        p.insert("oneOf".into(), alternatives);
        return;
    };
    let consts: Option<Vec<(String, Option<String>)>> = alts
        .iter()
        .map(|a| {
            let value = a.get("const")?.as_str()?.to_owned();
            let doc = a
                .get("description")
                .and_then(Value::as_str)
                .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "));
            Some((value, doc))
        })
        .collect();
    let Some(consts) = consts else {
        p.insert("oneOf".into(), alternatives);
        return;
    };
    let docs: Vec<String> = consts
        .iter()
        .filter_map(|(v, d)| d.as_ref().map(|d| format!("{v}: {d}")))
        .collect();
    if !docs.is_empty() {
        let own = p
            .get("description")
            .and_then(Value::as_str)
            .map(|d| format!("{d} "))
            .unwrap_or_default();
        p.insert(
            "description".into(),
            Value::String(format!("{own}{}", docs.join("; "))),
        );
    }
    p.insert("type".into(), Value::String("string".into()));
    p.insert(
        "enum".into(),
        Value::Array(consts.into_iter().map(|(v, _)| Value::String(v)).collect()),
    );
}

/// The output schema clients see.
pub fn output(schema: &JsonObject) -> JsonObject {
    let mut value = Value::Object(schema.clone());
    strip_prose(&mut value);
    fold_const_enums(&mut value);
    drop_implied_types(&mut value, true);
    let Value::Object(mut out) = value else {
        return Map::new();
    };
    share_repeated_shapes(&mut out);
    out
}

/// What an output schema keeps out: prose, and the checks a model reading
/// the answer does not need (the server builds every answer from its types).
const OUTPUT_LEAVES_OUT: &[&str] = &[
    "description",
    "title",
    "default",
    "required",
    "format",
    "additionalProperties",
    "minimum",
    "maximum",
];

fn strip_prose(value: &mut Value) {
    remove_keywords(value, OUTPUT_LEAVES_OUT);
}

/// Removes the `keywords` from every schema under `value` (never a
/// property that has one of those names).
fn remove_keywords(value: &mut Value, keywords: &[&str]) {
    match value {
        Value::Object(map) => {
            for k in keywords {
                map.remove(*k);
            }
            for (k, v) in map.iter_mut() {
                if k == "properties" {
                    if let Value::Object(props) = v {
                        props
                            .values_mut()
                            .for_each(|p| remove_keywords(p, keywords));
                    }
                } else {
                    remove_keywords(v, keywords);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| remove_keywords(i, keywords)),
        _ => {}
    }
}

/// A `oneOf` of constants of one type (what an enum with documented
/// variants becomes, its docs stripped) → `{"type": T, "enum": [...]}`.
fn fold_const_enums(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let folded = map.get("oneOf").and_then(Value::as_array).and_then(|alts| {
                let mut ty: Option<&Value> = None;
                let mut values = Vec::with_capacity(alts.len());
                for a in alts {
                    let a = a.as_object()?;
                    if a.keys().any(|k| k != "const" && k != "type") {
                        return None;
                    }
                    let t = a.get("type")?;
                    if ty.is_some_and(|seen| seen != t) {
                        return None;
                    }
                    ty = Some(t);
                    values.push(a.get("const")?.clone());
                }
                Some((ty?.clone(), values))
            });
            if let Some((ty, values)) = folded {
                map.remove("oneOf");
                map.insert("type".into(), ty);
                map.insert("enum".into(), Value::Array(values));
            }
            map.values_mut().for_each(fold_const_enums);
        }
        Value::Array(items) => items.iter_mut().for_each(fold_const_enums),
        _ => {}
    }
}

/// `"type": "object"` beside `properties`, and `"type": "array"` beside
/// `items`, say again what the shape says (the root keeps its type: MCP
/// wants an object there). A nullable one keeps its type.
fn drop_implied_types(value: &mut Value, root: bool) {
    match value {
        Value::Object(map) => {
            let implied = match map.get("type").and_then(Value::as_str) {
                Some("object") => map.contains_key("properties"),
                Some("array") => map.contains_key("items"),
                _ => false,
            };
            if implied && !root {
                map.remove("type");
            }
            for (k, v) in map.iter_mut() {
                if k == "properties" {
                    if let Value::Object(props) = v {
                        props
                            .values_mut()
                            .for_each(|p| drop_implied_types(p, false));
                    }
                } else {
                    drop_implied_types(v, false);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| drop_implied_types(i, false)),
        _ => {}
    }
}

/// Object shapes of at least this many bytes that appear twice or more
/// are written once.
const SHARED_MIN_BYTES: usize = 120;

fn share_repeated_shapes(root: &mut JsonObject) {
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    fn count(v: &Value, seen: &mut BTreeMap<String, usize>, top: bool) {
        match v {
            Value::Object(map) => {
                if !top && map.contains_key("properties") {
                    let text = v.to_string();
                    if text.len() >= SHARED_MIN_BYTES {
                        *seen.entry(text).or_default() += 1;
                    }
                }
                map.values().for_each(|c| count(c, seen, false));
            }
            Value::Array(items) => items.iter().for_each(|c| count(c, seen, false)),
            _ => {}
        }
    }
    let whole = Value::Object(root.clone());
    count(&whole, &mut seen, true);
    // The largest first, so a shape inside a shared one is not shared too.
    let mut shared: Vec<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(t, _)| t)
        .collect();
    shared.sort_by_key(|t| std::cmp::Reverse(t.len()));
    let mut defs = Map::new();
    for text in shared {
        let Ok(shape) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let name = format!("s{}", defs.len() + 1);
        let reference = serde_json::json!({ "$ref": format!("#/$defs/{name}") });
        let mut replaced = 0;
        for v in root.values_mut() {
            replaced += replace(v, &shape, &reference);
        }
        if replaced > 1 {
            defs.insert(name, shape);
        } else if replaced == 1 {
            // Inside a shape shared already: put it back where it was.
            for v in root.values_mut() {
                replace(v, &reference, &shape);
            }
        }
    }
    if !defs.is_empty() {
        root.insert("$defs".into(), Value::Object(defs));
    }
}

/// Replaces every occurrence of `from` under `v` by `to`; how many.
fn replace(v: &mut Value, from: &Value, to: &Value) -> usize {
    if v == from {
        *v = to.clone();
        return 1;
    }
    match v {
        Value::Object(map) => map.values_mut().map(|c| replace(c, from, to)).sum(),
        Value::Array(items) => items.iter_mut().map(|c| replace(c, from, to)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn inputs_take_one_type_per_schema() {
        let full = obj(json!({
            "title": "Args", "type": "object", "additionalProperties": false,
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "description": "The thing."},
                "thing_id": {"type": "string", "description": "The thing (thg_...)."},
                "cursor": {"type": ["string", "null"], "description": "next_cursor from the previous page."},
                "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "description": "When."},
                "metadata": {"description": "Free JSON."},
                "price": {"description": "19 or \"19.00\".", "x-one-type": "number"},
                "mode": {"default": "none", "description": "How.", "oneOf": [
                    {"const": "none", "type": "string", "description": "Nothing."},
                    {"const": "all", "type": "string"}
                ]},
                "tags": {"type": ["array", "null"], "items": {"type": "string"}}
            }
        }));
        let p = Value::Object(input(&full));
        assert!(p.get("title").is_none());
        assert!(p.get("additionalProperties").is_none());
        let props = &p["properties"];
        assert_eq!(
            props["id"],
            json!({"type": "string", "description": "The thing."})
        );
        assert_eq!(props["cursor"], json!({"type": "string"}));
        assert_eq!(
            props["thing_id"],
            json!({"type": "string"}),
            "the name says it"
        );
        assert_eq!(
            props["when"],
            json!({"type": "string", "format": "date-time", "description": "When."})
        );
        assert_eq!(props["metadata"]["type"], "object");
        assert_eq!(
            props["price"],
            json!({"type": "number", "description": "19 or \"19.00\"."})
        );
        assert_eq!(props["mode"]["type"], "string");
        assert_eq!(props["mode"]["enum"], json!(["none", "all"]));
        assert_eq!(props["mode"]["description"], "How. none: Nothing.");
        assert_eq!(props["tags"]["type"], "array");
    }

    #[test]
    fn outputs_lose_prose_and_write_repeated_shapes_once() {
        let user = json!({"type": "object", "description": "A user.", "properties": {
            "id": {"type": "string", "description": "Its id."},
            "email": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
            "description": {"type": ["string", "null"]}
        }, "required": ["id", "email", "created_at"]});
        let full = obj(json!({"type": "object", "title": "Both", "properties": {
            "owner": user.clone(), "members": {"type": "array", "items": user}
        }}));
        let p = Value::Object(output(&full));
        let text = p.to_string();
        assert!(!text.contains("A user.") && !text.contains("Its id.") && !text.contains("Both"));
        assert_eq!(p["properties"]["owner"], json!({"$ref": "#/$defs/s1"}));
        assert_eq!(p["type"], "object", "the root keeps its type");
        assert!(
            p["$defs"]["s1"].get("type").is_none(),
            "implied by properties"
        );
        assert_eq!(
            p["properties"]["members"]["items"],
            json!({"$ref": "#/$defs/s1"})
        );
        assert_eq!(
            p["$defs"]["s1"]["properties"]["description"],
            json!({"type": ["string", "null"]}),
            "a property named description stays"
        );
        assert_eq!(
            p["$defs"]["s1"]["properties"]["created_at"],
            json!({"type": "string"})
        );
        // Documented variants: one enum once their docs are gone.
        let scopes = obj(json!({"type": "object", "properties": {"scope": {"oneOf": [
            {"const": "read", "type": "string", "description": "Reads."},
            {"const": "write", "type": "string", "description": "Writes."}
        ]}, "mixed": {"oneOf": [{"const": "a", "type": "string"}, {"type": "integer"}]}}}));
        let p = Value::Object(output(&scopes));
        assert_eq!(
            p["properties"]["scope"],
            json!({"type": "string", "enum": ["read", "write"]})
        );
        assert!(
            p["properties"]["mixed"]["oneOf"].is_array(),
            "not constants: kept"
        );
    }
}
