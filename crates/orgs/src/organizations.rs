//! The organization entity: a name, a slug unique in the project, an
//! optional member limit and metadata the developer keeps on it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization as _;

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, Page, PageRequest, ToolError, insert_new, new_id, with_conn};
use authgate_store::JsonText;
use authgate_store::schema::{memberships, organizations};

const MAX_NAME: usize = 100;
const MIN_SLUG: usize = 2;
const MAX_SLUG: usize = 48;
const MAX_METADATA: usize = 8 * 1024;
const MAX_MEMBER_LIMIT: i64 = 1_000_000;

/// An organization as tools show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Org {
    pub id: String,
    pub name: String,
    /// Unique in the project: lowercase a-z, 0-9 and -, 2 to 48 characters.
    pub slug: String,
    pub image_url: Option<String>,
    /// At most this many members (none: no limit).
    pub member_limit: Option<i64>,
    /// Free-form JSON object the developer keeps on the organization.
    pub metadata: serde_json::Map<String, Value>,
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = organizations)]
pub(crate) struct OrgRow {
    pub(crate) id: String,
    project_id: String,
    pub(crate) name: String,
    slug: String,
    image_url: Option<String>,
    pub(crate) member_limit: Option<i64>,
    metadata: JsonText<serde_json::Map<String, Value>>,
    created_at: i64,
    updated_at: i64,
}

impl OrgRow {
    pub(crate) fn view(self, member_count: i64) -> Org {
        Org {
            metadata: self.metadata.0,
            id: self.id,
            name: self.name,
            slug: self.slug,
            image_url: self.image_url,
            member_limit: self.member_limit,
            member_count,
            created_at: from_micros(self.created_at),
            updated_at: from_micros(self.updated_at),
        }
    }
}

// ------------------------------------------------------------ validation

fn validate_name(name: &str) -> Result<String, ToolError> {
    Ok(authgate_core::text::display_name("name", name, MAX_NAME)?
        .nfc()
        .collect())
}

fn slug_ok(slug: &str) -> bool {
    (MIN_SLUG..=MAX_SLUG).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

pub fn validate_slug(slug: &str) -> Result<(), ToolError> {
    if slug_ok(slug) {
        return Ok(());
    }
    Err(ToolError::invalid(
        "slug",
        format!(
            "slug must be {MIN_SLUG} to {MAX_SLUG} characters of a-z, 0-9 and -, not starting or ending with - (e.g. acme-corp)"
        ),
    ))
}

/// The slug a name gives: accents dropped, lowercase, runs of anything
/// else as one `-`, cut to 48. `None` when too little is left.
pub fn slug_from_name(name: &str) -> Option<String> {
    let mut out = String::new();
    for ch in name.nfkd() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !ch.is_ascii() && unicode_normalization::char::is_combining_mark(ch) {
            continue;
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut slug = out.trim_matches('-').to_owned();
    slug.truncate(MAX_SLUG);
    let slug = slug.trim_end_matches('-').to_owned();
    slug_ok(&slug).then_some(slug)
}

fn validate_image_url(url: &str) -> Result<String, ToolError> {
    let bad = || {
        ToolError::invalid(
            "image_url",
            "image_url must be an absolute https URL (http only to loopback)",
        )
    };
    let parsed = url::Url::parse(url.trim()).map_err(|_| bad())?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad()),
    }
    if url.len() > 2048 {
        return Err(ToolError::invalid(
            "image_url",
            "image_url must be at most 2048 characters",
        ));
    }
    Ok(parsed.to_string())
}

fn validate_member_limit(limit: i64) -> Result<(), ToolError> {
    if (1..=MAX_MEMBER_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(ToolError::invalid(
            "member_limit",
            format!("member_limit must be between 1 and {MAX_MEMBER_LIMIT}"),
        ))
    }
}

fn validate_metadata(
    metadata: &Value,
) -> Result<JsonText<serde_json::Map<String, Value>>, ToolError> {
    let Value::Object(map) = metadata else {
        return Err(ToolError::invalid(
            "metadata",
            "metadata must be a JSON object",
        ));
    };
    if metadata.to_string().len() > MAX_METADATA {
        return Err(ToolError::invalid(
            "metadata",
            format!("metadata must be at most {MAX_METADATA} bytes of JSON"),
        ));
    }
    Ok(JsonText(map.clone()))
}

pub(crate) fn not_found(org: &str) -> ToolError {
    ToolError::not_found(format!("organization {org} not found in this project"))
        .with_field("org_id")
        .with_hint("list_orgs shows the project's organizations (by id or slug)")
}

fn slug_taken(slug: &str) -> ToolError {
    ToolError::conflict(format!("the slug '{slug}' is already used in this project"))
        .with_field("slug")
        .with_hint("choose another slug")
}

