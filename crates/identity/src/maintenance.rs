//! What the identity domain keeps only for a while: spent and expired
//! refresh tokens, one-time links and codes, and sign-in counting windows.
//! The server prunes them on a timer, off the request path.

use chrono::{DateTime, Duration, Utc};

use authgate_core::ToolError;
use authgate_store::Store;

/// How many rows a prune removed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub refresh_tokens: usize,
    pub one_time_tokens: usize,
    pub throttle_windows: usize,
    /// Social sign-in states and codes, and SMS codes, past their end.
    pub sign_in_grants: usize,
}

/// Removes tokens that stopped working more than `retention` ago and
/// counting windows older than a day (the longest window counted).
pub async fn prune_tokens(
    store: &Store, retention: std::time::Duration, now: DateTime<Utc>,
) -> Result<Pruned, ToolError> {
    let retention = Duration::from_std(retention).unwrap_or(Duration::days(7));
    let cutoff = now - retention;
    store
        .write(async |conn| {
            Ok(Pruned {
                refresh_tokens: authgate_sessions::prune_refresh_tokens(conn, cutoff).await?,
                one_time_tokens: crate::codes::prune(conn, cutoff).await?,
                throttle_windows: crate::throttle::prune(conn, now - Duration::days(1)).await?,
                sign_in_grants: crate::social::grants::prune(conn, now - Duration::hours(1))
                    .await?
                    + crate::sms::codes::prune(conn, now - Duration::hours(1)).await?,
            })
        })
        .await
}
