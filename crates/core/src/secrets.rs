//! One-time secrets handed to end users (refresh tokens, reset and magic
//! link tokens): random, shown once, stored only as a hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// A new secret: `prefix` and 32 random bytes, base64url (256 bits).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a random secret: its SHA-256, hex. (A slow hash adds
/// nothing for 256 random bits.)
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A keyed hash, hex: for low-entropy secrets (a 6-digit code) whose plain
/// SHA-256 could be reversed by trying every value.
pub fn keyed_hash(key: &[u8; 32], parts: &[&str]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two secrets (or their hashes) in constant time.
pub fn same(a: &str, b: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()))
}

/// Where a request came from, for audit events and throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub ip: Option<String>,
    /// Cut to 300 characters.
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl RequestMeta {
    pub fn new(ip: Option<String>, user_agent: Option<&str>, request_id: Option<String>) -> Self {
        Self {
            ip,
            user_agent: user_agent.map(|u| u.chars().take(300).collect()),
            request_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hash_stably() {
        let a = new_secret("rt_");
        assert!(a.starts_with("rt_") && a.len() == 3 + 43);
        assert_ne!(a, new_secret("rt_"));
        assert_eq!(sha256_hex(&a), sha256_hex(&a));
        assert_eq!(sha256_hex(&a).len(), 64);
        assert!(same(&sha256_hex(&a), &sha256_hex(&a)));
        assert!(!same("a", "b"));
        let k = [1u8; 32];
        assert_ne!(
            keyed_hash(&k, &["p", "123456"]),
            keyed_hash(&[2u8; 32], &["p", "123456"])
        );
        assert_ne!(
            keyed_hash(&k, &["p1", "23456"]),
            keyed_hash(&k, &["p", "123456"])
        );
    }
}
