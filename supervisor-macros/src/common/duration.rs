//! Duration literals: `250ms`, `10s`, `2m`, `1h` (decimals allowed when the
//! result is a whole number of milliseconds: `1.5s`).

use proc_macro2::{Span, TokenStream};
use quote::{quote_spanned, ToTokens};
use syn::Lit;

use super::errors::{did_you_mean, one_of};
use super::value::Value;

const UNITS: &[&str] = &["ms", "s", "m", "h"];

/// A checked duration literal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DurationLit {
    /// The exact length in milliseconds.
    pub(crate) millis: u64,
    /// Where the literal is.
    pub(crate) span: Span,
}

impl DurationLit {
    pub(crate) fn is_zero(&self) -> bool {
        self.millis == 0
    }

    /// Parses `value` as the duration of option key `what`.
    pub(crate) fn from_value(value: &Value, what: &str) -> syn::Result<DurationLit> {
        let span = value.span();
        let example = "durations are written with a unit: `250ms`, `10s`, `2m` or `1h`";
        let (digits, suffix, is_float) = match value {
            Value::Lit(Lit::Int(i)) => (i.base10_digits().to_owned(), i.suffix().to_owned(), false),
            Value::Lit(Lit::Float(f)) => {
                (f.base10_digits().to_owned(), f.suffix().to_owned(), true)
            }
            Value::Neg(_, _) => {
                return Err(syn::Error::new(
                    span,
                    format!("`{what}` cannot be negative"),
                ));
            }
            Value::Lit(Lit::Str(s)) => {
                return Err(syn::Error::new(
                    span,
                    format!("`{what}` is a duration literal, not a string: write it without quotes, as in `{}`", s.value()),
                ));
            }
            other => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "`{what}` expects a duration such as `10s`, found {}; {example}",
                        other.describe()
                    ),
                ));
            }
        };
        if suffix.is_empty() {
            return Err(syn::Error::new(
                span,
                format!("`{digits}` has no unit; {example} (for example `{digits}s`)"),
            ));
        }
        let unit_ms: u64 = match suffix.as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            other => {
                let hint = common_spelling(other)
                    .or_else(|| did_you_mean(other, UNITS.iter().copied()))
                    .map(|u| format!("; did you mean `{digits}{u}`?"))
                    .unwrap_or_default();
                return Err(syn::Error::new(
                    span,
                    format!(
                        "unknown duration unit `{other}` (units are {}){hint}",
                        one_of(UNITS)
                    ),
                ));
            }
        };
        let too_large = || syn::Error::new(span, format!("`{what}` is too large"));
        let millis = if is_float {
            let v: f64 = digits
                .parse()
                .map_err(|_| syn::Error::new(span, "malformed number"))?;
            let ms = v * unit_ms as f64;
            if ms.fract() != 0.0 {
                return Err(syn::Error::new(
                    span,
                    format!("`{digits}{suffix}` is not a whole number of milliseconds"),
                ));
            }
            if !(0.0..=(u64::MAX / 2) as f64).contains(&ms) {
                return Err(too_large());
            }
            ms as u64
        } else {
            let v: u64 = digits.parse().map_err(|_| too_large())?;
            v.checked_mul(unit_ms).ok_or_else(too_large)?
        };
        Ok(DurationLit { millis, span })
    }

    /// Like [`from_value`](Self::from_value), and rejects zero.
    pub(crate) fn nonzero(value: &Value, what: &str, why: &str) -> syn::Result<DurationLit> {
        let d = Self::from_value(value, what)?;
        if d.is_zero() {
            return Err(syn::Error::new(
                d.span,
                format!("`{what}` must be above zero: {why}"),
            ));
        }
        Ok(d)
    }
}

fn common_spelling(s: &str) -> Option<&'static str> {
    Some(match s {
        "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minute" | "minutes" => "m",
        "msec" | "msecs" | "millis" | "milliseconds" => "ms",
        "hr" | "hrs" | "hour" | "hours" => "h",
        _ => return None,
    })
}

impl ToTokens for DurationLit {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let span = self.span;
        tokens.extend(if self.millis % 1000 == 0 {
            let secs = self.millis / 1000;
            quote_spanned!(span=> ::core::time::Duration::from_secs(#secs))
        } else {
            let ms = self.millis;
            quote_spanned!(span=> ::core::time::Duration::from_millis(#ms))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> syn::Result<DurationLit> {
        let v: Value = syn::parse::Parser::parse_str(Value::parse, src).unwrap();
        DurationLit::from_value(&v, "within")
    }

    #[test]
    fn units() {
        assert_eq!(parse("250ms").unwrap().millis, 250);
        assert_eq!(parse("10s").unwrap().millis, 10_000);
        assert_eq!(parse("2m").unwrap().millis, 120_000);
        assert_eq!(parse("1h").unwrap().millis, 3_600_000);
        assert_eq!(parse("1.5s").unwrap().millis, 1_500);
    }

    #[test]
    fn errors() {
        assert!(parse("10").unwrap_err().to_string().contains("has no unit"));
        let e = parse("10sec").unwrap_err().to_string();
        assert!(e.contains("did you mean `10s`"), "{e}");
        assert!(parse("\"10s\"")
            .unwrap_err()
            .to_string()
            .contains("without quotes"));
        assert!(parse("-1s").unwrap_err().to_string().contains("negative"));
        assert!(parse("0.5ms")
            .unwrap_err()
            .to_string()
            .contains("whole number"));
        assert!(parse("99999999999999999999h")
            .unwrap_err()
            .to_string()
            .contains("too large"));
    }
}
