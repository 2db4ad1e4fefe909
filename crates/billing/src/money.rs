//! Money without floating point: amounts are integer minor units plus an
//! ISO currency. Tools accept major units as a JSON number or string
//! (`19`, `"19.00"`) and are parsed from their decimal text, never through
//! arithmetic on a float.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use authgate_core::ToolError;

/// The largest amount accepted: 1 billion major units.
const MAX_MINOR: i64 = 100_000_000_000;

/// Currencies and their number of decimals (ISO 4217). Others are refused
/// until someone needs them.
const CURRENCIES: &[(&str, u32)] = &[
    ("usd", 2),
    ("eur", 2),
    ("gbp", 2),
    ("cad", 2),
    ("aud", 2),
    ("chf", 2),
    ("sek", 2),
    ("nok", 2),
    ("dkk", 2),
    ("pln", 2),
    ("brl", 2),
    ("inr", 2),
    ("sgd", 2),
    ("jpy", 0),
    ("krw", 0),
];

pub fn validate_currency(field: &str, currency: &str) -> Result<(String, u32), ToolError> {
    let c = currency.trim().to_ascii_lowercase();
    CURRENCIES
        .iter()
        .find(|(code, _)| *code == c)
        .map(|(code, d)| ((*code).to_owned(), *d))
        .ok_or_else(|| {
            ToolError::invalid(field, format!("'{currency}' is not a supported currency"))
                .with_hint("use an ISO 4217 code such as usd, eur, gbp or jpy")
        })
}

/// Parses a major-unit amount (`19`, `19.5`, `"19.00"`) into minor units.
pub fn parse_amount(field: &str, value: &Value, decimals: u32) -> Result<i64, ToolError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => {
            return Err(ToolError::invalid(
                field,
                format!("{field} must be an amount such as 19 or \"19.00\""),
            ));
        }
    };
    let bad = |why: &str| {
        ToolError::invalid(
            field,
            format!("{field} '{text}' is not a valid amount: {why}"),
        )
    };
    if text.starts_with('-') {
        return Err(bad("it must not be negative"));
    }
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("use digits with at most one decimal point"));
    }
    if frac.len() > decimals as usize {
        return Err(bad(&format!("this currency has {decimals} decimal places")));
    }
    let scale = 10i64.pow(decimals);
    let whole: i64 = whole.parse().map_err(|_| bad("too large"))?;
    let mut frac_minor: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad("too large"))?
    };
    for _ in frac.len()..decimals as usize {
        frac_minor *= 10;
    }
    let minor = whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(frac_minor))
        .filter(|m| *m <= MAX_MINOR)
        .ok_or_else(|| bad("too large"))?;
    Ok(minor)
}

/// An amount as tools show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Amount {
    /// Major units as a decimal string ("19.00").
    pub amount: String,
    /// Minor units (1900).
    pub amount_cents: i64,
    pub currency: String,
}

pub fn amount(minor: i64, currency: &str) -> Amount {
    let decimals = CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map(|(_, d)| *d)
        .unwrap_or(2);
    let text = if decimals == 0 {
        minor.to_string()
    } else {
        let scale = 10i64.pow(decimals);
        format!(
            "{}.{:0width$}",
            minor / scale,
            minor % scale,
            width = decimals as usize
        )
    };
    Amount {
        amount: text,
        amount_cents: minor,
        currency: currency.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_parse_exactly_or_are_refused_naming_the_field() {
        assert_eq!(parse_amount("p", &json!(19), 2).ok(), Some(1900));
        assert_eq!(parse_amount("p", &json!("19.00"), 2).ok(), Some(1900));
        assert_eq!(parse_amount("p", &json!(19.5), 2).ok(), Some(1950));
        assert_eq!(parse_amount("p", &json!("0.07"), 2).ok(), Some(7));
        assert_eq!(parse_amount("p", &json!(1000), 0).ok(), Some(1000));
        for bad in [
            json!(19.999),
            json!(-1),
            json!("-1"),
            json!("1e3"),
            json!("abc"),
            json!(""),
            json!(true),
            json!("1.2.3"),
            json!("99999999999999999999"),
        ] {
            let err = parse_amount("monthly_price", &bad, 2).expect_err(&bad.to_string());
            assert_eq!(err.field.as_deref(), Some("monthly_price"), "{bad}");
        }
        assert!(
            parse_amount("p", &json!("1.5"), 0).is_err(),
            "yen has no decimals"
        );
        assert_eq!(amount(1900, "usd").amount, "19.00");
        assert_eq!(amount(7, "usd").amount, "0.07");
        assert_eq!(amount(1000, "jpy").amount, "1000");
    }
}
