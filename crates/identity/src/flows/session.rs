//! Sessions: opening one for a user who proved who they are, refreshing
//! its tokens, checking an access token against its session, signing out,
//! `me`, and the published keys.

use chrono::{DateTime, Utc};

use authgate_core::time::to_micros;
use authgate_core::{Conn, ErrorCode, EventType, RequestMeta, ToolError, settle};
use authgate_sessions::{self as sessions, Refreshed, RevokedBy, Session};

use super::{
    Auth, Me, RefreshBody, SignedIn, TokenPair, admit, required, token_refusal, unauthenticated,
    user_event,
};
use crate::jwt::{self, AccessClaims, Jwks, Reason, TokenSubject};
use crate::users::{self, UserRow};

impl Auth {
    /// A new session and its tokens for a user who proved who they are
    /// (`method`: password, magic_link, ...).
    pub(super) async fn open_session(
        &self, conn: &mut Conn<'_>, user: UserRow, meta: &RequestMeta, method: &str,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, ToolError> {
        let s = &self.settings;
        let project_id = user.project_id.clone();
        users::touch_sign_in(conn, &project_id, &user.id, to_micros(now)).await?;
        let (session, refresh_token) =
            sessions::create_session(conn, &project_id, &user.id, meta, s.sessions, now).await?;
        let subject = TokenSubject {
            user_id: &user.id,
            session_id: &session.id,
            org: None,
        };
        let access_token = self.access_token(conn, &project_id, subject, now).await?;
        user_event(&project_id, EventType::SignInSucceeded, &user.id, meta)
            .target(&session.id)
            .meta("method", method)
            .record(conn, now)
            .await?;
        let has_password = users::has_password(conn, &project_id, &user.id).await?;
        let mut view = user.view(has_password);
        view.last_sign_in_at = Some(now);
        Ok(SignedIn {
            user: view,
            refresh_expires_in: (session.expires_at - now).num_seconds(),
            session_id: session.id,
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: s.access_ttl.num_seconds(),
        })
    }

    async fn access_token(
        &self, conn: &mut Conn<'_>, project_id: &str, subject: TokenSubject<'_>, now: DateTime<Utc>,
    ) -> Result<String, ToolError> {
        let s = &self.settings;
        jwt::issue(
            conn,
            &self.keys.encryption,
            project_id,
            &s.public_url,
            subject,
            s.access_ttl,
            now,
        )
        .await
    }

    /// `POST /auth/refresh`: the next access and refresh token. A spent
    /// refresh token presented again revokes its session.
    pub async fn refresh(
        &self, project_id: &str, body: RefreshBody, meta: &RequestMeta,
    ) -> Result<TokenPair, ToolError> {
        required("refresh_token", &body.refresh_token)?;
        let now = self.now();
        let presented = body.refresh_token.trim();
        // An unknown token is refused after a read: only a token this
        // project issued opens a write unit.
        let known = self
            .store
            .read(async |conn| sessions::refresh_token_exists(conn, project_id, presented).await)
            .await?;
        if !known {
            return Err(invalid_refresh());
        }
        settle(
            self.store
                .write(async |conn| {
                    admit(conn, project_id, None).await?;
                    let reuse = self.settings.sessions.reuse_interval;
                    let refreshed =
                        sessions::refresh_session(conn, project_id, presented, reuse, meta, now)
                            .await?;
                    match refreshed {
                        Refreshed::Rotated {
                            session,
                            refresh_token,
                        } => self
                            .rotated(conn, project_id, &session, refresh_token, meta, now)
                            .await
                            .map(Ok),
                        Refreshed::Reused { .. } => Ok(Err(unauthenticated(
                            "this refresh token was already used, so its session has been revoked to protect the account; sign in again",
                        )
                        .with_field("refresh_token"))),
                        Refreshed::Invalid => Ok(Err(invalid_refresh())),
                    }
                })
                .await,
        )
    }

    /// The pair of a rotated session, recorded as `token.refreshed`.
    async fn rotated(
        &self, conn: &mut Conn<'_>, project_id: &str, session: &Session, refresh_token: String,
        meta: &RequestMeta, now: DateTime<Utc>,
    ) -> Result<TokenPair, ToolError> {
        let subject = TokenSubject {
            user_id: &session.user_id,
            session_id: &session.id,
            org: session.org_id.as_deref().zip(session.role.as_deref()),
        };
        let access_token = self.access_token(conn, project_id, subject, now).await?;
        user_event(
            project_id,
            EventType::TokenRefreshed,
            &session.user_id,
            meta,
        )
        .target(&session.id)
        .record(conn, now)
        .await?;
        Ok(TokenPair {
            session_id: session.id.clone(),
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: self.settings.access_ttl.num_seconds(),
            refresh_expires_in: (session.expires_at - now).num_seconds(),
        })
    }

