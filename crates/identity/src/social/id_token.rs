//! ID tokens of OpenID providers, checked as OpenID Connect Core 3.1.3.7
//! says: RS256 or ES256 only (never `none` or an HMAC keyed with a public
//! key), a key the provider publishes, `aud` = our client id (`azp` when
//! there are several), the provider's issuer, 60 s of clock leeway, and the
//! nonce this sign-in sent. Then each provider's own rules: Google's hosted
//! domain, Microsoft's tenant, and what "email verified" means for each.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use authgate_core::hash::sha256_hex;
use authgate_core::secrets::same;

use super::providers::Provider;
use super::{Profile, ProviderFailure, SocialSettings};

/// Microsoft's tenant of personal accounts.
const CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// What an ID token must show.
pub struct Expected<'a> {
    pub provider: Provider,
    pub client_id: &'a str,
    pub nonce_hash: &'a str,
    pub hosted_domain: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub allowed_tenants: Option<&'a [String]>,
}

fn fail(detail: impl Into<String>) -> ProviderFailure {
    ProviderFailure::new(format!("ID token: {}", detail.into()))
}

/// A claim that is `true` or the string `"true"` (Apple sends strings).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn text(claims: &Value, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// Checks the token and reads who it is about.
pub async fn validate(
    social: &SocialSettings, jwks_uri: &str, token: &str, exp: &Expected<'_>,
) -> Result<Profile, ProviderFailure> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| fail("not a signed JWT"))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(fail(format!(
            "signed with {:?}; only RS256 and ES256 are accepted",
            header.alg
        )));
    }
    let kid = header.kid.ok_or_else(|| fail("no kid in its header"))?;
    let jwk = social.keys.key(&social.http, jwks_uri, &kid).await?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| fail("the provider's key is unusable"))?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = 60;
    validation.set_audience(&[exp.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| fail(format!("{:?}", e.kind())))?
        .claims;

    let tid = text(&claims, "tid");
    let iss = text(&claims, "iss").unwrap_or_default();
    let issuers = social.endpoints.issuers(exp.provider, tid.as_deref());
    if !issuers.contains(&iss) {
        return Err(fail(format!("issuer {iss:.120} is not the provider's")));
    }
    if let Some(Value::Array(auds)) = claims.get("aud")
        && auds.len() > 1
        && text(&claims, "azp").as_deref() != Some(exp.client_id)
    {
        return Err(fail("several audiences and azp is not our client"));
    }
    let nonce = text(&claims, "nonce").unwrap_or_default();
    if nonce.is_empty() || !same(&sha256_hex(&nonce), exp.nonce_hash) {
        return Err(fail("its nonce is not this sign-in's"));
    }
    if let Some(hd) = exp.hosted_domain
        && text(&claims, "hd").as_deref() != Some(hd)
    {
        return Err(fail("the account is not in the required hosted domain"));
    }
    if exp.provider == Provider::Azure {
        check_tenant(tid.as_deref(), exp.tenant, exp.allowed_tenants)?;
    }
    let subject = text(&claims, "sub").unwrap_or_default();
    if subject.is_empty() || subject.len() > 255 {
        return Err(fail("no usable sub"));
    }
    let email_verified = match exp.provider {
        // Microsoft vouches for an address only with xms_edov.
        Provider::Azure => truthy(claims.get("xms_edov")),
        _ => truthy(claims.get("email_verified")),
    };
    Ok(Profile {
        subject,
        email: text(&claims, "email"),
        email_verified,
        name: text(&claims, "name"),
    })
}

fn check_tenant(
    tid: Option<&str>, tenant: Option<&str>, allowed: Option<&[String]>,
) -> Result<(), ProviderFailure> {
    let tid = tid.ok_or_else(|| fail("no tid"))?;
    let fits = match tenant.unwrap_or("common") {
        "common" => true,
        "consumers" => tid == CONSUMERS_TENANT,
        "organizations" => tid != CONSUMERS_TENANT,
        id => tid.eq_ignore_ascii_case(id),
    };
    let listed = allowed.is_none_or(|list| list.iter().any(|t| t.eq_ignore_ascii_case(tid)));
    if fits && listed {
        Ok(())
    } else {
        Err(fail(format!("tenant {tid:.40} may not sign in")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_follow_the_setting_and_the_allow_list() {
        let org = "11111111-2222-3333-4444-555555555555";
        assert!(check_tenant(Some(org), None, None).is_ok());
        assert!(check_tenant(Some(org), Some("organizations"), None).is_ok());
        assert!(check_tenant(Some(CONSUMERS_TENANT), Some("organizations"), None).is_err());
        assert!(check_tenant(Some(org), Some("consumers"), None).is_err());
        assert!(check_tenant(Some(org), Some(org), None).is_ok());
        assert!(check_tenant(Some(org), Some(CONSUMERS_TENANT), None).is_err());
        let list = vec![org.to_owned()];
        assert!(check_tenant(Some(org), None, Some(&list)).is_ok());
        assert!(check_tenant(Some(CONSUMERS_TENANT), None, Some(&list)).is_err());
        assert!(check_tenant(None, None, None).is_err());
    }

    #[test]
    fn apple_says_true_as_a_string() {
        assert!(truthy(Some(&Value::String("true".into()))));
        assert!(truthy(Some(&Value::Bool(true))));
        assert!(!truthy(Some(&Value::String("false".into()))));
        assert!(!truthy(None));
    }
}
