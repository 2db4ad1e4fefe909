//! The one place AuthGate hashes: SHA-256 for random secrets and keys,
//! HMAC-SHA256 for everything keyed (low-entropy codes, argument hashes,
//! cursor tags, derived server keys), and lowercase hex for what is stored.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The stored form of a random secret: its SHA-256, hex. (A slow hash adds
/// nothing for 256 random bits.)
pub fn sha256_hex(secret: &str) -> String {
    hex(&sha256(secret.as_bytes()))
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = mac(key);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of `parts`, each prefixed with its length, so that no two
/// lists of parts hash alike (`["p1", "23"]` is not `["p", "123"]`).
pub fn hmac_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = mac(key);
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A keyed hash, hex: for low-entropy secrets (a 6-digit code) whose plain
/// SHA-256 could be reversed by trying every value.
pub fn keyed_hash(key: &[u8; 32], parts: &[&str]) -> String {
    let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    hex(&hmac_parts(key, &parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // FIPS 180-2 and RFC 4231 test case 2.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn keyed_hashes_depend_on_key_and_part_boundaries() {
        let k = [1u8; 32];
        let a = keyed_hash(&k, &["p", "123456"]);
        assert_eq!(a.len(), 64);
        assert_eq!(a, keyed_hash(&k, &["p", "123456"]));
        assert_ne!(a, keyed_hash(&[2u8; 32], &["p", "123456"]));
        assert_ne!(a, keyed_hash(&k, &["p1", "23456"]));
    }
}