    /// Checks an access token and its session: the claims and the session
    /// if both hold. `project_hint` is the project header, when sent.
    pub async fn authenticate(
        &self, conn: &mut Conn<'_>, project_hint: Option<&str>, token: &str, now: DateTime<Utc>,
    ) -> Result<(AccessClaims, Session), ToolError> {
        let project_id = match project_hint {
            Some(p) => p.to_owned(),
            // Only a hint: the check below verifies the signature with a
            // key of this project and that `aud` names it.
            None => jsonwebtoken::dangerous::insecure_decode_claims::<AccessClaims>(token)
                .map(|c| c.aud)
                .unwrap_or_default(),
        };
        let claims =
            match jwt::check(conn, &project_id, &self.settings.public_url, token, now).await? {
                Ok(claims) => claims,
                Err(v) => return Err(token_refusal(v.reason.unwrap_or(Reason::Malformed))),
            };
        match sessions::active_session(conn, &project_id, &claims.sid, now).await? {
            Some(session) if session.user_id == claims.sub => Ok((claims, session)),
            _ => Err(token_refusal(Reason::SessionRevoked)),
        }
    }

    /// `POST /auth/sign-out`: revokes the token's session.
    pub async fn sign_out(
        &self, project_hint: Option<&str>, token: &str, meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let now = self.now();
        self.store
            .write(async |conn| {
                let (claims, session) = self.authenticate(conn, project_hint, token, now).await?;
                sessions::revoke_session(
                    conn,
                    &claims.aud,
                    &session.id,
                    RevokedBy::SignOut,
                    meta,
                    now,
                )
                .await?;
                Ok(())
            })
            .await
    }

    /// `GET /me`, without the memberships (the organizations domain adds
    /// them in the same unit of work: see `authgate_orgs::me`).
    pub async fn me(
        &self, conn: &mut Conn<'_>, project_hint: Option<&str>, token: &str, now: DateTime<Utc>,
    ) -> Result<Me, ToolError> {
        let (claims, session) = self.authenticate(conn, project_hint, token, now).await?;
        let user = users::get(conn, &claims.aud, &claims.sub).await?;
        Ok(Me {
            user,
            session,
            memberships: Vec::new(),
            project_id: claims.aud.clone(),
        })
    }

    /// `GET /projects/{id}/jwks.json`: the published keys (made on first
    /// request when the project has none yet). While the database is out
    /// of reach the keys last published are served: verifiers keep
    /// verifying tokens already issued, and nothing new is signed then.
    pub async fn jwks(&self, project_id: &str) -> Result<Jwks, ToolError> {
        match self.read_jwks(project_id).await {
            Ok(jwks) => {
                let mut published = self
                    .published
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if published.len() >= PUBLISHED_CACHED && !published.contains_key(project_id) {
                    published.clear();
                }
                published.insert(project_id.to_owned(), jwks.clone());
                Ok(jwks)
            }
            Err(err) if err.code == ErrorCode::Unavailable => self
                .published
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(project_id)
                .cloned()
                .ok_or(err),
            Err(err) => Err(err),
        }
    }

    async fn read_jwks(&self, project_id: &str) -> Result<Jwks, ToolError> {
        let now = self.now();
        let published = self
            .store
            .read(async |conn| {
                admit(conn, project_id, None).await?;
                jwt::jwks(conn, project_id, now).await
            })
            .await?;
        if !published.keys.is_empty() {
            return Ok(published);
        }
        self.store
            .write(async |conn| {
                jwt::ensure_published(conn, &self.keys.encryption, project_id, now).await?;
                jwt::jwks(conn, project_id, now).await
            })
            .await
    }
}

/// The most projects whose key sets are kept for an outage (a few KB
/// each); past it the cache starts over.
const PUBLISHED_CACHED: usize = 10_000;

fn invalid_refresh() -> ToolError {
    unauthenticated(
        "the refresh token is unknown, expired, or its session has ended; sign in again",
    )
    .with_field("refresh_token")
}
