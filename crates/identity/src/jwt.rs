//! Access tokens: EdDSA (Ed25519) JWTs signed with a per-project key that
//! carries a `kid`, published as a JWKS. A project has a `current` key that
//! signs, a `next` key published before it ever signs (so caches of the
//! JWKS know it by the time it does), and `retired` keys published until
//! the last token they signed has expired. Private keys are sealed with the
//! server key at rest.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use authgate_core::crypto;
use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::schema::signing_keys;

/// Leeway for `nbf`/`iat` in the future (clock skew between servers).
const SKEW_SECS: i64 = 30;
/// A `current` key is replaced after this long.
pub const ROTATE_AFTER: Duration = Duration::days(30);

/// The claims of an access token (SPEC 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessClaims {
    /// Issuer: this server's public URL.
    pub iss: String,
    /// The end user (usr_...).
    pub sub: String,
    /// The project (prj_...).
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// The session (ses_...).
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// One signing key as the database keeps it.
#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    id: String,
    project_id: String,
    /// The 32-byte Ed25519 public key, base64url.
    public_key: String,
    /// The 32-byte seed, sealed.
    private_key_enc: String,
    state: String,
    created_at: i64,
    activated_at: Option<i64>,
    publish_until: Option<i64>,
}

fn aad(project_id: &str, kid: &str) -> String {
    format!("signing_key/{project_id}/{kid}")
}

/// The 48-byte PKCS#8 v1 form of an Ed25519 seed, which jsonwebtoken reads.
fn pkcs8(seed: &[u8; 32]) -> [u8; 48] {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut out = [0u8; 48];
    out[..16].copy_from_slice(&PREFIX);
    out[16..].copy_from_slice(seed);
    out
}

fn new_key(
    encryption: &[u8; 32], project_id: &str, state: &str, now: i64,
) -> Result<KeyRow, ToolError> {
    let seed: [u8; 32] = rand::random();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let id = new_id("kid");
    let sealed = crypto::encrypt(
        encryption,
        &aad(project_id, &id),
        &URL_SAFE_NO_PAD.encode(seed),
    )?;
    Ok(KeyRow {
        public_key: URL_SAFE_NO_PAD.encode(public),
        private_key_enc: sealed,
        state: state.to_owned(),
        created_at: now,
        activated_at: (state == "current").then_some(now),
        publish_until: None,
        project_id: project_id.to_owned(),
        id,
    })
}

/// Decoded keys, by kid (kids are unique across projects; a key's public
/// part never changes, so caching it is always exact).
struct PublicKey {
    project_id: String,
    key: DecodingKey,
    /// Retired keys are published (and trusted) until then.
    publish_until: Option<i64>,
}

fn public_keys() -> &'static DashMap<String, Arc<PublicKey>> {
    static KEYS: OnceLock<DashMap<String, Arc<PublicKey>>> = OnceLock::new();
    KEYS.get_or_init(DashMap::new)
}

fn signing_cache() -> &'static DashMap<String, Arc<EncodingKey>> {
    static KEYS: OnceLock<DashMap<String, Arc<EncodingKey>>> = OnceLock::new();
    KEYS.get_or_init(DashMap::new)
}

fn decoding(row: &KeyRow) -> Result<PublicKey, ToolError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(&row.public_key)
        .map_err(|_| ToolError::internal("stored public key is not base64url"))?;
    if bytes.len() != 32 {
        return Err(ToolError::internal("stored public key is not 32 bytes"));
    }
    Ok(PublicKey {
        project_id: row.project_id.clone(),
        key: DecodingKey::from_ed_der(&bytes),
        publish_until: row.publish_until,
    })
}

async fn keys_of(conn: &mut Conn<'_>, project_id: &str) -> Result<Vec<KeyRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        signing_keys::table
            .filter(signing_keys::project_id.eq(project_id))
            .select(KeyRow::as_select())
            .order(signing_keys::id.asc())
            .load(c)
            .await?
    }))
}

