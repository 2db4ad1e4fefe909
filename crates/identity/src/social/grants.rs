//! The rows a social sign-in leaves while it runs: its state (made at
//! start, spent by the provider's callback) and the one-time code the app
//! redeems. Both are found by the hash of a 256-bit secret and spent by one
//! conditional UPDATE, so two requests with the same secret never both win.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, with_conn};
use authgate_store::schema::{oauth_codes, oauth_states};

/// How long a started sign-in waits for the provider.
pub const STATE_TTL: Duration = Duration::minutes(10);
/// How long the app has to redeem its code.
pub const CODE_TTL: Duration = Duration::seconds(60);

#[derive(Insertable)]
#[diesel(table_name = oauth_states)]
pub struct NewState<'a> {
    pub state_hash: &'a str,
    pub project_id: &'a str,
    pub provider: &'a str,
    pub redirect_url: &'a str,
    pub app_state: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub verifier_enc: &'a str,
    pub nonce_hash: &'a str,
    pub binding_hash: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A spent state: what the callback needs.
#[derive(Queryable, Selectable)]
#[diesel(table_name = oauth_states)]
pub struct StateRow {
    pub project_id: String,
    pub provider: String,
    pub redirect_url: String,
    pub app_state: Option<String>,
    pub code_challenge: Option<String>,
    pub verifier_enc: String,
    pub nonce_hash: String,
    pub binding_hash: String,
}

pub async fn insert_state(conn: &mut Conn<'_>, state: NewState<'_>) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::insert_into(oauth_states::table).values(&state).execute(c).await?;
    });
    Ok(())
}

/// Spends the state: its row when it was unspent and unexpired.
pub async fn take_state(
    conn: &mut Conn<'_>, state_hash: &str, now: DateTime<Utc>,
) -> Result<Option<StateRow>, ToolError> {
    let at = to_micros(now);
    Ok(with_conn!(conn, c => {
        diesel::update(
            oauth_states::table
                .filter(oauth_states::state_hash.eq(state_hash))
                .filter(oauth_states::used_at.is_null())
                .filter(oauth_states::expires_at.gt(at)),
        )
        .set(oauth_states::used_at.eq(Some(at)))
        .returning(StateRow::as_returning())
        .get_result(c)
        .await
        .optional()?
    }))
}

/// The project and provider of a state that could not be spent (to audit
/// a replay or a late callback in its project).
pub async fn state_owner(
    conn: &mut Conn<'_>, state_hash: &str,
) -> Result<Option<(String, String)>, ToolError> {
    Ok(with_conn!(conn, c => {
        oauth_states::table
            .filter(oauth_states::state_hash.eq(state_hash))
            .select((oauth_states::project_id, oauth_states::provider))
            .first(c)
            .await
            .optional()?
    }))
}

#[derive(Insertable)]
#[diesel(table_name = oauth_codes)]
pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub provider: &'a str,
    pub redirect_url: &'a str,
    pub code_challenge: Option<&'a str>,
    pub is_new_user: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = oauth_codes)]
pub struct CodeRow {
    pub user_id: String,
    pub provider: String,
    pub redirect_url: String,
    pub code_challenge: Option<String>,
    pub is_new_user: bool,
}

pub async fn insert_code(conn: &mut Conn<'_>, code: NewCode<'_>) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::insert_into(oauth_codes::table).values(&code).execute(c).await?;
    });
    Ok(())
}

type LiveCode<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Filter<
                oauth_codes::table,
                diesel::dsl::Eq<oauth_codes::project_id, &'a str>,
            >,
            diesel::dsl::Eq<oauth_codes::code_hash, &'a str>,
        >,
        diesel::dsl::IsNull<oauth_codes::used_at>,
    >,
    diesel::dsl::Gt<oauth_codes::expires_at, i64>,
>;

/// The project's unspent code with this hash that is still good at `at`,
/// to read or to spend.
fn live_code<'a>(project_id: &'a str, code_hash: &'a str, at: i64) -> LiveCode<'a> {
    oauth_codes::table
        .filter(oauth_codes::project_id.eq(project_id))
        .filter(oauth_codes::code_hash.eq(code_hash))
        .filter(oauth_codes::used_at.is_null())
        .filter(oauth_codes::expires_at.gt(at))
}

/// The project's unspent, unexpired code with this hash.
pub async fn peek_code(
    conn: &mut Conn<'_>, project_id: &str, code_hash: &str, now: DateTime<Utc>,
) -> Result<Option<CodeRow>, ToolError> {
    let at = to_micros(now);
    Ok(with_conn!(conn, c => {
        live_code(project_id, code_hash, at)
            .select(CodeRow::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// Spends the code; whether this call did.
pub async fn spend_code(
    conn: &mut Conn<'_>, project_id: &str, code_hash: &str, now: DateTime<Utc>,
) -> Result<bool, ToolError> {
    let at = to_micros(now);
    let n = with_conn!(conn, c => {
        diesel::update(live_code(project_id, code_hash, at))
        .set(oauth_codes::used_at.eq(Some(at)))
        .execute(c)
        .await?
    });
    Ok(n == 1)
}

/// Deletes states and codes that ended before `before` (the maintenance
/// sweep); how many.
pub async fn prune(conn: &mut Conn<'_>, before: DateTime<Utc>) -> Result<usize, ToolError> {
    let at = to_micros(before);
    Ok(with_conn!(conn, c => {
        let states = diesel::delete(oauth_states::table.filter(oauth_states::expires_at.lt(at)))
            .execute(c)
            .await?;
        let codes = diesel::delete(oauth_codes::table.filter(oauth_codes::expires_at.lt(at)))
            .execute(c)
            .await?;
        states + codes
    }))
}
