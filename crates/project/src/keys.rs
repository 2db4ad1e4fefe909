//! Projects and their API keys. A key is `ag_live_` or `ag_test_` and 40
//! random base62 characters (~238 bits); only its SHA-256 is stored, and
//! the full key is shown once, when it is made.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::Rng as _;
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Caller, Page, PageRequest, Scope, ToolError, new_id};
use authgate_store::schema::{api_keys, projects};
use authgate_store::{ProjectLock as _, Store, with_conn, write_tx};

/// Characters of the random part of a key.
const KEY_RANDOM_LEN: usize = 40;
/// Characters of a key shown in listings (`ag_live_` and four more).
pub const PREFIX_LEN: usize = 12;
/// `last_used_at` is written at most this often per key, to keep writes off
/// the hot path of authentication.
const LAST_USED_RESOLUTION_MICROS: i64 = 60 * 1_000_000;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    /// `live` or `test`; the project's keys start `ag_live_` or `ag_test_`.
    pub environment: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
struct ProjectRow {
    id: String,
    name: String,
    environment: String,
    created_at: i64,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Project {
            id: r.id,
            name: r.name,
            environment: r.environment,
            created_at: from_micros(r.created_at),
        }
    }
}

/// An API key as listed: never the key itself nor its hash.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: Option<String>,
    /// The first 12 characters of the key, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// Tool names and `group:<name>` entries; null allows every tool.
    pub tools: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just made: `key` is shown this once and stored only as a hash.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CreatedApiKey {
    pub id: String,
    /// The full API key. Store it now: it cannot be shown again.
    pub key: String,
    pub name: Option<String>,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub tools: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
struct ApiKeyRow {
    id: String,
    project_id: String,
    name: Option<String>,
    prefix: String,
    key_hash: String,
    scopes: String,
    tools: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    fn scopes(&self) -> Vec<Scope> {
        serde_json::from_str::<Vec<String>>(&self.scopes)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect()
    }

    fn tools(&self) -> Option<Vec<String>> {
        self.tools
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
    }

    fn info(&self) -> ApiKeyInfo {
        ApiKeyInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            scopes: self.scopes(),
            tools: self.tools(),
            created_at: from_micros(self.created_at),
            last_used_at: self.last_used_at.map(from_micros),
            revoked_at: self.revoked_at.map(from_micros),
        }
    }
}

/// What a new key may do.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    pub tools: Option<Vec<String>>,
}

pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn generate_key(environment: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let random: String = (0..KEY_RANDOM_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("ag_{environment}_{random}")
}

pub fn validate_project_name(name: &str) -> Result<String, ToolError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ToolError::invalid(
            "name",
            "project name must be 1 to 100 characters",
        ));
    }
    Ok(name.to_owned())
}

pub fn validate_environment(environment: &str) -> Result<(), ToolError> {
    match environment {
        "live" | "test" => Ok(()),
        _ => Err(ToolError::invalid(
            "environment",
            "environment must be 'live' or 'test'",
        )),
    }
}

fn scopes_json(scopes: &[Scope]) -> String {
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    serde_json::Value::from(names).to_string()
}

fn new_key_row(
    project_id: &str,
    environment: &str,
    new: &NewApiKey,
    now: DateTime<Utc>,
) -> (ApiKeyRow, String) {
    let key = generate_key(environment);
    let row = ApiKeyRow {
        id: new_id("key"),
        project_id: project_id.to_owned(),
        name: new.name.clone(),
        prefix: key.chars().take(PREFIX_LEN).collect(),
        key_hash: hash_key(&key),
        scopes: scopes_json(&new.scopes),
        tools: new
            .tools
            .as_ref()
            .map(|t| serde_json::Value::from(t.clone()).to_string()),
        created_at: to_micros(now),
        last_used_at: None,
        revoked_at: None,
    };
    (row, key)
}

fn created(row: &ApiKeyRow, key: String) -> CreatedApiKey {
    CreatedApiKey {
        id: row.id.clone(),
        key,
        name: row.name.clone(),
        prefix: row.prefix.clone(),
        scopes: row.scopes(),
        tools: row.tools(),
        created_at: from_micros(row.created_at),
    }
}