/// Makes the project's first `current` and `next` keys if it has none.
async fn ensure_keys(
    conn: &mut Conn<'_>, encryption: &[u8; 32], project_id: &str, now: i64,
) -> Result<Vec<KeyRow>, ToolError> {
    let keys = keys_of(conn, project_id).await?;
    if keys.iter().any(|k| k.state == "current") {
        return Ok(keys);
    }
    conn.lock_project(project_id).await?;
    let keys = keys_of(conn, project_id).await?;
    if keys.iter().any(|k| k.state == "current") {
        return Ok(keys);
    }
    let current = new_key(encryption, project_id, "current", now)?;
    let next = new_key(encryption, project_id, "next", now)?;
    with_conn!(conn, c => {
        diesel::insert_into(signing_keys::table).values(&current).execute(c).await?;
        diesel::insert_into(signing_keys::table).values(&next).execute(c).await?;
    });
    keys_of(conn, project_id).await
}

/// Makes and publishes the project's first keys if it has none (so that
/// its JWKS can be fetched before its first token is signed).
pub async fn ensure_published(
    conn: &mut Conn<'_>, encryption: &[u8; 32], project_id: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    ensure_keys(conn, encryption, project_id, to_micros(now))
        .await
        .map(|_| ())
}

/// Rotates: the current key retires (published until its last token
/// expires), the next key (already published) starts signing, and a new
/// next key is made and published.
pub async fn rotate(
    conn: &mut Conn<'_>, encryption: &[u8; 32], project_id: &str, access_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let at = to_micros(now);
    conn.lock_project(project_id).await?;
    let keys = ensure_keys(conn, encryption, project_id, at).await?;
    let retire_until = to_micros(now + access_ttl + Duration::seconds(SKEW_SECS));
    let next = match keys.iter().find(|k| k.state == "next") {
        Some(k) => k.clone(),
        None => {
            let k = new_key(encryption, project_id, "next", at)?;
            with_conn!(conn, c => {
                diesel::insert_into(signing_keys::table).values(&k).execute(c).await?;
            });
            k
        }
    };
    let fresh = new_key(encryption, project_id, "next", at)?;
    with_conn!(conn, c => {
        diesel::update(
            signing_keys::table
                .filter(signing_keys::project_id.eq(project_id))
                .filter(signing_keys::state.eq("current")),
        )
        .set((signing_keys::state.eq("retired"), signing_keys::publish_until.eq(Some(retire_until))))
        .execute(c)
        .await?;
        diesel::update(
            signing_keys::table
                .filter(signing_keys::project_id.eq(project_id))
                .filter(signing_keys::id.eq(&next.id)),
        )
        .set((signing_keys::state.eq("current"), signing_keys::activated_at.eq(Some(at))))
        .execute(c)
        .await?;
        diesel::insert_into(signing_keys::table).values(&fresh).execute(c).await?;
        // Keys whose last token has expired are published no more.
        diesel::delete(
            signing_keys::table
                .filter(signing_keys::project_id.eq(project_id))
                .filter(signing_keys::state.eq("retired"))
                .filter(signing_keys::publish_until.lt(at)),
        )
        .execute(c)
        .await?;
    });
    // Retired keys now carry an end: decode them afresh.
    for k in &keys {
        public_keys().remove(&k.id);
    }
    Ok(next.id)
}

/// The key that signs now (made on first use, rotated when due).
async fn current_key(
    conn: &mut Conn<'_>, encryption: &[u8; 32], project_id: &str, access_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<(String, Arc<EncodingKey>), ToolError> {
    let at = to_micros(now);
    let due = |keys: &[KeyRow]| {
        keys.iter()
            .find(|k| k.state == "current")
            .and_then(|k| k.activated_at)
            .is_some_and(|t| t < to_micros(now - ROTATE_AFTER))
    };
    let mut keys = ensure_keys(conn, encryption, project_id, at).await?;
    if due(&keys) {
        // Signers that found it due together rotate once: under the
        // project's lock, the first rotates and the others find it done.
        conn.lock_project(project_id).await?;
        keys = keys_of(conn, project_id).await?;
        if due(&keys) {
            rotate(conn, encryption, project_id, access_ttl, now).await?;
            keys = keys_of(conn, project_id).await?;
        }
    }
    let current = keys
        .into_iter()
        .find(|k| k.state == "current")
        .ok_or_else(|| ToolError::internal("project has no current signing key"))?;
    if let Some(key) = signing_cache().get(&current.id) {
        return Ok((current.id, key.clone()));
    }
    let seed = crypto::decrypt(
        encryption,
        &aad(project_id, &current.id),
        &current.private_key_enc,
    )?;
    let seed: [u8; 32] = URL_SAFE_NO_PAD
        .decode(seed)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ToolError::internal("stored signing key is not a 32-byte seed"))?;
    let key = Arc::new(EncodingKey::from_ed_der(&pkcs8(&seed)));
    signing_cache().insert(current.id.clone(), key.clone());
    Ok((current.id, key))
}

