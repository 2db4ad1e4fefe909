//! API keys. A key is `ag_live_` or `ag_test_` and 40
//! random base62 characters (~238 bits); only its SHA-256 is stored, and
//! the full key is shown once, when it is made.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::Rng as _;
use schemars::JsonSchema;
use serde::Serialize;
use subtle::ConstantTimeEq as _;

use authgate_core::hash::{hex, sha256};
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Caller, Catalog, ErrorCode, Page, PageRequest, Scope, ToolError, new_id};
use authgate_store::JsonText;
use authgate_store::schema::{api_keys, projects};

use crate::projects::{ProjectRow, get_project};
use authgate_store::{Conn, Store, with_conn};

/// Characters of the random part of a key.
const KEY_RANDOM_LEN: usize = 40;
/// Characters of a key shown in listings (`ag_live_` and four more).
pub const PREFIX_LEN: usize = 12;

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
    /// `key` for a key made by a tool or the CLI; `oauth` for a grant an
    /// MCP client got through the OAuth consent.
    pub kind: KeyKind,
    /// The OAuth client's name, for a grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

/// What made a key: a tool or the CLI (`key`), or an OAuth consent
/// (`oauth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    Key,
    Oauth,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Key => "key",
            KeyKind::Oauth => "oauth",
        }
    }
}

/// A key just made: `key` is shown this once and stored only as a hash.
#[derive(Clone, Serialize, JsonSchema)]
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

impl std::fmt::Debug for CreatedApiKey {
    // The key itself never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub(crate) struct ApiKeyRow {
    id: String,
    project_id: String,
    name: Option<String>,
    prefix: String,
    key_hash: String,
    /// Scope names; an unknown name grants nothing.
    scopes: JsonText<Vec<String>>,
    tools: Option<JsonText<Vec<String>>>,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    kind: String,
    client_id: Option<String>,
    client_name: Option<String>,
}

impl ApiKeyRow {
    fn kind(&self) -> KeyKind {
        if self.kind == "oauth" {
            KeyKind::Oauth
        } else {
            KeyKind::Key
        }
    }

    fn scopes(&self) -> Vec<Scope> {
        self.scopes
            .0
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect()
    }

    /// The allow-list. One that cannot be read is an error when the row is
    /// loaded, so a damaged row never widens a key to every tool.
    fn tools(&self) -> Option<Vec<String>> {
        self.tools.as_ref().map(|t| t.0.clone())
    }

