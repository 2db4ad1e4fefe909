//! One-time proofs sent by mail. Email verification codes are 6 digits,
//! stored as a keyed hash (a plain hash of six digits is reversed by trying
//! a million values), valid 15 minutes, for at most 5 tries; a new code
//! replaces the old ones. Password reset (1 h) and magic link (15 min)
//! tokens are 256 random bits stored as SHA-256, each used once: the
//! update that marks it used decides, so two uses cannot both succeed.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::Rng as _;

use authgate_core::hash::{keyed_hash, sha256_hex};
use authgate_core::secrets::{new_secret, same};
use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::schema::{auth_tokens, verification_codes};

pub const MAX_CODE_TRIES: i64 = 5;

fn code_hash(key: &[u8; 32], project_id: &str, user_id: &str, code: &str) -> String {
    keyed_hash(key, &[project_id, user_id, code])
}

/// Deletes the user's codes (a new one replaces them; a used one is gone).
pub(crate) async fn clear_codes(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::delete(
            verification_codes::table
                .filter(verification_codes::project_id.eq(project_id))
                .filter(verification_codes::user_id.eq(user_id)),
        )
        .execute(c)
        .await?;
    });
    Ok(())
}

/// A fresh 6-digit code for a user (earlier ones stop working); returns
/// the code, to put in the mail only.
pub async fn new_code(
    conn: &mut Conn<'_>, key: &[u8; 32], project_id: &str, user_id: &str, ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let at = to_micros(now);
    clear_codes(conn, project_id, user_id).await?;
    with_conn!(conn, c => {
        diesel::insert_into(verification_codes::table)
            .values((
                verification_codes::id.eq(new_id("vc")),
                verification_codes::project_id.eq(project_id),
                verification_codes::user_id.eq(user_id),
                verification_codes::code_hash.eq(code_hash(key, project_id, user_id, &code)),
                verification_codes::attempts.eq(0i64),
                verification_codes::expires_at.eq(to_micros(now + ttl)),
                verification_codes::created_at.eq(at),
            ))
            .execute(c)
            .await?;
    });
    Ok(code)
}

/// How checking a code came out. A wrong code counts a try (and the unit
/// of work must commit, so the caller answers the error after committing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Valid,
    Wrong {
        tries_left: i64,
    },
    /// None, expired, or out of tries: a new code is needed.
    Expired,
}

pub async fn check_code(
    conn: &mut Conn<'_>, key: &[u8; 32], project_id: &str, user_id: &str, code: &str,
    now: DateTime<Utc>,
) -> Result<CodeCheck, ToolError> {
    let at = to_micros(now);
    let row: Option<(String, String, i64, i64)> = with_conn!(conn, c => {
        verification_codes::table
            .filter(verification_codes::project_id.eq(project_id))
            .filter(verification_codes::user_id.eq(user_id))
            .select((
                verification_codes::id,
                verification_codes::code_hash,
                verification_codes::attempts,
                verification_codes::expires_at,
            ))
            .order(verification_codes::id.desc())
            .first(c)
            .await
            .optional()?
    });
    let Some((id, stored, attempts, expires_at)) = row else {
        return Ok(CodeCheck::Expired);
    };
    if expires_at <= at || attempts >= MAX_CODE_TRIES {
        return Ok(CodeCheck::Expired);
    }
    // Count the try first (atomically, only while tries are left).
    let counted = with_conn!(conn, c => {
        diesel::update(
            verification_codes::table
                .filter(verification_codes::project_id.eq(project_id))
                .filter(verification_codes::id.eq(&id))
                .filter(verification_codes::attempts.lt(MAX_CODE_TRIES)),
        )
        .set(verification_codes::attempts.eq(verification_codes::attempts + 1))
        .execute(c)
        .await?
    });
    if counted == 0 {
        return Ok(CodeCheck::Expired);
    }
    let digits = code.trim();
    let well_formed = digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit());
    if well_formed && same(&code_hash(key, project_id, user_id, digits), &stored) {
        // Single use: the code is gone once it has worked.
        clear_codes(conn, project_id, user_id).await?;
        return Ok(CodeCheck::Valid);
    }
    Ok(CodeCheck::Wrong {
        tries_left: (MAX_CODE_TRIES - attempts - 1).max(0),
    })
}

/// What a one-time link token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    PasswordReset,
    MagicLink,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::PasswordReset => "password_reset",
            TokenKind::MagicLink => "magic_link",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            TokenKind::PasswordReset => "agpr_",
            TokenKind::MagicLink => "agml_",
        }
    }
}

/// A new link token for a user; returns it (for the mail only) and when it
/// expires.
/// Every kind of link.
pub const ALL_LINKS: &[TokenKind] = &[TokenKind::PasswordReset, TokenKind::MagicLink];

