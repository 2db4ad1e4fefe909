//! Callback (redirect) URLs a project allows after sign-in, password reset
//! and magic links. Absolute http(s) only; plain http only to loopback; no
//! fragments and no credentials.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Page, PageRequest, ToolError, insert_new, new_id};
use authgate_store::schema::callback_urls;
use authgate_store::{Conn, with_conn};

const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Callback {
    pub id: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = callback_urls)]
struct CallbackRow {
    id: String,
    project_id: String,
    url: String,
    created_at: i64,
    /// The URL's origin, as browsers send it (the CORS lookup).
    origin: String,
}

impl From<CallbackRow> for Callback {
    fn from(r: CallbackRow) -> Self {
        Callback {
            id: r.id,
            url: r.url,
            created_at: from_micros(r.created_at),
        }
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => *d == "localhost" || d.ends_with(".localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Checks a callback URL and returns its normalised form.
pub fn validate_callback_url(raw: &str) -> Result<String, ToolError> {
    let example = "pass an absolute URL such as https://app.example.com/auth/callback";
    if raw.len() > MAX_URL_LEN {
        return Err(ToolError::invalid(
            "url",
            format!("url is longer than {MAX_URL_LEN} characters"),
        ));
    }
    let parsed = url::Url::parse(raw.trim()).map_err(|e| {
        ToolError::invalid("url", format!("url is not an absolute URL ({e})")).with_hint(example)
    })?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = parsed.host().as_ref().is_some_and(is_loopback);
            if !loopback {
                return Err(ToolError::invalid(
                    "url",
                    "plain http is allowed only for localhost; use https for other hosts",
                )
                .with_hint("change the scheme to https"));
            }
        }
        other => {
            return Err(ToolError::invalid(
                "url",
                format!("url scheme '{other}' is not allowed; only http(s) URLs are callbacks"),
            )
            .with_hint(example));
        }
    }
    if parsed.host().is_none() {
        return Err(ToolError::invalid("url", "url has no host").with_hint(example));
    }
    if parsed.fragment().is_some() {
        return Err(
            ToolError::invalid("url", "url must not contain a #fragment")
                .with_hint("remove the part from # on"),
        );
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            ToolError::invalid("url", "url must not contain credentials")
                .with_hint("remove the user:password@ part"),
        );
    }
    Ok(parsed.to_string())
}