    pub(crate) fn created(&self, key: String) -> CreatedApiKey {
        CreatedApiKey {
            id: self.id.clone(),
            key,
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            scopes: self.scopes(),
            tools: self.tools(),
            created_at: from_micros(self.created_at),
        }
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
            kind: self.kind(),
            client_name: self.client_name.clone(),
        }
    }

    /// The caller of a key that is not revoked.
    fn live_caller(self, project: ProjectRow) -> Result<Caller, AuthFailure> {
        if self.revoked_at.is_some() {
            return Err(AuthFailure::Revoked {
                key_id: self.id,
                project_id: self.project_id,
            });
        }
        Ok(self.caller(project))
    }

    fn caller(self, project: ProjectRow) -> Caller {
        Caller {
            scopes: self.scopes(),
            tools: self.tools(),
            client_name: (self.kind() == KeyKind::Oauth)
                .then(|| self.client_name.clone().unwrap_or_default()),
            key_id: self.id,
            key_name: self.name,
            key_prefix: self.prefix,
            project: project.into(),
            connection: Default::default(),
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

/// The SHA-256 of a key: how it is stored and looked up.
pub fn key_digest(key: &str) -> [u8; 32] {
    sha256(key.as_bytes())
}

fn hash_key(key: &str) -> String {
    hex(&key_digest(key))
}

/// The notification topic of key revocations: gateways drop the revoked
/// keys from their caches when they hear it.
pub const KEY_EVENTS: &str = "api_keys";

/// What a [`KEY_EVENTS`] notification revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEvent {
    /// One key.
    Key(String),
    /// Every key of a project.
    Project(String),
}

impl KeyEvent {
    fn payload(&self) -> String {
        match self {
            KeyEvent::Key(id) => format!("key:{id}"),
            KeyEvent::Project(id) => format!("project:{id}"),
        }
    }

    pub fn parse(payload: &str) -> Option<KeyEvent> {
        match payload.split_once(':')? {
            ("key", id) => Some(KeyEvent::Key(id.to_owned())),
            ("project", id) => Some(KeyEvent::Project(id.to_owned())),
            _ => None,
        }
    }
}

fn generate_key(environment: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let random: String = (0..KEY_RANDOM_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("ag_{environment}_{random}")
}

fn scope_names(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(|s| s.as_str().to_owned()).collect()
}

pub(crate) fn new_key_row(
    project_id: &str, environment: &str, new: &NewApiKey, now: DateTime<Utc>,
) -> (ApiKeyRow, String) {
    let key = generate_key(environment);
    let row = ApiKeyRow {
        id: new_id("key"),
        project_id: project_id.to_owned(),
        name: new.name.clone(),
        prefix: key.chars().take(PREFIX_LEN).collect(),
        key_hash: hash_key(&key),
        scopes: JsonText(scope_names(&new.scopes)),
        tools: new.tools.clone().map(JsonText),
        created_at: to_micros(now),
        last_used_at: None,
        revoked_at: None,
        kind: KeyKind::Key.as_str().to_owned(),
        client_id: None,
        client_name: None,
    };
    (row, key)
}

/// Who asks for a new key.
#[derive(Clone, Copy)]
pub enum Issuer<'a> {
    /// The server's operator, through the CLI: any scope and allow-list.
    Operator,
    /// An API key, through create_api_key: no more than it holds.
    Key(&'a Caller),
}

/// A key's settings: how many active keys a project may hold
/// (`AUTHGATE_MAX_ACTIVE_KEYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySettings {
    pub max_active_keys: u32,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            max_active_keys: 100,
        }
    }
}

/// What a caller asked for, before validation.
#[derive(Debug, Clone, Default)]
pub struct KeyRequest {
    pub name: Option<String>,
    pub scopes: Option<Vec<Scope>>,
    pub tools: Option<Vec<String>>,
}

/// Validates a request for a new key. A key hands on no more than it
/// holds: scopes no wider than its own, and, when it has an allow-list,
/// an allow-list inside it.
pub fn validate_new_key(
    issuer: Issuer<'_>, catalog: &Catalog, request: KeyRequest,
) -> Result<NewApiKey, ToolError> {
    Ok(NewApiKey {
        name: key_name(request.name)?,
        scopes: key_scopes(issuer, request.scopes)?,
        tools: key_tools(issuer, catalog, request.tools)?,
    })
}

fn key_name(name: Option<String>) -> Result<Option<String>, ToolError> {
    let Some(n) = name else { return Ok(None) };
    let n = n.trim().to_owned();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            "name",
            "name must be 1 to 100 printable characters",
        ));
    }
    Ok(Some(n))
}

fn key_scopes(issuer: Issuer<'_>, scopes: Option<Vec<Scope>>) -> Result<Vec<Scope>, ToolError> {
    let mut scopes = scopes.unwrap_or_else(|| vec![Scope::Read]);
    if scopes.is_empty() {
        return Err(ToolError::invalid("scopes", "scopes must not be empty")
            .with_hint("pass [\"read\"], [\"write\"] or [\"admin\"]"));
    }
    scopes.sort();
    scopes.dedup();
    let wanted = scopes.iter().copied().max().unwrap_or(Scope::Read);
    if let Issuer::Key(caller) = issuer
        && caller.max_scope().is_none_or(|have| have < wanted)
    {
        return Err(ToolError::permission_denied(format!(
            "this key cannot create a key with the '{}' scope, which is wider than its own",
            wanted.as_str()
        ))
        .with_field("scopes")
        .with_hint("ask for a key with fewer scopes, or call with an admin key"));
    }
    Ok(scopes)
}