// ------------------------------------------------------------ reads

/// An organization by id (`org_...`) or slug.
pub(crate) async fn resolve(
    conn: &mut Conn<'_>, project_id: &str, org: &str,
) -> Result<OrgRow, ToolError> {
    let org = org.trim();
    if org.is_empty() {
        return Err(ToolError::invalid(
            "org_id",
            "org_id is required: an organization id (org_...) or slug",
        ));
    }
    let by_id = org.starts_with("org_");
    let row: Option<OrgRow> = with_conn!(conn, c => {
        let q = organizations::table
            .filter(organizations::project_id.eq(project_id))
            .select(OrgRow::as_select())
            .into_boxed();
        let q = if by_id { q.filter(organizations::id.eq(org)) } else { q.filter(organizations::slug.eq(org)) };
        q.first(c).await.optional()?
    });
    row.ok_or_else(|| not_found(org))
}

pub(crate) async fn member_count(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str,
) -> Result<i64, ToolError> {
    Ok(with_conn!(conn, c => {
        memberships::table
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::org_id.eq(org_id))
            .count()
            .get_result(c)
            .await?
    }))
}

pub async fn get_org(conn: &mut Conn<'_>, project_id: &str, org: &str) -> Result<Org, ToolError> {
    let row = resolve(conn, project_id, org).await?;
    let n = member_count(conn, project_id, &row.id).await?;
    Ok(row.view(n))
}

/// Organizations oldest first; `query` matches names and slugs
/// (case-insensitive).
pub async fn list_orgs(
    conn: &mut Conn<'_>, project_id: &str, query: Option<&str>, page: &PageRequest,
) -> Result<Page<Org>, ToolError> {
    let pattern = query.map(|q| authgate_core::text::like_contains(&q.trim().to_lowercase()));
    let rows: Vec<OrgRow> = with_conn!(conn, c => {
        let mut q = organizations::table
            .filter(organizations::project_id.eq(project_id))
            .select(OrgRow::as_select())
            .order(organizations::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(p) = &pattern {
            q = q.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("(lower(organizations.name) LIKE ")
                    .bind::<diesel::sql_types::Text, _>(p.clone())
                    .sql(" ESCAPE '\\' OR organizations.slug LIKE ")
                    .bind::<diesel::sql_types::Text, _>(p.clone())
                    .sql(" ESCAPE '\\')"),
            );
        }
        if let Some(after) = &page.after {
            q = q.filter(organizations::id.gt(after.clone()));
        }
        q.load(c).await?
    });
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let counts: Vec<(String, i64)> = with_conn!(conn, c => {
        memberships::table
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::org_id.eq_any(&ids))
            .group_by(memberships::org_id)
            .select((memberships::org_id, diesel::dsl::count_star()))
            .load(c)
            .await?
    });
    let counts: std::collections::HashMap<String, i64> = counts.into_iter().collect();
    let items = rows
        .into_iter()
        .map(|r| {
            let n = counts.get(&r.id).copied().unwrap_or(0);
            r.view(n)
        })
        .collect();
    Ok(page.page(items, |o: &Org| o.id.clone()))
}

/// The newest organizations (id, name, slug), for the project status.
pub async fn newest_orgs(
    conn: &mut Conn<'_>, project_id: &str, limit: i64,
) -> Result<Vec<(String, String, String)>, ToolError> {
    Ok(with_conn!(conn, c => {
        organizations::table
            .filter(organizations::project_id.eq(project_id))
            .select((organizations::id, organizations::name, organizations::slug))
            .order(organizations::id.desc())
            .limit(limit)
            .load(c)
            .await?
    }))
}

// ------------------------------------------------------------ writes

async fn slug_free(conn: &mut Conn<'_>, project_id: &str, slug: &str) -> Result<bool, ToolError> {
    let n: i64 = with_conn!(conn, c => {
        organizations::table
            .filter(organizations::project_id.eq(project_id))
            .filter(organizations::slug.eq(slug))
            .count()
            .get_result(c)
            .await?
    });
    Ok(n == 0)
}

/// What a new organization is made of.
pub struct NewOrg<'a> {
    pub name: &'a str,
    pub slug: Option<&'a str>,
    pub member_limit: Option<i64>,
    pub metadata: Option<&'a Value>,
}