pub async fn list_callbacks(
    conn: &mut Conn<'_>, project_id: &str, page: &PageRequest,
) -> Result<Page<Callback>, ToolError> {
    let rows: Vec<CallbackRow> = with_conn!(conn, c => {
        let mut q = callback_urls::table
            .filter(callback_urls::project_id.eq(project_id))
            .select(CallbackRow::as_select())
            .order(callback_urls::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = &page.after {
            q = q.filter(callback_urls::id.gt(after.clone()));
        }
        q.load(c).await?
    });
    let items = rows.into_iter().map(Callback::from).collect();
    Ok(page.page(items, |c: &Callback| c.id.clone()))
}

/// Every callback URL of the project, oldest first (for redirect checks).
pub async fn all_callbacks(
    conn: &mut Conn<'_>, project_id: &str,
) -> Result<Vec<Callback>, ToolError> {
    let rows: Vec<CallbackRow> = with_conn!(conn, c => {
        callback_urls::table
            .filter(callback_urls::project_id.eq(project_id))
            .select(CallbackRow::as_select())
            .order(callback_urls::id.asc())
            .load(c)
            .await?
    });
    Ok(rows.into_iter().map(Callback::from).collect())
}

/// Adds a URL; the unique constraint, not a prior read, decides duplicates.
pub async fn add_callback(
    conn: &mut Conn<'_>, project_id: &str, url: &str, now: DateTime<Utc>,
) -> Result<Callback, ToolError> {
    let url = validate_callback_url(url)?;
    let origin = origin_of(&url).ok_or_else(|| ToolError::invalid("url", "url has no origin"))?;
    let row = CallbackRow {
        id: new_id("cb"),
        project_id: project_id.to_owned(),
        url,
        created_at: to_micros(now),
        origin,
    };
    // On PostgreSQL a failed statement aborts the transaction, so the
    // duplicate is found with ON CONFLICT DO NOTHING, not by catching the
    // violation.
    if insert_new!(conn, callback_urls::table, &row) {
        return Ok(row.into());
    }
    let existing: Option<String> = with_conn!(conn, c => {
        callback_urls::table
            .filter(callback_urls::project_id.eq(project_id))
            .filter(callback_urls::url.eq(&row.url))
            .select(callback_urls::id)
            .first(c)
            .await
            .optional()?
    });
    Err(ToolError::conflict(format!(
        "this URL is already a callback ({})",
        existing.unwrap_or_default()
    ))
    .with_field("url")
    .with_hint("nothing to do: the URL is already allowed"))
}

pub async fn get_callback(
    conn: &mut Conn<'_>, project_id: &str, callback_id: &str,
) -> Result<Callback, ToolError> {
    let row: Option<CallbackRow> = with_conn!(conn, c => {
        callback_urls::table
            .filter(callback_urls::project_id.eq(project_id))
            .filter(callback_urls::id.eq(callback_id))
            .select(CallbackRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    row.map(Callback::from).ok_or_else(|| {
        ToolError::not_found(format!("callback {callback_id} not found in this project"))
            .with_field("callback_id")
            .with_hint("list_callbacks shows the callbacks of this project")
    })
}

/// Removes a callback URL (or, on a dry run, shows it). Nothing else
/// depends on it.
pub async fn remove_callback(
    conn: &mut Conn<'_>, project_id: &str, callback_id: &str, dry_run: bool,
) -> Result<Callback, ToolError> {
    let callback = get_callback(conn, project_id, callback_id).await?;
    if dry_run {
        return Ok(callback);
    }
    with_conn!(conn, c => {
        diesel::delete(
            callback_urls::table
                .filter(callback_urls::project_id.eq(project_id))
                .filter(callback_urls::id.eq(callback_id)),
        )
        .execute(c)
        .await?;
    });
    Ok(callback)
}

/// Where a mailed link leads: `redirect_url` if it is one of the
/// project's callback URLs (exactly as registered), else the first
/// callback URL; `precondition_failed` when the project has none.
pub async fn link_target(
    conn: &mut Conn<'_>, project_id: &str, redirect_url: Option<&str>,
) -> Result<url::Url, ToolError> {
    let registered = all_callbacks(conn, project_id).await?;
    let chosen = match redirect_url.map(str::trim) {
        Some(wanted) => registered.iter().find(|c| c.url == wanted).ok_or_else(|| {
            ToolError::invalid(
                "redirect_url",
                "redirect_url must be one of the project's callback URLs, exactly as registered",
            )
            .with_hint("list_callbacks shows them; add_callback registers another")
        })?,
        None => <[Callback]>::first(&registered).ok_or_else(|| {
            ToolError::precondition("this project has no callback URL for the link to lead to")
                .with_hint("add one with add_callback (e.g. https://app.example.com/auth/callback)")
        })?,
    };
    url::Url::parse(&chosen.url).map_err(ToolError::internal)
}

/// The origin (`scheme://host[:port]`) of a URL, as browsers send it.
fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

fn is_loopback_origin(origin: &str) -> bool {
    url::Url::parse(origin)
        .ok()
        .is_some_and(|u| u.host().as_ref().is_some_and(is_loopback))
}

/// Whether a browser page at `origin` may call the end-user API of a
/// project (CORS): the origin of one of its callback URLs, or any loopback
/// origin when it is a test project. Without a project (a preflight, which
/// carries no project header), whether it may call any project's. Each
/// answer is one indexed lookup, whatever the number of projects.
pub async fn origin_allowed(
    conn: &mut Conn<'_>, project_id: Option<&str>, origin: &str,
) -> Result<bool, ToolError> {
    use authgate_store::schema::projects;
    use diesel::dsl::{exists, select};
    let Some(origin) = origin_of(origin.trim()) else {
        return Ok(false);
    };
    let loopback = is_loopback_origin(&origin);
    Ok(with_conn!(conn, c => {
        if loopback {
            let mut tests = projects::table
                .filter(projects::environment.eq("test"))
                .select(projects::id)
                .into_boxed();
            if let Some(p) = project_id {
                tests = tests.filter(projects::id.eq(p));
            }
            if select(exists(tests)).get_result::<bool>(c).await? {
                return Ok(true);
            }
        }
        let mut urls = callback_urls::table
            .filter(callback_urls::origin.eq(&origin))
            .select(callback_urls::id)
            .into_boxed();
        if let Some(p) = project_id {
            urls = urls.filter(callback_urls::project_id.eq(p));
        }
        select(exists(urls)).get_result::<bool>(c).await?
    }))
}

/// [`origin_allowed`] in a read unit of its own (the CORS layer asks
/// before any flow runs).
pub async fn origin_allowed_in(
    store: &authgate_store::Store, project_id: Option<&str>, origin: &str,
) -> Result<bool, ToolError> {
    store
        .read(async |conn| origin_allowed(conn, project_id, origin).await)
        .await
}

#[cfg(test)]
mod tests {
    use super::validate_callback_url;

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://app.example.com/cb",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/",
            "https://app.example.com/cb?next=1",
        ] {
            assert!(validate_callback_url(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_unsafe_urls_naming_the_field() {
        for bad in [
            "javascript:alert(1)",
            "/relative/path",
            "http://example.com/cb",
            "https://app.example.com/cb#frag",
            "ftp://example.com/x",
            "https://user:pw@example.com/",
            "data:text/html,hi",
            "",
        ] {
            let err = validate_callback_url(bad).expect_err(bad);
            assert_eq!(err.field.as_deref(), Some("url"), "{bad}");
        }
    }
}
