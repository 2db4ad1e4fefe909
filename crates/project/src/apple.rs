//! Apple's .p8 key: a P-256 private key in PKCS#8 PEM, which Sign in with
//! Apple takes in place of a client secret (AuthGate signs a short JWT with
//! it for each token request).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The PKCS#8 DER inside a `-----BEGIN PRIVATE KEY-----` PEM.
pub fn p8_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")?
        .trim_end()
        .strip_suffix("-----END PRIVATE KEY-----")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// Whether `pem` is a P-256 private key that signs ES256.
pub fn is_p256_key(pem: &str) -> bool {
    let Some(der) = p8_der(pem) else {
        return false;
    };
    let key = jsonwebtoken::EncodingKey::from_ec_der(&der);
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    jsonwebtoken::encode(&header, &serde_json::json!({"probe": true}), &key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_p256_pkcs8_pem_is_a_key() {
        // A P-256 key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256).
        let p256 = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgg3DRbdl5ZdpNfD6I
vTgrbLLZdmOWFohy9o89lPxHuPyhRANCAAQhxvPxVcK8mHqQgYQ+VHDSKTTSL7Lv
LZ6DCWqnqZ00fjlwtMjpse1TRWay4sl4LfdHFNzCI+cTzvhEtbWe46TX
-----END PRIVATE KEY-----
";
        assert!(is_p256_key(p256));
        assert!(!is_p256_key("not a key"));
        assert!(!is_p256_key(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        ));
        // An Ed25519 key in the same wrapping is not Apple's kind.
        let ed = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIGWx0zWaCMDOnVezsprMta5Jr11PKQz7r2lWReWPN4Wl
-----END PRIVATE KEY-----";
        assert!(!is_p256_key(ed));
    }
}
