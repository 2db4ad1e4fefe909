//! Sign in with Apple's client secret: not a stored string but an ES256
//! JWT AuthGate signs with the developer's .p8 key for each token request
//! (kid = Key ID, iss = Team ID, sub = the Services ID, aud = Apple).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::ProviderFailure;

/// Apple's audience for client secrets.
const AUDIENCE: &str = "https://appleid.apple.com";

/// A client secret good for five minutes (Apple allows up to six months;
/// each token request makes a fresh one, so a leaked one soon dies).
pub fn client_secret(
    p8_pem: &str, team_id: &str, key_id: &str, client_id: &str, now: i64,
) -> Result<String, ProviderFailure> {
    let der = authgate_project::apple::p8_der(p8_pem)
        .ok_or_else(|| ProviderFailure::new("apple: the stored .p8 key is not a PEM key"))?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    let claims = json!({
        "iss": team_id,
        "iat": now,
        "exp": now + 300,
        "aud": AUDIENCE,
        "sub": client_id,
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&der))
        .map_err(|_| ProviderFailure::new("apple: the stored .p8 key does not sign ES256"))
}
