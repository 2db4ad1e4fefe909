//! A connection narrows itself through its URL, as GitHub's MCP server
//! (toolsets) and Supabase's (features, read_only) let clients do:
//! `/api/mcp?toolsets=end_users,organizations` limits it to those tool
//! groups and `?read_only=true` to read tools. Both only narrow what the
//! key allows; tools/list shows what is left and any other call is refused
//! as a key's allow-list refuses it.

use std::sync::Arc;

use http::StatusCode;

use authgate_core::{Caller, ConnectionLimits};

use super::refusal::Refusal;
use crate::app::AppState;

/// The caller narrowed by the request's query, or a refusal naming what is
/// wrong with it.
pub(crate) fn narrow(
    app: &AppState, caller: Arc<Caller>, query: Option<&str>,
) -> Result<Arc<Caller>, Box<Refusal>> {
    let Some(query) = query else {
        return Ok(caller);
    };
    let mut limits = ConnectionLimits::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "toolsets" => limits.toolsets = Some(toolsets(app, &value)?),
            "read_only" => limits.read_only = read_only(&value)?,
            _ => {}
        }
    }
    if !limits.is_set() {
        return Ok(caller);
    }
    let mut narrowed = (*caller).clone();
    narrowed.connection = limits;
    Ok(Arc::new(narrowed))
}

fn bad(message: String) -> Box<Refusal> {
    Box::new(Refusal::new(StatusCode::BAD_REQUEST, -32602, message))
}

/// Comma-separated tool group names, each one the registry declares.
fn toolsets(app: &AppState, value: &str) -> Result<Vec<String>, Box<Refusal>> {
    let known: Vec<&str> = app.registry.groups().iter().map(|g| g.name).collect();
    let mut sets = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !known.contains(&name) {
            return Err(bad(format!(
                "toolsets: '{name}' is not a tool group; the groups are {}",
                known.join(", ")
            )));
        }
        if !sets.iter().any(|s| s == name) {
            sets.push(name.to_owned());
        }
    }
    if sets.is_empty() {
        return Err(bad(format!(
            "toolsets is empty: name one or more of {}",
            known.join(", ")
        )));
    }
    Ok(sets)
}

fn read_only(value: &str) -> Result<bool, Box<Refusal>> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(bad(format!(
            "read_only must be true or false, got '{other}'"
        ))),
    }
}