/// Spends every unused link of `kinds` of the user, so none works any
/// more: a newer link of the same kind, a completed reset and an email
/// change each void the older ones.
pub async fn void_tokens(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, kinds: &[TokenKind], now: DateTime<Utc>,
) -> Result<usize, ToolError> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    Ok(with_conn!(conn, c => {
        diesel::update(
            auth_tokens::table
                .filter(auth_tokens::project_id.eq(project_id))
                .filter(auth_tokens::user_id.eq(user_id))
                .filter(auth_tokens::kind.eq_any(&kinds))
                .filter(auth_tokens::used_at.is_null()),
        )
        .set(auth_tokens::used_at.eq(Some(to_micros(now))))
        .execute(c)
        .await?
    }))
}

/// A fresh link of `kind` for the user; older unused ones of that kind
/// stop working.
pub async fn new_token(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, kind: TokenKind, ttl: Duration,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), ToolError> {
    void_tokens(conn, project_id, user_id, &[kind], now).await?;
    let token = new_secret(kind.prefix());
    let expires = now + ttl;
    with_conn!(conn, c => {
        diesel::insert_into(auth_tokens::table)
            .values((
                auth_tokens::id.eq(new_id("tok")),
                auth_tokens::project_id.eq(project_id),
                auth_tokens::user_id.eq(user_id),
                auth_tokens::kind.eq(kind.as_str()),
                auth_tokens::token_hash.eq(sha256_hex(&token)),
                auth_tokens::expires_at.eq(to_micros(expires)),
                auth_tokens::created_at.eq(to_micros(now)),
            ))
            .execute(c)
            .await?;
    });
    Ok((token, expires))
}

/// The unused, unexpired link token of `kind`: its id and user.
/// A link token as presented: its project, the token and its kind.
#[derive(Clone, Copy)]
pub struct Presented<'a> {
    pub project_id: &'a str,
    pub token: &'a str,
    pub kind: TokenKind,
}

async fn find_token(
    conn: &mut Conn<'_>, link: Presented<'_>, at: i64,
) -> Result<Option<(String, String)>, ToolError> {
    let hash = sha256_hex(link.token.trim());
    Ok(with_conn!(conn, c => {
        auth_tokens::table
            .filter(auth_tokens::project_id.eq(link.project_id))
            .filter(auth_tokens::token_hash.eq(&hash))
            .filter(auth_tokens::kind.eq(link.kind.as_str()))
            .filter(auth_tokens::used_at.is_null())
            .filter(auth_tokens::expires_at.gt(at))
            .select((auth_tokens::id, auth_tokens::user_id))
            .first(c)
            .await
            .optional()?
    }))
}

/// The user a link token is for, if it is usable, without spending it
/// (to refuse a bad token before any costly work).
pub async fn token_user(
    conn: &mut Conn<'_>, link: Presented<'_>, now: DateTime<Utc>,
) -> Result<Option<String>, ToolError> {
    Ok(find_token(conn, link, to_micros(now))
        .await?
        .map(|(_, user)| user))
}

/// Spends a link token: the user it was for, if it is of `kind`, unused
/// and unexpired. Marking it used is the check, so it works once only.
pub async fn use_token(
    conn: &mut Conn<'_>, link: Presented<'_>, now: DateTime<Utc>,
) -> Result<Option<String>, ToolError> {
    let at = to_micros(now);
    let project_id = link.project_id;
    let Some((id, user_id)) = find_token(conn, link, at).await? else {
        return Ok(None);
    };
    let spent = with_conn!(conn, c => {
        diesel::update(
            auth_tokens::table
                .filter(auth_tokens::project_id.eq(project_id))
                .filter(auth_tokens::id.eq(&id))
                .filter(auth_tokens::used_at.is_null()),
        )
        .set(auth_tokens::used_at.eq(Some(at)))
        .execute(c)
        .await?
    });
    Ok((spent == 1).then_some(user_id))
}

/// Deletes one-time tokens (links) used or expired before `cutoff`, and
/// codes expired before it, in every project (a maintenance sweep).
pub(crate) async fn prune(conn: &mut Conn<'_>, cutoff: DateTime<Utc>) -> Result<usize, ToolError> {
    let cutoff = to_micros(cutoff);
    Ok(with_conn!(conn, c => {
        let links = diesel::delete(
            auth_tokens::table.filter(auth_tokens::used_at.lt(cutoff).or(auth_tokens::expires_at.lt(cutoff))),
        )
        .execute(c)
        .await?;
        let codes = diesel::delete(verification_codes::table.filter(verification_codes::expires_at.lt(cutoff)))
            .execute(c)
            .await?;
        links + codes
    }))
}
