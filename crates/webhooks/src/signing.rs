//! Standard Webhooks 1.0 signatures: a secret is `whsec_` and the standard
//! base64 of 24 random bytes; a delivery is signed with HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}` keyed with the decoded secret,
//! sent as `v1,<base64>`; two live secrets (after a rotation) give two
//! signatures separated by a space.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use authgate_core::ToolError;

const PREFIX: &str = "whsec_";

/// A new secret: `whsec_` + base64 of 24 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a secret.
fn key_of(secret: &str) -> Result<Vec<u8>, ToolError> {
    let encoded = secret.strip_prefix(PREFIX).unwrap_or(secret);
    STANDARD
        .decode(encoded)
        .map_err(|_| ToolError::internal("a stored webhook secret is not base64"))
}

/// The `webhook-signature` value for one attempt, signed with each secret.
pub fn signature(
    secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8],
) -> Result<String, ToolError> {
    let mut out = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = key_of(secret)?;
        let mut signed = Vec::with_capacity(msg_id.len() + 24 + body.len());
        signed.extend_from_slice(msg_id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(timestamp.to_string().as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        let mac = authgate_core::hash::hmac(&key, &signed);
        out.push(format!("v1,{}", STANDARD.encode(mac)));
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks specification's README.
    #[test]
    fn signs_the_specifications_example() {
        let sig = signature(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .expect("signs");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_24_random_bytes_and_two_sign_twice() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"));
        assert_eq!(key_of(&a).expect("decodes").len(), 24);
        let both = signature(&[&a, &b], "msg_1", 1, b"{}").expect("signs");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature(&[&a], "msg_1", 1, b"{}").expect("a"));
        assert_eq!(parts[1], signature(&[&b], "msg_1", 1, b"{}").expect("b"));
    }
}