/// Creates a project and its first admin key in one transaction.
pub async fn create_project(
    store: &Store,
    name: &str,
    environment: &str,
    now: DateTime<Utc>,
) -> Result<(Project, CreatedApiKey), ToolError> {
    let name = validate_project_name(name)?;
    validate_environment(environment)?;
    let project = ProjectRow {
        id: new_id("prj"),
        name,
        environment: environment.to_owned(),
        created_at: to_micros(now),
    };
    let admin = NewApiKey {
        name: Some("Admin key".into()),
        scopes: vec![Scope::Admin],
        tools: None,
    };
    let (key_row, key) = new_key_row(&project.id, environment, &admin, now);
    let mut conn = store.conn().await?;
    write_tx!(&mut conn, c => {
        diesel::insert_into(projects::table).values(&project).execute(c).await?;
        diesel::insert_into(api_keys::table).values(&key_row).execute(c).await?;
        Ok::<_, ToolError>(())
    })?;
    let created = created(&key_row, key);
    Ok((project.into(), created))
}

pub async fn get_project(store: &Store, project_id: &str) -> Result<Project, ToolError> {
    let mut conn = store.conn().await?;
    let row: Option<ProjectRow> = with_conn!(&mut conn, c => {
        projects::table
            .filter(projects::id.eq(project_id))
            .select(ProjectRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    row.map(Project::from)
        .ok_or_else(|| ToolError::not_found(format!("project {project_id} not found")))
}

pub async fn list_projects(store: &Store) -> Result<Vec<Project>, ToolError> {
    let mut conn = store.conn().await?;
    let rows: Vec<ProjectRow> = with_conn!(&mut conn, c => {
        projects::table
            .order(projects::id.asc())
            .select(ProjectRow::as_select())
            .load(c)
            .await?
    });
    Ok(rows.into_iter().map(Project::from).collect())
}

/// Creates a key for a project (the CLI's `key create`, and create_api_key).
pub async fn create_api_key(
    store: &Store,
    project_id: &str,
    new: NewApiKey,
    now: DateTime<Utc>,
) -> Result<CreatedApiKey, ToolError> {
    let project = get_project(store, project_id).await?;
    let (row, key) = new_key_row(&project.id, &project.environment, &new, now);
    let mut conn = store.conn().await?;
    with_conn!(&mut conn, c => {
        diesel::insert_into(api_keys::table).values(&row).execute(c).await?;
    });
    Ok(created(&row, key))
}

pub async fn list_api_keys(
    store: &Store,
    project_id: &str,
    page: &PageRequest,
    codec: &authgate_core::pagination::CursorCodec,
) -> Result<Page<ApiKeyInfo>, ToolError> {
    let mut conn = store.conn().await?;
    let rows: Vec<ApiKeyRow> = with_conn!(&mut conn, c => {
        let mut q = api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .select(ApiKeyRow::as_select())
            .order(api_keys::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = &page.after {
            q = q.filter(api_keys::id.gt(after.clone()));
        }
        q.load(c).await?
    });
    let infos = rows.iter().map(ApiKeyRow::info).collect();
    Ok(codec.page(page, project_id, infos, |k| k.id.clone()))
}

pub async fn get_api_key(
    store: &Store,
    project_id: &str,
    key_id: &str,
) -> Result<ApiKeyInfo, ToolError> {
    let mut conn = store.conn().await?;
    let row: Option<ApiKeyRow> = with_conn!(&mut conn, c => {
        api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::id.eq(key_id))
            .select(ApiKeyRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    row.map(|r| r.info()).ok_or_else(|| {
        ToolError::not_found(format!("API key {key_id} not found in this project"))
            .with_field("key_id")
            .with_hint("list_api_keys shows the keys of this project")
    })
}

/// Revokes one key. Revoking a revoked key is a conflict, so a typo'd retry
/// does not silently pass.
pub async fn revoke_api_key(
    store: &Store,
    project_id: &str,
    key_id: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<ApiKeyInfo, ToolError> {
    let key = get_api_key(store, project_id, key_id).await?;
    if let Some(at) = key.revoked_at {
        return Err(ToolError::conflict(format!(
            "API key {key_id} was already revoked at {}",
            at.to_rfc3339()
        ))
        .with_field("key_id"));
    }
    if dry_run {
        return Ok(key);
    }
    let at = to_micros(now);
    let mut conn = store.conn().await?;
    let changed = with_conn!(&mut conn, c => {
        diesel::update(
            api_keys::table
                .filter(api_keys::project_id.eq(project_id))
                .filter(api_keys::id.eq(key_id))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(Some(at)))
        .execute(c)
        .await?
    });
    if changed == 0 {
        return Err(ToolError::conflict(format!(
            "API key {key_id} was revoked meanwhile"
        )));
    }
    Ok(ApiKeyInfo {
        revoked_at: Some(from_micros(at)),
        ..key
    })
}

/// The keys that regenerate would revoke: every active key of the project.
pub async fn active_keys(store: &Store, project_id: &str) -> Result<Vec<ApiKeyInfo>, ToolError> {
    let mut conn = store.conn().await?;
    let rows: Vec<ApiKeyRow> = with_conn!(&mut conn, c => {
        api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::revoked_at.is_null())
            .order(api_keys::id.asc())
            .select(ApiKeyRow::as_select())
            .load(c)
            .await?
    });
    Ok(rows.iter().map(ApiKeyRow::info).collect())
}

/// Revokes every active key of the project and makes one new admin key, in
/// one transaction. Returns the revoked keys and the new key.
pub async fn regenerate_api_keys(
    store: &Store,
    project_id: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<String>, CreatedApiKey), ToolError> {
    let project = get_project(store, project_id).await?;
    let admin = NewApiKey {
        name: Some("Admin key (regenerated)".into()),
        scopes: vec![Scope::Admin],
        tools: None,
    };
    let (row, key) = new_key_row(&project.id, &project.environment, &admin, now);
    let at = to_micros(now);
    let mut conn = store.conn().await?;
    let revoked: Vec<String> = write_tx!(&mut conn, c => {
        c.lock_project(project_id).await?;
        let ids: Vec<String> = api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::revoked_at.is_null())
            .select(api_keys::id)
            .order(api_keys::id.asc())
            .load(c)
            .await?;
        diesel::update(
            api_keys::table
                .filter(api_keys::project_id.eq(project_id))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(Some(at)))
        .execute(c)
        .await?;
        diesel::insert_into(api_keys::table).values(&row).execute(c).await?;
        Ok::<_, ToolError>(ids)
    })?;
    Ok((revoked, created(&row, key)))
}

/// Why a presented key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Unknown,
    Revoked { key_id: String, project_id: String },
}

impl AuthFailure {
    /// A reason safe to show the caller.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthFailure::Missing => {
                "missing API key; send Authorization: Bearer ag_live_... (or ag_test_...)"
            }
            AuthFailure::Malformed => {
                "malformed API key; AuthGate keys start with ag_live_ or ag_test_"
            }
            AuthFailure::Unknown => "unknown API key",
            AuthFailure::Revoked { .. } => "this API key has been revoked",
        }
    }
}

fn well_formed(key: &str) -> bool {
    let random = key
        .strip_prefix("ag_live_")
        .or_else(|| key.strip_prefix("ag_test_"));
    random
        .is_some_and(|r| r.len() == KEY_RANDOM_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Resolves a presented key to its caller. Looks the key up by hash, then
/// compares the hashes in constant time.
pub async fn authenticate(
    store: &Store,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Result<Caller, AuthFailure>, ToolError> {
    if !well_formed(presented) {
        return Ok(Err(AuthFailure::Malformed));
    }
    let hash = hash_key(presented);
    let mut conn = store.conn().await?;
    let found: Option<(ApiKeyRow, String)> = with_conn!(&mut conn, c => {
        api_keys::table
            .inner_join(projects::table)
            .filter(api_keys::key_hash.eq(&hash))
            .select((ApiKeyRow::as_select(), projects::environment))
            .first(c)
            .await
            .optional()?
    });
    let Some((row, environment)) = found else {
        return Ok(Err(AuthFailure::Unknown));
    };
    if !bool::from(row.key_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(Err(AuthFailure::Unknown));
    }
    if row.revoked_at.is_some() {
        return Ok(Err(AuthFailure::Revoked {
            key_id: row.id,
            project_id: row.project_id,
        }));
    }
    let now_micros = to_micros(now);
    if row
        .last_used_at
        .is_none_or(|t| now_micros - t >= LAST_USED_RESOLUTION_MICROS)
    {
        with_conn!(&mut conn, c => {
            diesel::update(api_keys::table.filter(api_keys::id.eq(&row.id)))
                .set(api_keys::last_used_at.eq(Some(now_micros)))
                .execute(c)
                .await?;
        });
    }
    Ok(Ok(Caller {
        scopes: row.scopes(),
        tools: row.tools(),
        key_id: row.id,
        key_name: row.name,
        key_prefix: row.prefix,
        project_id: row.project_id,
        environment,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_well_formed_and_hashed() {
        let key = generate_key("live");
        assert!(key.starts_with("ag_live_"));
        assert!(well_formed(&key));
        assert!(!well_formed("ag_live_short"));
        assert!(!well_formed(&key.replace("ag_live_", "ag_prod_")));
        let hash = hash_key(&key);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&key[8..]));
        assert_ne!(generate_key("live"), key);
    }
}
