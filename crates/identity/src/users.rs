//! End users: one per email per project (compared after NFKC normalisation
//! and lower-casing), with a name, a verified flag and metadata.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization as _;

use authgate_core::changes::{self, ChangeType};
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, Page, PageRequest, ToolError, UserRef, insert_new, new_id, with_conn};
use authgate_store::JsonText;
use authgate_store::schema::{end_users, mfa_factors, oauth_accounts, password_credentials};

const MAX_EMAIL: usize = 254;
const MAX_NAME: usize = 200;

/// An end user as tools and the REST API show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EndUser {
    pub id: String,
    /// None for a user who signed up by SMS and has no address.
    pub email: Option<String>,
    pub name: Option<String>,
    pub email_verified: bool,
    /// Whether the user can sign in with a password.
    pub has_password: bool,
    /// Free-form JSON object the developer keeps on the user.
    pub metadata: serde_json::Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// An address the user asked to change to: it becomes theirs when the
    /// code mailed to it is entered; until then `email` stays in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
    /// E.164, for a user who signs in by SMS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub phone_verified: bool,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = end_users)]
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) project_id: String,
    pub(crate) email: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) email_verified: bool,
    pub(crate) metadata: JsonText<serde_json::Map<String, Value>>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) last_sign_in_at: Option<i64>,
    pub(crate) pending_email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) phone_verified: bool,
}

impl EndUser {
    /// What per-account counters use: the address, else the phone number,
    /// else the id (as [`UserRow::account_key`]).
    pub(crate) fn account_key(&self) -> &str {
        self.email
            .as_deref()
            .or(self.phone.as_deref())
            .unwrap_or(&self.id)
    }
}

impl UserRow {
    pub(crate) fn view(&self, has_password: bool) -> EndUser {
        EndUser {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            email_verified: self.email_verified,
            has_password,
            metadata: self.metadata.0.clone(),
            created_at: from_micros(self.created_at),
            updated_at: from_micros(self.updated_at),
            last_sign_in_at: self.last_sign_in_at.map(from_micros),
            pending_email: self.pending_email.clone(),
            phone: self.phone.clone(),
            phone_verified: self.phone_verified,
        }
    }

    /// The user's address, for the flows that mail it; a user who signed
    /// up by SMS has none.
    pub(crate) fn address(&self) -> Result<&str, ToolError> {
        self.email.as_deref().ok_or_else(|| {
            ToolError::precondition("this user has no email address: they sign in by SMS")
                .with_field("user_id")
        })
    }

    /// What per-account counters and labels use: the address, else the
    /// phone number, else the id.
    pub(crate) fn account_key(&self) -> &str {
        self.email
            .as_deref()
            .or(self.phone.as_deref())
            .unwrap_or(&self.id)
    }

    pub(crate) fn reference(&self, at: DateTime<Utc>) -> UserRef {
        UserRef {
            project_id: self.project_id.clone(),
            id: self.id.clone(),
            email: self.email.clone(),
            at,
        }
    }
}

/// An email in its stored form: trimmed, NFKC-normalised, lower-cased, and
/// shaped like an address (`local@domain`, no spaces, at most 254 bytes).
pub fn normalize_email(field: &str, raw: &str) -> Result<String, ToolError> {
    let email: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    let bad = |why: &str| {
        ToolError::invalid(
            field,
            format!("{field} is not a valid email address: {why}"),
        )
        .with_hint("pass an address such as ada@example.com")
    };
    if email.is_empty() {
        return Err(bad("it is empty"));
    }
    if email.len() > MAX_EMAIL {
        return Err(bad("it is longer than 254 bytes"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains spaces or control characters"));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(bad("it has no @"));
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad("the part before @ must be 1 to 64 bytes"));
    }
    if domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad("the domain must look like example.com"));
    }
    if email.parse::<lettre::Address>().is_err() {
        return Err(bad("it is not an address mail can be sent to"));
    }
    Ok(email)
}