/// Inserts an organization (flows::create_org publishes it).
pub(crate) async fn create_org_row(
    conn: &mut Conn<'_>, project_id: &str, new: NewOrg<'_>, now: DateTime<Utc>,
) -> Result<Org, ToolError> {
    let name = validate_name(new.name)?;
    if let Some(slug) = new.slug {
        validate_slug(slug)?;
    }
    if let Some(limit) = new.member_limit {
        validate_member_limit(limit)?;
    }
    let metadata = new
        .metadata
        .map(validate_metadata)
        .transpose()?
        .unwrap_or_default();
    let slug = match new.slug {
        Some(s) => s.to_owned(),
        None => {
            // A derived slug that is taken gets a number: acme, acme-2, ...
            let base = slug_from_name(&name).unwrap_or_else(|| "org".into());
            conn.lock_project(project_id).await?;
            let mut candidate = base.clone();
            let mut n = 2;
            while !slug_free(conn, project_id, &candidate).await? {
                let suffix = format!("-{n}");
                let mut stem = base.clone();
                stem.truncate(MAX_SLUG - suffix.len());
                candidate = format!("{}{suffix}", stem.trim_end_matches('-'));
                n += 1;
            }
            candidate
        }
    };
    let at = to_micros(now);
    let row = OrgRow {
        id: new_id("org"),
        project_id: project_id.to_owned(),
        name,
        slug: slug.clone(),
        image_url: None,
        member_limit: new.member_limit,
        metadata,
        created_at: at,
        updated_at: at,
    };
    if !insert_new!(conn, organizations::table, &row) {
        return Err(slug_taken(&slug));
    }
    Ok(row.view(0))
}

/// A partial update; `None` leaves a field as it is.
#[derive(Default)]
pub struct OrgChange<'a> {
    pub name: Option<&'a str>,
    pub slug: Option<&'a str>,
    pub image_url: Option<&'a str>,
    pub member_limit: Option<i64>,
    pub metadata: Option<&'a Value>,
}

/// Changes an organization's row (flows::update_org publishes it).
pub(crate) async fn update_org_row(
    conn: &mut Conn<'_>, project_id: &str, org: &str, change: OrgChange<'_>, now: DateTime<Utc>,
) -> Result<Org, ToolError> {
    let name = change.name.map(validate_name).transpose()?;
    if let Some(slug) = change.slug {
        validate_slug(slug)?;
    }
    let image_url = change.image_url.map(validate_image_url).transpose()?;
    if let Some(limit) = change.member_limit {
        validate_member_limit(limit)?;
    }
    let metadata = change.metadata.map(validate_metadata).transpose()?;
    // The member count and the new limit are compared under the lock that
    // adding members takes.
    conn.lock_project(project_id).await?;
    let mut row = resolve(conn, project_id, org).await?;
    let members = member_count(conn, project_id, &row.id).await?;
    if let Some(limit) = change.member_limit
        && limit < members
    {
        return Err(ToolError::conflict(format!(
            "the organization has {members} members, more than a member_limit of {limit}"
        ))
        .with_field("member_limit")
        .with_hint("remove members first, or set a limit of at least the current count"));
    }
    if let Some(slug) = change.slug
        && slug != row.slug
    {
        if !slug_free(conn, project_id, slug).await? {
            return Err(slug_taken(slug));
        }
        row.slug = slug.to_owned();
    }
    if let Some(n) = name {
        row.name = n;
    }
    if let Some(u) = image_url {
        row.image_url = Some(u);
    }
    if let Some(l) = change.member_limit {
        row.member_limit = Some(l);
    }
    if let Some(m) = metadata {
        row.metadata = m;
    }
    row.updated_at = to_micros(now);
    with_conn!(conn, c => {
        diesel::update(
            organizations::table
                .filter(organizations::project_id.eq(project_id))
                .filter(organizations::id.eq(&row.id)),
        )
        .set((
            organizations::name.eq(&row.name),
            organizations::slug.eq(&row.slug),
            organizations::image_url.eq(&row.image_url),
            organizations::member_limit.eq(row.member_limit),
            organizations::metadata.eq(&row.metadata),
            organizations::updated_at.eq(row.updated_at),
        ))
        .execute(c)
        .await?;
    });
    Ok(row.view(members))
}

/// Deletes an organization; its memberships and invitations go with it
/// (the foreign keys cascade).
pub(crate) async fn delete_org_row(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::delete(
            organizations::table
                .filter(organizations::project_id.eq(project_id))
                .filter(organizations::id.eq(org_id)),
        )
        .execute(c)
        .await?;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_names() {
        assert_eq!(slug_from_name("Acme Corp").as_deref(), Some("acme-corp"));
        assert_eq!(
            slug_from_name("  Ünïcødé  Ltd. ").as_deref(),
            Some("unic-de-ltd")
        );
        assert_eq!(
            slug_from_name("Crème Brûlée & Co").as_deref(),
            Some("creme-brulee-co")
        );
        assert_eq!(slug_from_name("!!"), None);
        assert_eq!(slug_from_name(&"a".repeat(60)).map(|s| s.len()), Some(48));
        assert!(validate_slug("acme-corp").is_ok());
        for bad in ["a", "-acme", "acme-", "Acme", "ac me", &"a".repeat(49)] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }
}
