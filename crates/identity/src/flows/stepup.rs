//! Steps that change how an account is protected (turning two-step
//! verification on or off, changing the address) need more than an access
//! token: a stolen 15-minute token must not lock the owner out for good.
//! They take the current password (its try counted against the account's
//! sign-in budget, the hash checked outside any transaction), or, for an
//! account without a password, a sign-in no older than
//! [`RECENT_SIGN_IN`] (a fresh sign-in link).

use chrono::{DateTime, Duration, Utc};

use authgate_core::{Conn, ToolError, settle};

use super::{Auth, SIGN_IN_THROTTLED, count, unauthenticated};
use crate::users::{self, UserRow};

/// How recent a passwordless account's sign-in must be.
pub(super) const RECENT_SIGN_IN: Duration = Duration::minutes(5);

/// The signed-in user who proved it is them.
pub(super) struct SteppedUp {
    pub project_id: String,
    pub user: UserRow,
}

/// What a step-up unit found: the user, their password hash (none when
/// they have no password) and when their session signed in.
type Found = (String, UserRow, Option<String>, DateTime<Utc>);

impl Auth {
    /// Proves that the holder of `token` is the account's owner, for
    /// `what` (e.g. "turning two-step verification off"); `check` may
    /// refuse the step on the user before anything is counted.
    pub(super) async fn step_up(
        &self, project_hint: Option<&str>, token: &str, password: Option<&str>, what: &str,
        check: impl Fn(&UserRow) -> Result<(), ToolError> + Sync, now: DateTime<Utc>,
    ) -> Result<SteppedUp, ToolError> {
        let (project_id, user, hash, signed_in) = settle(
            self.store
                .write(async |conn| {
                    let found = self.who(conn, project_hint, token, now).await?;
                    check(&found.1)?;
                    if found.2.is_some() {
                        let account =
                            self.account_subject("signin", &found.0, found.1.account_key());
                        let limit = self.settings.sign_in_per_account;
                        if let Err(refused) =
                            count(conn, &found.0, &account, limit, SIGN_IN_THROTTLED, now).await?
                        {
                            return Ok(Err(refused));
                        }
                    }
                    Ok(Ok(found))
                })
                .await,
        )?;
        match hash {
            Some(hash) => {
                let Some(password) = password.filter(|p| !p.is_empty()) else {
                    return Err(unauthenticated(format!(
                        "{what} needs the account's current password"
                    ))
                    .with_field("password"));
                };
                if !self
                    .settings
                    .passwords
                    .verify(password, Some(&hash))
                    .await?
                {
                    return Err(unauthenticated("the password is wrong").with_field("password"));
                }
            }
            None if now - signed_in > RECENT_SIGN_IN => {
                return Err(unauthenticated(format!(
                    "{what} needs a sign-in of the last {} minutes on an account without a password",
                    RECENT_SIGN_IN.num_minutes()
                ))
                .with_field("Authorization")
                .with_hint("sign in again (a sign-in link), then retry"));
            }
            None => {}
        }
        Ok(SteppedUp { project_id, user })
    }

    async fn who(
        &self, conn: &mut Conn<'_>, project_hint: Option<&str>, token: &str, now: DateTime<Utc>,
    ) -> Result<Found, ToolError> {
        let (claims, session) = self.authenticate(conn, project_hint, token, now).await?;
        let project_id = claims.aud.clone();
        let user = users::require(conn, &project_id, &claims.sub).await?;
        let hash = users::password_hash(conn, &project_id, &user.id)
            .await?
            .map(|(h, _)| h);
        Ok((project_id, user, hash, session.created_at))
    }
}