/// What an access token is for.
#[derive(Debug, Clone)]
pub struct TokenSubject<'a> {
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub org: Option<(&'a str, &'a str)>,
}

/// Signs an access token for a session.
pub async fn issue(
    conn: &mut Conn<'_>, encryption: &[u8; 32], project_id: &str, issuer: &str,
    subject: TokenSubject<'_>, ttl: Duration, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let (kid, key) = current_key(conn, encryption, project_id, ttl, now).await?;
    let iat = now.timestamp();
    let claims = AccessClaims {
        iss: issuer.to_owned(),
        sub: subject.user_id.to_owned(),
        aud: project_id.to_owned(),
        exp: iat + ttl.num_seconds(),
        iat,
        nbf: iat,
        jti: new_id("jti"),
        sid: subject.session_id.to_owned(),
        org_id: subject.org.map(|(o, _)| o.to_owned()),
        role: subject.org.map(|(_, r)| r.to_owned()),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid);
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| ToolError::internal(format!("signing an access token: {e}")))
}

/// A JWK of an Ed25519 public key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub kid: String,
    pub x: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// The keys to publish: the next key, the current key, and retired keys
/// still inside their tokens' lifetime. Empty for a project that has not
/// signed a token yet (see [`ensure_published`]).
pub async fn jwks(
    conn: &mut Conn<'_>, project_id: &str, now: DateTime<Utc>,
) -> Result<Jwks, ToolError> {
    let at = to_micros(now);
    let keys = keys_of(conn, project_id).await?;
    Ok(Jwks {
        keys: keys
            .into_iter()
            .filter(|k| k.state != "retired" || k.publish_until.is_some_and(|u| u > at))
            .map(|k| Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                kid: k.id,
                x: k.public_key,
                alg: "EdDSA".into(),
                use_: "sig".into(),
            })
            .collect(),
    })
}

/// Why a token is not valid here (SPEC 5, verify_token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Malformed,
    BadSignature,
    Expired,
    NotYetValid,
    WrongProject,
    UnknownKey,
    SessionRevoked,
}

/// A token's header as verify_token shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TokenHeader {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A token's payload as shown (any JSON object).
pub type Claims = serde_json::Map<String, Value>;

/// The outcome of checking a token: `claims` are shown whenever the payload
/// parses, trusted only when `valid`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Verification {
    pub valid: bool,
    pub header: Option<TokenHeader>,
    /// The payload: iss, sub (user id), aud (project id), exp, iat, nbf,
    /// jti, sid (session id), and org_id and role when an org is active.
    pub claims: Option<Claims>,
    pub reason: Option<Reason>,
}

impl Verification {
    fn invalid(reason: Reason, header: Option<TokenHeader>, claims: Option<Claims>) -> Self {
        Verification {
            valid: false,
            header,
            claims,
            reason: Some(reason),
        }
    }
}

