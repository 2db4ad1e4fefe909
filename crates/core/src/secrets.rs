//! One-time secrets handed to end users (refresh tokens, reset and magic
//! link tokens): random, shown once, stored only as a hash
//! ([`crate::hash::sha256_hex`]), compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

/// A new secret: `prefix` and 32 random bytes, base64url (256 bits).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Compares two secrets (or their hashes) in constant time.
pub fn same(a: &str, b: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256_hex;

    #[test]
    fn secrets_are_random_and_their_hashes_compare() {
        let a = new_secret("rt_");
        let b = new_secret("rt_");
        assert!(a.starts_with("rt_") && a.len() == 3 + 43);
        assert_ne!(a, b);
        assert!(same(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            &sha256_hex("abc")
        ));
        assert!(!same(&sha256_hex(&a), &sha256_hex(&b)));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
