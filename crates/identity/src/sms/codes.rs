//! Codes sent by SMS: six digits kept as a keyed hash (never readable from
//! the table), one live per number (a new one voids the older), ten
//! minutes, five wrong entries.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::hash::keyed_hash;
use authgate_core::secrets::same;
use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::schema::sms_codes;

fn hash(key: &[u8; 32], project_id: &str, phone: &str, code: &str) -> String {
    keyed_hash(key, &["sms", project_id, phone, code])
}

/// A fresh code for the number; older live ones stop working.
pub async fn issue(
    conn: &mut Conn<'_>, key: &[u8; 32], project_id: &str, phone: &str, code: &str, ttl: Duration,
    now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let at = to_micros(now);
    with_conn!(conn, c => {
        diesel::update(
            sms_codes::table
                .filter(sms_codes::project_id.eq(project_id))
                .filter(sms_codes::phone.eq(phone))
                .filter(sms_codes::used_at.is_null()),
        )
        .set(sms_codes::used_at.eq(Some(at)))
        .execute(c)
        .await?;
        diesel::insert_into(sms_codes::table)
            .values((
                sms_codes::id.eq(new_id("smc")),
                sms_codes::project_id.eq(project_id),
                sms_codes::phone.eq(phone),
                sms_codes::code_hash.eq(hash(key, project_id, phone, code)),
                sms_codes::tries.eq(0),
                sms_codes::created_at.eq(at),
                sms_codes::expires_at.eq(to_micros(now + ttl)),
            ))
            .execute(c)
            .await?;
    });
    Ok(())
}

/// What an entered code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    /// Right: the code is spent.
    Right,
    /// Wrong: one try counted (the last one kills the code).
    Wrong,
    /// No live code for the number.
    NoCode,
}

/// Checks an entered code against the number's live code.
pub async fn enter(
    conn: &mut Conn<'_>, key: &[u8; 32], project_id: &str, phone: &str, code: &str, max_tries: i32,
    now: DateTime<Utc>,
) -> Result<Entered, ToolError> {
    let at = to_micros(now);
    let live: Option<(String, String, i32)> = with_conn!(conn, c => {
        sms_codes::table
            .filter(sms_codes::project_id.eq(project_id))
            .filter(sms_codes::phone.eq(phone))
            .filter(sms_codes::used_at.is_null())
            .filter(sms_codes::expires_at.gt(at))
            .filter(sms_codes::tries.lt(max_tries))
            .order(sms_codes::created_at.desc())
            .select((sms_codes::id, sms_codes::code_hash, sms_codes::tries))
            .first(c)
            .await
            .optional()?
    });
    let Some((id, stored, tries)) = live else {
        return Ok(Entered::NoCode);
    };
    let right = same(&hash(key, project_id, phone, code), &stored);
    let spent = right || tries + 1 >= max_tries;
    // Conditional on the tries read, so two entries at once count twice.
    let n = with_conn!(conn, c => {
        diesel::update(
            sms_codes::table
                .filter(sms_codes::project_id.eq(project_id))
                .filter(sms_codes::id.eq(&id))
                .filter(sms_codes::tries.eq(tries))
                .filter(sms_codes::used_at.is_null()),
        )
        .set((
            sms_codes::tries.eq(tries + i32::from(!right)),
            sms_codes::used_at.eq(spent.then_some(at)),
        ))
        .execute(c)
        .await?
    });
    Ok(match (n, right) {
        (1, true) => Entered::Right,
        (1, false) => Entered::Wrong,
        _ => Entered::NoCode,
    })
}

/// Deletes codes that ended before `before`; how many.
pub async fn prune(conn: &mut Conn<'_>, before: DateTime<Utc>) -> Result<usize, ToolError> {
    let at = to_micros(before);
    Ok(with_conn!(conn, c => {
        diesel::delete(sms_codes::table.filter(sms_codes::expires_at.lt(at)))
            .execute(c)
            .await?
    }))
}