/// The project's public key `kid` (a key cached for another project is
/// returned too: the caller refuses it as another project's).
async fn public_key(
    conn: &mut Conn<'_>, project_id: &str, kid: &str,
) -> Result<Option<Arc<PublicKey>>, ToolError> {
    if let Some(k) = public_keys().get(kid) {
        return Ok(Some(k.clone()));
    }
    let row: Option<KeyRow> = with_conn!(conn, c => {
        signing_keys::table
            .filter(signing_keys::project_id.eq(project_id))
            .filter(signing_keys::id.eq(kid))
            .select(KeyRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let Some(row) = row else { return Ok(None) };
    let key = Arc::new(decoding(&row)?);
    public_keys().insert(row.id.clone(), key.clone());
    Ok(Some(key))
}

fn header_json(token: &str) -> Option<Header> {
    jsonwebtoken::decode_header(token).ok()
}

/// Checks a token's signature, key, project and times (not its session).
/// Returns the claims when all hold.
pub async fn check(
    conn: &mut Conn<'_>, project_id: &str, issuer: &str, token: &str, now: DateTime<Utc>,
) -> Result<Result<AccessClaims, Verification>, ToolError> {
    let token = token.trim();
    let unverified: Option<Claims> = jsonwebtoken::dangerous::insecure_decode_claims(token).ok();
    let Some(header) = header_json(token) else {
        return Ok(Err(Verification::invalid(
            Reason::Malformed,
            None,
            unverified,
        )));
    };
    let shown = TokenHeader {
        alg: format!("{:?}", header.alg),
        kid: header.kid.clone(),
        typ: header.typ.clone(),
    };
    let fail = |reason| {
        Ok(Err(Verification::invalid(
            reason,
            Some(shown.clone()),
            unverified.clone(),
        )))
    };
    if header.alg != Algorithm::EdDSA {
        // alg confusion (HS256 "signed" with the public key, RS*, ...).
        return fail(Reason::BadSignature);
    }
    let Some(kid) = header.kid.as_deref() else {
        return fail(Reason::UnknownKey);
    };
    let Some(key) = public_key(conn, project_id, kid).await? else {
        // Not a key of this project: a token that names another project
        // is that project's (nothing of it is read); else the key is unknown.
        let foreign = unverified
            .as_ref()
            .and_then(|c| c.get("aud"))
            .and_then(Value::as_str)
            .is_some_and(|aud| aud != project_id);
        return fail(if foreign {
            Reason::WrongProject
        } else {
            Reason::UnknownKey
        });
    };
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = match jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            return fail(match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => Reason::BadSignature,
                _ => Reason::Malformed,
            });
        }
    };
    if key.project_id != project_id || claims.aud != project_id {
        return fail(Reason::WrongProject);
    }
    if claims.iss != issuer {
        return fail(Reason::WrongProject);
    }
    let at = to_micros(now);
    if key.publish_until.is_some_and(|u| u <= at) {
        return fail(Reason::UnknownKey);
    }
    let secs = now.timestamp();
    if claims.exp <= secs {
        return fail(Reason::Expired);
    }
    if claims.nbf > secs + SKEW_SECS || claims.iat > secs + SKEW_SECS {
        return fail(Reason::NotYetValid);
    }
    Ok(Ok(claims))
}

/// Checks a token fully, as verify_token answers: signature, key,
/// project, times, and that its session is still active. An invalid token
/// is an answer, not an error.
pub async fn verify(
    conn: &mut Conn<'_>, project_id: &str, issuer: &str, token: &str, now: DateTime<Utc>,
) -> Result<Verification, ToolError> {
    let claims = match check(conn, project_id, issuer, token, now).await? {
        Ok(claims) => claims,
        Err(refused) => return Ok(refused),
    };
    let header = header_json(token.trim()).map(|h| TokenHeader {
        alg: format!("{:?}", h.alg),
        kid: h.kid,
        typ: h.typ,
    });
    let shown = match serde_json::to_value(&claims) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let live = authgate_sessions::active_session(conn, project_id, &claims.sid, now)
        .await?
        .is_some_and(|s| s.user_id == claims.sub);
    if !live {
        return Ok(Verification::invalid(Reason::SessionRevoked, header, shown));
    }
    Ok(Verification {
        valid: true,
        header,
        claims: shown,
        reason: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_wraps_a_seed_that_signs_and_verifies() {
        let seed: [u8; 32] = rand::random();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let enc = EncodingKey::from_ed_der(&pkcs8(&seed));
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("kid_1".into());
        let token = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"sub": "x", "exp": 4_000_000_000u64}),
            &enc,
        )
        .expect("signs");
        let dec = DecodingKey::from_ed_der(&public);
        let data = jsonwebtoken::decode::<Value>(&token, &dec, &Validation::new(Algorithm::EdDSA))
            .expect("verifies");
        assert_eq!(data.claims["sub"], "x");
        let other: [u8; 32] = rand::random();
        let wrong = DecodingKey::from_ed_der(
            &ed25519_dalek::SigningKey::from_bytes(&other)
                .verifying_key()
                .to_bytes(),
        );
        assert!(
            jsonwebtoken::decode::<Value>(&token, &wrong, &Validation::new(Algorithm::EdDSA))
                .is_err()
        );
    }
}
