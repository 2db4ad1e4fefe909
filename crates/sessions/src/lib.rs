//! End-user sessions. A session is created at sign-in with an opaque
//! refresh token (random, stored only as its SHA-256). Every refresh marks
//! the presented token used and issues the next one; presenting a used
//! token again (a stolen copy, or a replay) revokes the whole session.
//! Revocation takes effect on the next request: access tokens name their
//! session (`sid`), and every check of one reads the session's state.

mod refresh;
mod sections;
mod sessions;
mod tools;

pub use refresh::{Refreshed, prune_refresh_tokens, refresh_session, refresh_token_exists};
pub use sections::SessionData;
pub use sessions::{
    RevokedBy, Session, SessionSettings, active_session, count_active_sessions, create_session,
    get_session, list_active_sessions, organization_changed, revoke_session, revoke_user_sessions,
    set_session_org,
};
pub use tools::{SESSIONS, register};
