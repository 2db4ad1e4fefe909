//! Where a setting's value comes from: the environment variable when set
//! (and not empty), else the file's key of the same name in lower case
//! without the `AUTHGATE_` prefix (`AUTHGATE_RATE_LIMIT` → `rate_limit`,
//! `DATABASE_URL` → `database_url`). A file key no setting reads is an
//! error naming it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use serde::de::DeserializeOwned;

pub(super) struct Source<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    file: toml::Table,
    file_name: String,
    read: RefCell<BTreeSet<String>>,
}

fn file_key(var: &str) -> String {
    var.strip_prefix("AUTHGATE_")
        .unwrap_or(var)
        .to_ascii_lowercase()
}

impl<'e> Source<'e> {
    /// Reads `file` when it exists.
    pub fn new(
        file: Option<&Path>, env: &'e dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let (table, name) = match file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                let table: toml::Table =
                    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                (table, path.display().to_string())
            }
            _ => (toml::Table::new(), String::new()),
        };
        Ok(Source {
            env,
            file: table,
            file_name: name,
            read: RefCell::new(BTreeSet::new()),
        })
    }

    /// The raw text of `var`, if set.
    pub fn text(&self, var: &str) -> Result<Option<String>, String> {
        let key = file_key(var);
        self.read.borrow_mut().insert(key.clone());
        if let Some(v) = (self.env)(var).filter(|v| !v.is_empty()) {
            return Ok(Some(v));
        }
        match self.file.get(&key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(toml::Value::Integer(n)) => Ok(Some(n.to_string())),
            Some(toml::Value::Boolean(b)) => Ok(Some(b.to_string())),
            Some(toml::Value::Array(items)) => Ok(Some(
                items
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(n) => n.to_string(),
                        other => other.type_str().to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            Some(other) => Err(format!(
                "{}: {key} must be a string, number, boolean or list, not {}",
                self.file_name,
                other.type_str()
            )),
        }
    }

    /// `var` parsed by `parse`, or `default` when unset.
    pub fn get<T>(
        &self, var: &str, default: &str, parse: impl Fn(&str, &str) -> Result<T, String>,
    ) -> Result<T, String> {
        let text = self.text(var)?.unwrap_or_else(|| default.to_owned());
        parse(var, &text)
    }

    /// `var` parsed by `parse`, or none when unset.
    pub fn optional<T>(
        &self, var: &str, parse: impl Fn(&str, &str) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        self.text(var)?.map(|t| parse(var, &t)).transpose()
    }

    /// A table of the file only (`[security]`), deserialised as `T`.
    pub fn section<T: DeserializeOwned + Default>(&self, key: &str) -> Result<T, String> {
        self.read.borrow_mut().insert(key.to_owned());
        match self.file.get(key) {
            None => Ok(T::default()),
            Some(value) => value
                .clone()
                .try_into()
                .map_err(|e| format!("{}: [{key}]: {e}", self.file_name)),
        }
    }

    /// Refuses file keys no setting read.
    pub fn finish(self) -> Result<(), String> {
        let read = self.read.into_inner();
        match self.file.keys().find(|k| !read.contains(*k)) {
            Some(unknown) => Err(format!(
                "{}: unknown setting '{unknown}' (settings are the environment variables in lower case without AUTHGATE_)",
                self.file_name
            )),
            None => Ok(()),
        }
    }
}
