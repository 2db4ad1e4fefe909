//! Phone numbers: parsed with libphonenumber's metadata (the `phonenumber`
//! crate) and kept in E.164 (`+14155550100`), so `+1 (415) 555-0100` and
//! `+14155550100` are one number.

use authgate_core::ToolError;

/// A number in E.164 with its country (ISO 3166-1 alpha-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub e164: String,
    pub country: Option<String>,
}

/// Parses an international number (it must start with `+` and its country
/// code) into E.164; a number libphonenumber does not know as valid is
/// refused, naming `field`.
pub fn normalize_phone(field: &str, raw: &str) -> Result<Phone, ToolError> {
    let bad = |why: &str| {
        ToolError::invalid(field, format!("{field} is not a valid phone number: {why}"))
            .with_hint("send it in international form with its country code, e.g. +14155550100")
    };
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 40 {
        return Err(bad("it must be 1 to 40 characters"));
    }
    if !raw.starts_with('+') {
        return Err(bad("it must start with + and the country code"));
    }
    let number = phonenumber::parse(None, raw).map_err(|_| bad("it does not parse"))?;
    if number.extension().is_some() {
        return Err(bad("an extension cannot receive SMS"));
    }
    if !number.is_valid() {
        return Err(bad("no such number in its country's plan"));
    }
    Ok(Phone {
        e164: number.format().mode(phonenumber::Mode::E164).to_string(),
        country: number.country().id().map(|id| id.as_ref().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_one_in_e164() {
        let a = normalize_phone("phone", "+1 (415) 555-0100").unwrap();
        let b = normalize_phone("phone", "+14155550100").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.e164, "+14155550100");
        assert_eq!(a.country.as_deref(), Some("US"));
        let uk = normalize_phone("phone", "+44 20 7946 0958").unwrap();
        assert_eq!(uk.e164, "+442079460958");
        assert_eq!(uk.country.as_deref(), Some("GB"));
        for bad in [
            "",
            "4155550100",
            "+1 415",
            "+999 123",
            "call me",
            "+1 415 555 0100 ext. 7",
        ] {
            let e = normalize_phone("phone", bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("phone"), "{bad}");
        }
    }
}
