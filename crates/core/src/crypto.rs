//! Secrets at rest: XChaCha20-Poly1305 under the server's encryption key,
//! with the owning record's identity as associated data so a ciphertext
//! copied onto another row does not decrypt.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

use crate::ToolError;

pub fn encrypt(key: &[u8; 32], aad: &str, plaintext: &str) -> Result<String, ToolError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| ToolError::internal("encryption failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(STANDARD.encode(out))
}

pub fn decrypt(key: &[u8; 32], aad: &str, stored: &str) -> Result<String, ToolError> {
    let bytes = STANDARD
        .decode(stored)
        .map_err(|_| ToolError::internal("stored secret is not base64"))?;
    if bytes.len() < 24 {
        return Err(ToolError::internal("stored secret is truncated"));
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    let cipher = XChaCha20Poly1305::new(key.into());
    let plain = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| {
            ToolError::internal("stored secret does not decrypt; was AUTHGATE_SECRET_KEY changed?")
        })?;
    String::from_utf8(plain).map_err(|_| ToolError::internal("stored secret is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = [3u8; 32];
        let sealed = encrypt(&key, "prj_a/google", "s3cret").expect("encrypts");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            decrypt(&key, "prj_a/google", &sealed).expect("decrypts"),
            "s3cret"
        );
        assert!(decrypt(&key, "prj_b/google", &sealed).is_err());
        assert!(decrypt(&[4u8; 32], "prj_a/google", &sealed).is_err());
        assert_ne!(
            sealed,
            encrypt(&key, "prj_a/google", "s3cret").expect("encrypts")
        );
    }
}