fn key_tools(
    issuer: Issuer<'_>, catalog: &Catalog, tools: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, ToolError> {
    let Some(list) = tools else {
        if let Issuer::Key(caller) = issuer
            && caller.tools.is_some()
        {
            return Err(ToolError::permission_denied(
                "this key has a tool allow-list, so the new key needs one too, within it",
            )
            .with_field("tools")
            .with_hint("pass tools: the tools or groups the new key may call"));
        }
        return Ok(None);
    };
    if list.is_empty() {
        return Err(ToolError::invalid(
            "tools",
            "tools must name at least one tool or group; omit it to allow every tool",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, entry) in list.into_iter().enumerate() {
        key_tool_entry(issuer, catalog, i, &entry)?;
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    Ok(Some(out))
}

fn key_tool_entry(
    issuer: Issuer<'_>, catalog: &Catalog, i: usize, entry: &str,
) -> Result<(), ToolError> {
    if !catalog.knows(entry) {
        let groups: Vec<String> = catalog
            .groups()
            .iter()
            .map(|g| format!("group:{g}"))
            .collect();
        return Err(
            ToolError::invalid(format!("tools[{i}]"), "not a tool name or tool group").with_hint(
                format!(
                    "use tool names from tools/list or one of {}",
                    groups.join(", ")
                ),
            ),
        );
    }
    if let Issuer::Key(caller) = issuer
        && !caller.covers_entry(catalog, entry)
    {
        return Err(ToolError::permission_denied(format!(
            "this key's allow-list does not cover {entry}"
        ))
        .with_field(format!("tools[{i}]")));
    }
    Ok(())
}

pub async fn count_active_api_keys(
    conn: &mut Conn<'_>, project_id: &str,
) -> Result<i64, ToolError> {
    Ok(with_conn!(conn, c => {
        api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::revoked_at.is_null())
            .count()
            .get_result(c)
            .await?
    }))
}

/// Refuses a new key when the project holds `max_active_keys` already
/// (call under the project's lock).
async fn ensure_room(
    conn: &mut Conn<'_>, project_id: &str, settings: KeySettings,
) -> Result<(), ToolError> {
    let active = count_active_api_keys(conn, project_id).await?;
    if active >= i64::from(settings.max_active_keys) {
        return Err(ToolError::new(
            ErrorCode::LimitExceeded,
            format!(
                "this project has {active} active API keys, the most allowed ({})",
                settings.max_active_keys
            ),
        )
        .with_hint("revoke keys that are no longer used (list_api_keys, revoke_api_key)"));
    }
    Ok(())
}

/// Creates a key for a project (the CLI's `key create`, and
/// create_api_key), after [`validate_new_key`]. The count of active keys
/// and the insert run under the project's lock, so concurrent creations
/// cannot pass `max_active_keys`.
pub async fn create_api_key(
    conn: &mut Conn<'_>, project_id: &str, new: NewApiKey, settings: KeySettings,
    now: DateTime<Utc>,
) -> Result<CreatedApiKey, ToolError> {
    conn.lock_project(project_id).await?;
    let project = get_project(conn, project_id).await?;
    ensure_room(conn, project_id, settings).await?;
    let (row, key) = new_key_row(&project.id, &project.environment, &new, now);
    with_conn!(conn, c => {
        diesel::insert_into(api_keys::table).values(&row).execute(c).await?;
    });
    Ok(row.created(key))
}

pub async fn list_api_keys(
    conn: &mut Conn<'_>, project_id: &str, page: &PageRequest,
) -> Result<Page<ApiKeyInfo>, ToolError> {
    let rows: Vec<ApiKeyRow> = with_conn!(conn, c => {
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
    Ok(page.page(infos, |k: &ApiKeyInfo| k.id.clone()))
}

pub async fn get_api_key(
    conn: &mut Conn<'_>, project_id: &str, key_id: &str,
) -> Result<ApiKeyInfo, ToolError> {
    let row: Option<ApiKeyRow> = with_conn!(conn, c => {
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

/// Revokes one key (or, on a dry run, shows it). Revoking a revoked key is
/// a conflict, so a typo'd retry does not silently pass.
pub async fn revoke_api_key(
    conn: &mut Conn<'_>, project_id: &str, key_id: &str, dry_run: bool, now: DateTime<Utc>,
) -> Result<ApiKeyInfo, ToolError> {
    let key = get_api_key(conn, project_id, key_id).await?;
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
    let changed = with_conn!(conn, c => {
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
    conn.notify(KEY_EVENTS, &KeyEvent::Key(key_id.to_owned()).payload())
        .await?;
    Ok(ApiKeyInfo {
        revoked_at: Some(from_micros(at)),
        ..key
    })
}

/// Every active key of the project.
pub async fn active_api_keys(
    conn: &mut Conn<'_>, project_id: &str,
) -> Result<Vec<ApiKeyInfo>, ToolError> {
    let rows: Vec<ApiKeyRow> = with_conn!(conn, c => {
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

/// Revokes every active key of the project and makes one new admin key.
/// Returns the keys revoked (or, on a dry run, that would be) and the new
/// key (none on a dry run).
pub async fn regenerate_api_keys(
    conn: &mut Conn<'_>, project_id: &str, dry_run: bool, now: DateTime<Utc>,
) -> Result<(Vec<String>, Option<CreatedApiKey>), ToolError> {
    conn.lock_project(project_id).await?;
    let ids: Vec<String> = active_api_keys(conn, project_id)
        .await?
        .into_iter()
        .map(|k| k.id)
        .collect();
    if dry_run {
        return Ok((ids, None));
    }
    let project = get_project(conn, project_id).await?;
    let admin = NewApiKey {
        name: Some("Admin key (regenerated)".into()),
        scopes: vec![Scope::Admin],
        tools: None,
    };
    let (row, key) = new_key_row(&project.id, &project.environment, &admin, now);
    let at = to_micros(now);
    with_conn!(conn, c => {
        diesel::update(
            api_keys::table
                .filter(api_keys::project_id.eq(project_id))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(Some(at)))
        .execute(c)
        .await?;
        diesel::insert_into(api_keys::table).values(&row).execute(c).await?;
    });
    conn.notify(
        KEY_EVENTS,
        &KeyEvent::Project(project_id.to_owned()).payload(),
    )
    .await?;
    Ok((ids, Some(row.created(key))))
}

/// Records when keys were last used, in one statement per key. The gateway
/// batches uses and calls this off the request path.
pub async fn record_last_used(
    conn: &mut Conn<'_>, uses: &[(String, String, i64)],
) -> Result<(), ToolError> {
    for (project_id, key_id, at) in uses {
        with_conn!(conn, c => {
            diesel::update(
                api_keys::table
                    .filter(api_keys::project_id.eq(project_id))
                    .filter(api_keys::id.eq(key_id))
                    .filter(api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(*at))),
            )
            .set(api_keys::last_used_at.eq(Some(*at)))
            .execute(c)
            .await?;
        });
    }
    Ok(())
}

/// Records key uses gathered off the request path, in one unit of work.
pub async fn flush_key_uses(
    store: &Store, uses: &[(String, String, i64)],
) -> Result<(), ToolError> {
    store
        .write(async |conn| record_last_used(conn, uses).await)
        .await
}

/// Resolves a presented key on a connection of its own, without a
/// transaction (one indexed read).
pub async fn authenticate_key_in(
    store: &Store, presented: &str,
) -> Result<Result<Caller, AuthFailure>, ToolError> {
    store
        .autocommit(async |conn| authenticate_key(conn, presented).await)
        .await
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

/// Whether `key` has the shape of an AuthGate key (checked before any
/// lookup).
pub fn key_well_formed(key: &str) -> bool {
    let random = key
        .strip_prefix("ag_live_")
        .or_else(|| key.strip_prefix("ag_test_"));
    random
        .is_some_and(|r| r.len() == KEY_RANDOM_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Resolves a presented key to its caller: one indexed lookup by hash,
/// then a constant-time comparison. Writes nothing (the gateway records
/// `last_used_at` in the background).
pub async fn authenticate_key(
    conn: &mut Conn<'_>, presented: &str,
) -> Result<Result<Caller, AuthFailure>, ToolError> {
    if !key_well_formed(presented) {
        return Ok(Err(AuthFailure::Malformed));
    }
    let hash = hash_key(presented);
    let found: Option<(ApiKeyRow, ProjectRow)> = with_conn!(conn, c => {
        api_keys::table
            .inner_join(projects::table)
            .filter(api_keys::key_hash.eq(&hash))
            .select((ApiKeyRow::as_select(), ProjectRow::as_select()))
            .first(c)
            .await
            .optional()?
    });
    let Some((row, project)) = found else {
        return Ok(Err(AuthFailure::Unknown));
    };
    if !bool::from(row.key_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(Err(AuthFailure::Unknown));
    }
    Ok(row.live_caller(project))
}

/// The caller of a key found by its id (an OAuth grant behind an access
/// token, the key behind an admin browser session): revoked is refused.
pub async fn caller_of_key(
    conn: &mut Conn<'_>, project_id: &str, key_id: &str,
) -> Result<Result<Caller, AuthFailure>, ToolError> {
    let found: Option<(ApiKeyRow, ProjectRow)> = with_conn!(conn, c => {
        api_keys::table
            .inner_join(projects::table)
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::id.eq(key_id))
            .select((ApiKeyRow::as_select(), ProjectRow::as_select()))
            .first(c)
            .await
            .optional()?
    });
    let Some((row, project)) = found else {
        return Ok(Err(AuthFailure::Unknown));
    };
    Ok(row.live_caller(project))
}

/// An OAuth client's grant in a project, as a consent makes it.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub client_id: String,
    pub client_name: String,
    pub key: NewApiKey,
}

/// Makes an OAuth grant: a key of kind `oauth` that no bearer string
/// matches (its hash is of random bytes nobody sees), used through the
/// access tokens that point at it. The client's earlier grants in the
/// project are revoked first (a re-consent replaces), then the cap applies
/// as to any key. Returns the grant's id and the ids it replaced.
pub async fn create_grant(
    conn: &mut Conn<'_>, project_id: &str, grant: NewGrant, settings: KeySettings,
    now: DateTime<Utc>,
) -> Result<(String, Vec<String>), ToolError> {
    conn.lock_project(project_id).await?;
    let replaced: Vec<String> = with_conn!(conn, c => {
        api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::client_id.eq(&grant.client_id))
            .filter(api_keys::revoked_at.is_null())
            .select(api_keys::id)
            .load(c)
            .await?
    });
    let at = to_micros(now);
    if !replaced.is_empty() {
        with_conn!(conn, c => {
            diesel::update(
                api_keys::table
                    .filter(api_keys::project_id.eq(project_id))
                    .filter(api_keys::id.eq_any(&replaced)),
            )
            .set(api_keys::revoked_at.eq(Some(at)))
            .execute(c)
            .await?;
        });
        for id in &replaced {
            conn.notify(KEY_EVENTS, &KeyEvent::Key(id.clone()).payload())
                .await?;
        }
    }
    let project = get_project(conn, project_id).await?;
    ensure_room(conn, project_id, settings).await?;
    let (mut row, _unseen) = new_key_row(&project.id, &project.environment, &grant.key, now);
    row.prefix = "oauth".to_owned();
    row.kind = KeyKind::Oauth.as_str().to_owned();
    row.client_id = Some(grant.client_id);
    row.client_name = Some(grant.client_name);
    with_conn!(conn, c => {
        diesel::insert_into(api_keys::table).values(&row).execute(c).await?;
    });
    Ok((row.id, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_well_formed_and_hashed() {
        let key = generate_key("live");
        assert!(key.starts_with("ag_live_"));
        assert!(key_well_formed(&key));
        assert!(!key_well_formed("ag_live_short"));
        assert!(!key_well_formed(&key.replace("ag_live_", "ag_prod_")));
        let hash = hash_key(&key);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&key[8..]));
        assert_ne!(generate_key("live"), key);
    }
}
