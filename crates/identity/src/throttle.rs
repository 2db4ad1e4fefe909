//! Attempt counters, kept in the database so that every gateway on it
//! shares them and so that counting is atomic: an upsert increments the
//! counter of the current window and returns the new count before the
//! guarded work (a password verification) runs. Two hundred parallel
//! attempts on one account therefore run at most `max` verifications.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, with_conn};
use authgate_store::schema::auth_throttle;

/// At most `max` attempts per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: i64,
    pub window: Duration,
}

/// The outcome of counting one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Allowed,
    /// Over the limit until the window ends, this many seconds from now.
    Refused {
        retry_after_secs: u64,
    },
}

fn window_start(limit: Limit, now: i64) -> i64 {
    let window = limit.window.num_microseconds().unwrap_or(i64::MAX).max(1);
    now - now.rem_euclid(window)
}

/// Counts one attempt on `subject` (e.g. `signin:acct:<hash>`).
pub async fn attempt(
    conn: &mut Conn<'_>, project_id: &str, subject: &str, limit: Limit, now: DateTime<Utc>,
) -> Result<Attempt, ToolError> {
    let at = to_micros(now);
    let start = window_start(limit, at);
    let count: i64 = with_conn!(conn, c => {
        diesel::insert_into(auth_throttle::table)
            .values((
                auth_throttle::project_id.eq(project_id),
                auth_throttle::subject.eq(subject),
                auth_throttle::window_start.eq(start),
                auth_throttle::attempts.eq(1i64),
            ))
            .on_conflict((
                auth_throttle::project_id,
                auth_throttle::subject,
                auth_throttle::window_start,
            ))
            .do_update()
            .set(auth_throttle::attempts.eq(auth_throttle::attempts + 1))
            .returning(auth_throttle::attempts)
            .get_result(c)
            .await?
    });
    if count <= limit.max {
        return Ok(Attempt::Allowed);
    }
    let end = start + limit.window.num_microseconds().unwrap_or(0);
    let secs = ((end - at).max(0) as u64).div_ceil(1_000_000).max(1);
    Ok(Attempt::Refused {
        retry_after_secs: secs,
    })
}

/// Forgets a subject's attempts (after a successful sign-in), and windows
/// that ended long ago.
pub async fn clear(
    conn: &mut Conn<'_>, project_id: &str, subject: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let stale = to_micros(now - Duration::days(1));
    with_conn!(conn, c => {
        diesel::delete(
            auth_throttle::table
                .filter(auth_throttle::project_id.eq(project_id))
                .filter(auth_throttle::subject.eq(subject)),
        )
        .execute(c)
        .await?;
        diesel::delete(
            auth_throttle::table
                .filter(auth_throttle::project_id.eq(project_id))
                .filter(auth_throttle::window_start.lt(stale)),
        )
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Gives back one attempt of the current window: a sign-in that succeeded
/// does not count against its IP (many users may share one address).
pub async fn release(
    conn: &mut Conn<'_>, project_id: &str, subject: &str, limit: Limit, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let start = window_start(limit, to_micros(now));
    with_conn!(conn, c => {
        diesel::update(
            auth_throttle::table
                .filter(auth_throttle::project_id.eq(project_id))
                .filter(auth_throttle::subject.eq(subject))
                .filter(auth_throttle::window_start.eq(start))
                .filter(auth_throttle::attempts.gt(0i64)),
        )
        .set(auth_throttle::attempts.eq(auth_throttle::attempts - 1))
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Deletes counting windows that started before `cutoff`, in every project.
pub(crate) async fn prune(conn: &mut Conn<'_>, cutoff: DateTime<Utc>) -> Result<usize, ToolError> {
    let cutoff = to_micros(cutoff);
    Ok(with_conn!(conn, c => {
        diesel::delete(auth_throttle::table.filter(auth_throttle::window_start.lt(cutoff)))
            .execute(c)
            .await?
    }))
}