pub(crate) fn validate_name(name: Option<&str>) -> Result<Option<String>, ToolError> {
    match name.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > MAX_NAME || n.chars().any(char::is_control) => {
            Err(ToolError::invalid(
                "name",
                format!("name must be at most {MAX_NAME} printable characters"),
            ))
        }
        Some(n) => Ok(Some(n.nfc().collect())),
    }
}

pub(crate) fn email_taken() -> ToolError {
    ToolError::conflict("an account with this email already exists")
        .with_field("email")
        .with_hint("sign in instead, or reset the password")
}

pub(crate) fn not_found(user_id: &str) -> ToolError {
    ToolError::not_found(format!("end user {user_id} not found in this project"))
        .with_field("user_id")
        .with_hint("list_end_users shows the users of this project")
}

type OneUser<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<end_users::table, diesel::dsl::Eq<end_users::project_id, &'a str>>,
    diesel::dsl::Eq<end_users::id, &'a str>,
>;

/// The row of one user of one project, to read, update or delete.
fn one_user<'a>(project_id: &'a str, user_id: &'a str) -> OneUser<'a> {
    end_users::table
        .filter(end_users::project_id.eq(project_id))
        .filter(end_users::id.eq(user_id))
}

pub(crate) async fn load(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<Option<UserRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        one_user(project_id, user_id)
            .select(UserRow::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// A user as other domains see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// The user `user_id` of the project, or `not_found` naming `user_id`:
/// the one check every domain makes before it writes rows about a user
/// (a subscription, a membership, usage).
pub async fn require_user(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<UserSummary, ToolError> {
    let row = require(conn, project_id, user_id).await?;
    Ok(UserSummary {
        id: row.id,
        email: row.email,
        name: row.name,
    })
}

/// Which of `user_ids` are users of the project (one statement, for
/// batches).
pub async fn existing_users(
    conn: &mut Conn<'_>, project_id: &str, user_ids: &[String],
) -> Result<std::collections::HashSet<String>, ToolError> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    let found: Vec<String> = with_conn!(conn, c => {
        end_users::table
            .filter(end_users::project_id.eq(project_id))
            .filter(end_users::id.eq_any(user_ids))
            .select(end_users::id)
            .load(c)
            .await?
    });
    Ok(found.into_iter().collect())
}

/// The addresses of those of `user_ids` that are users of the project
/// (one statement, for lists that name their users).
pub async fn emails_of(
    conn: &mut Conn<'_>, project_id: &str, user_ids: &[String],
) -> Result<std::collections::HashMap<String, String>, ToolError> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    let found: Vec<(String, Option<String>)> = with_conn!(conn, c => {
        end_users::table
            .filter(end_users::project_id.eq(project_id))
            .filter(end_users::id.eq_any(user_ids))
            .select((end_users::id, end_users::email))
            .load(c)
            .await?
    });
    Ok(found
        .into_iter()
        .filter_map(|(id, email)| Some((id, email?)))
        .collect())
}

/// The user, or not_found naming `user_id`.
pub(crate) async fn require(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<UserRow, ToolError> {
    load(conn, project_id, user_id)
        .await?
        .ok_or_else(|| not_found(user_id))
}

pub(crate) async fn load_by_email(
    conn: &mut Conn<'_>, project_id: &str, email: &str,
) -> Result<Option<UserRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        end_users::table
            .filter(end_users::project_id.eq(project_id))
            .filter(end_users::email.eq(email))
            .select(UserRow::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// The user of the project with this E.164 number.
pub(crate) async fn load_by_phone(
    conn: &mut Conn<'_>, project_id: &str, phone: &str,
) -> Result<Option<UserRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        end_users::table
            .filter(end_users::project_id.eq(project_id))
            .filter(end_users::phone.eq(phone))
            .select(UserRow::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// Inserts a user who signed up by SMS: a verified number, no address.
pub(crate) async fn insert_phone(
    conn: &mut Conn<'_>, project_id: &str, phone: &str, now: DateTime<Utc>,
) -> Result<UserRow, ToolError> {
    let at = to_micros(now);
    let row = UserRow {
        id: new_id("usr"),
        project_id: project_id.to_owned(),
        email: None,
        name: None,
        email_verified: false,
        metadata: JsonText(serde_json::Map::new()),
        created_at: at,
        updated_at: at,
        last_sign_in_at: None,
        pending_email: None,
        phone: Some(phone.to_owned()),
        phone_verified: true,
    };
    if !insert_new!(conn, end_users::table, &row) {
        return Err(
            ToolError::conflict("an account with this phone number already exists")
                .with_field("phone"),
        );
    }
    Ok(row)
}

pub(crate) async fn password_hash(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<Option<(String, i64)>, ToolError> {
    Ok(with_conn!(conn, c => {
        password_credentials::table
            .filter(password_credentials::project_id.eq(project_id))
            .filter(password_credentials::user_id.eq(user_id))
            .select((password_credentials::password_hash, password_credentials::updated_at))
            .first(c)
            .await
            .optional()?
    }))
}

pub(crate) async fn has_password(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<bool, ToolError> {
    Ok(password_hash(conn, project_id, user_id).await?.is_some())
}

/// Sets (or replaces) a user's password hash.
/// An account a magic-link request for an unknown address made, that its
/// owner never used: unverified, without a password, never signed in. It
/// stands in no one's way: sign-up takes it over and a reset may give it a
/// password (the owner must still prove the address).
pub(crate) async fn unclaimed(conn: &mut Conn<'_>, user: &UserRow) -> Result<bool, ToolError> {
    Ok(!user.email_verified
        && user.last_sign_in_at.is_none()
        && !has_password(conn, &user.project_id, &user.id).await?)
}

/// Drops the user's password credential.
pub(crate) async fn delete_password(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::delete(
            password_credentials::table
                .filter(password_credentials::project_id.eq(project_id))
                .filter(password_credentials::user_id.eq(user_id)),
        )
        .execute(c)
        .await?;
    });
    Ok(())
}

pub(crate) async fn set_password_hash(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, hash: &str, now: i64,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::insert_into(password_credentials::table)
            .values((
                password_credentials::user_id.eq(user_id),
                password_credentials::project_id.eq(project_id),
                password_credentials::password_hash.eq(hash),
                password_credentials::updated_at.eq(now),
            ))
            .on_conflict(password_credentials::user_id)
            .do_update()
            .set((
                password_credentials::password_hash.eq(hash),
                password_credentials::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
    });
    Ok(())
}

pub async fn get(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<EndUser, ToolError> {
    let row = require(conn, project_id, user_id).await?;
    let has_password = has_password(conn, project_id, user_id).await?;
    Ok(row.view(has_password))
}

/// Inserts a new user; an email already used in the project is a conflict
/// decided by the unique constraint.
pub(crate) async fn insert(
    conn: &mut Conn<'_>, project_id: &str, email: String, name: Option<String>, now: DateTime<Utc>,
) -> Result<UserRow, ToolError> {
    let at = to_micros(now);
    let row = UserRow {
        id: new_id("usr"),
        project_id: project_id.to_owned(),
        email: Some(email),
        name,
        email_verified: false,
        metadata: JsonText(serde_json::Map::new()),
        created_at: at,
        updated_at: at,
        last_sign_in_at: None,
        pending_email: None,
        phone: None,
        phone_verified: false,
    };
    if !insert_new!(conn, end_users::table, &row) {
        return Err(email_taken());
    }
    Ok(row)
}

/// The account a verification code mailed to `email` is for: the one
/// whose change to this address waits (the latest asked), else the one
/// whose own unverified address it is, with no change waiting.
pub(crate) async fn awaiting_code(
    conn: &mut Conn<'_>, project_id: &str, email: &str,
) -> Result<Option<UserRow>, ToolError> {
    let changing: Option<UserRow> = with_conn!(conn, c => {
        end_users::table
            .filter(end_users::project_id.eq(project_id))
            .filter(end_users::pending_email.eq(email))
            .select(UserRow::as_select())
            .order(end_users::updated_at.desc())
            .first(c)
            .await
            .optional()?
    });
    if changing.is_some() {
        return Ok(changing);
    }
    Ok(load_by_email(conn, project_id, email)
        .await?
        .filter(|u| !u.email_verified && u.pending_email.is_none()))
}

/// Asks for a change to a new (normalised) address: it waits, and the
/// account keeps its address, until the code mailed to it is entered.
pub(crate) async fn set_pending_email(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, email: &str, now: DateTime<Utc>,
) -> Result<UserRow, ToolError> {
    let at = to_micros(now);
    with_conn!(conn, c => {
        diesel::update(one_user(project_id, user_id))
        .set((end_users::pending_email.eq(email), end_users::updated_at.eq(at)))
        .execute(c)
        .await?;
    });
    require(conn, project_id, user_id).await
}

/// Makes the waiting address the account's, verified (its code was
/// entered); the caller has checked that no other account holds it.
pub(crate) async fn adopt_pending_email(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, email: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let at = to_micros(now);
    with_conn!(conn, c => {
        diesel::update(one_user(project_id, user_id))
        .set((
            end_users::email.eq(email),
            end_users::email_verified.eq(true),
            end_users::pending_email.eq(None::<String>),
            end_users::updated_at.eq(at),
        ))
        .execute(c)
        .await?;
    });
    Ok(())
}

pub(crate) async fn set_name(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, name: Option<&str>, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(one_user(project_id, user_id))
        .set((end_users::name.eq(name), end_users::updated_at.eq(to_micros(now))))
        .execute(c)
        .await?;
    });
    Ok(())
}

pub(crate) async fn set_verified(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, verified: bool, now: i64,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(one_user(project_id, user_id))
        .set((end_users::email_verified.eq(verified), end_users::updated_at.eq(now)))
        .execute(c)
        .await?;
    });
    Ok(())
}

pub(crate) async fn touch_sign_in(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, now: i64,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(one_user(project_id, user_id))
        .set(end_users::last_sign_in_at.eq(Some(now)))
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Filters of [`list`].
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Part of the email (compared lower-cased).
    pub email_contains: Option<String>,
    /// The phone number, in E.164.
    pub phone: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// Users oldest first, keyset-paginated on the (time-ordered) id.
pub async fn list(
    conn: &mut Conn<'_>, project_id: &str, filter: &UserFilter, page: &PageRequest,
) -> Result<Page<EndUser>, ToolError> {
    let pattern = filter.email_contains.as_deref().map(|n| {
        authgate_core::text::like_contains(&n.trim().nfkc().collect::<String>().to_lowercase())
    });
    let rows: Vec<(UserRow, Option<String>)> = with_conn!(conn, c => {
        let mut q = end_users::table
            .left_join(password_credentials::table)
            .filter(end_users::project_id.eq(project_id))
            .select((UserRow::as_select(), password_credentials::user_id.nullable()))
            .order(end_users::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(p) = &pattern {
            q = q.filter(end_users::email.like(p.clone()).escape('\\'));
        }
        if let Some(phone) = &filter.phone {
            q = q.filter(end_users::phone.eq(phone.clone()));
        }
        if let Some(t) = filter.created_after {
            q = q.filter(end_users::created_at.gt(to_micros(t)));
        }
        if let Some(t) = filter.created_before {
            q = q.filter(end_users::created_at.lt(to_micros(t)));
        }
        if let Some(after) = &page.after {
            q = q.filter(end_users::id.gt(after.clone()));
        }
        q.load(c).await?
    });
    let users = rows.into_iter().map(|(u, p)| u.view(p.is_some())).collect();
    Ok(page.page(users, |u: &EndUser| u.id.clone()))
}

/// A linked sign-in account (OAuth).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LinkedAccount {
    pub id: String,
    pub provider: String,
    pub provider_user_id: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PasswordStatus {
    pub set: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MfaFactor {
    pub id: String,
    /// `totp`.
    pub kind: String,
    /// `pending` (enrolled, not confirmed) or `active`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MfaStatus {
    /// Whether an active factor protects sign-in.
    pub enrolled: bool,
    pub factors: Vec<MfaFactor>,
}

/// A user with everything that proves who they are (no secret).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: EndUser,
    pub linked_accounts: Vec<LinkedAccount>,
    pub password: PasswordStatus,
    pub mfa: MfaStatus,
}

pub async fn detail(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<UserDetail, ToolError> {
    let row = require(conn, project_id, user_id).await?;
    let password = password_hash(conn, project_id, user_id).await?;
    type AccountRow = (String, String, String, Option<String>, i64);
    type FactorRow = (String, String, String, i64, Option<i64>);
    let (accounts, factors): (Vec<AccountRow>, Vec<FactorRow>) = with_conn!(conn, c => {
        let accounts = oauth_accounts::table
            .filter(oauth_accounts::project_id.eq(project_id))
            .filter(oauth_accounts::user_id.eq(user_id))
            .select((
                oauth_accounts::id,
                oauth_accounts::provider,
                oauth_accounts::provider_user_id,
                oauth_accounts::email,
                oauth_accounts::created_at,
            ))
            .order(oauth_accounts::id.asc())
            .load(c)
            .await?;
        let factors = mfa_factors::table
            .filter(mfa_factors::project_id.eq(project_id))
            .filter(mfa_factors::user_id.eq(user_id))
            .select((
                mfa_factors::id,
                mfa_factors::kind,
                mfa_factors::status,
                mfa_factors::created_at,
                mfa_factors::verified_at,
            ))
            .order(mfa_factors::id.asc())
            .load(c)
            .await?;
        (accounts, factors)
    });
    let factors: Vec<MfaFactor> = factors
        .into_iter()
        .map(|(id, kind, status, created_at, verified_at)| MfaFactor {
            id,
            kind,
            status,
            created_at: from_micros(created_at),
            verified_at: verified_at.map(from_micros),
        })
        .collect();
    Ok(UserDetail {
        user: row.view(password.is_some()),
        linked_accounts: accounts
            .into_iter()
            .map(
                |(id, provider, provider_user_id, email, created_at)| LinkedAccount {
                    id,
                    provider,
                    provider_user_id,
                    email,
                    created_at: from_micros(created_at),
                },
            )
            .collect(),
        password: PasswordStatus {
            set: password.is_some(),
            updated_at: password.map(|(_, at)| from_micros(at)),
        },
        mfa: MfaStatus {
            enrolled: factors.iter().any(|f| f.status == "active"),
            factors,
        },
    })
}

/// Publishes a change of the user (`user.created`, `user.updated`,
/// `user.email_verified`) with the user as get_end_user shows it now; when
/// nobody listens, nothing is read but the listeners.
pub(crate) async fn announce_user(
    conn: &mut Conn<'_>, project_id: &str, change: ChangeType, user_id: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let Some(outlet) = changes::outlet(conn, project_id, change).await? else {
        return Ok(());
    };
    let user = detail(conn, project_id, user_id).await?;
    outlet.send(conn, &user, now).await
}

/// Deletes a user; every row that references the user goes with it (the
/// foreign keys cascade).
pub(crate) async fn delete(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::delete(one_user(project_id, user_id)).execute(c).await?;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_and_validate() {
        assert_eq!(
            normalize_email("email", "  Ada@Example.COM ")
                .ok()
                .as_deref(),
            Some("ada@example.com")
        );
        // Fullwidth letters are NFKC-equal to ASCII ones.
        assert_eq!(
            normalize_email("email", "ＡＤＡ@example.com")
                .ok()
                .as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@@example.com",
            "ada@.com",
            "ada@example..com",
        ] {
            let err = normalize_email("email", bad).expect_err(bad);
            assert_eq!(err.field.as_deref(), Some("email"), "{bad}");
        }
        assert!(normalize_email("email", &format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
