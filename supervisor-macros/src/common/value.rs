//! Option values as written: `transient`, `5`, `0.2`, `10s`, `-1`.
//!
//! Both macros read option arguments through this one type, so a value of
//! the wrong kind gets the same message everywhere.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Ident, Lit, Token};

/// One value of an option argument.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// A bare word: `transient`, `on_start`, `unlimited`.
    Word(Ident),
    /// A literal: `5`, `0.2`, `10s`, `"x"`.
    Lit(Lit),
    /// A minus sign before a literal.
    Neg(Span, Lit),
}

impl Value {
    pub(crate) fn peek(input: ParseStream) -> bool {
        input.peek(Ident::peek_any) || input.peek(Lit) || input.peek(Token![-])
    }

    pub(crate) fn parse(input: ParseStream) -> syn::Result<Value> {
        if input.peek(Token![-]) {
            let minus: Token![-] = input.parse()?;
            let lit: Lit = input.parse()?;
            let span = minus.span.join(lit.span()).unwrap_or(minus.span);
            return Ok(Value::Neg(span, lit));
        }
        if input.peek(Lit) {
            return Ok(Value::Lit(input.parse()?));
        }
        if input.peek(Ident::peek_any) {
            return Ok(Value::Word(Ident::parse_any(input)?));
        }
        Err(input.error("expected a value"))
    }

    pub(crate) fn span(&self) -> Span {
        match self {
            Value::Word(w) => w.span(),
            Value::Lit(l) => l.span(),
            Value::Neg(s, _) => *s,
        }
    }

    /// How the value reads in a message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Value::Word(w) => format!("`{w}`"),
            Value::Lit(Lit::Str(s)) => format!("the string {:?}", s.value()),
            Value::Lit(l) => format!("`{}`", lit_text(l)),
            Value::Neg(_, l) => format!("`-{}`", lit_text(l)),
        }
    }

    /// An unsigned count such as `max = 5`.
    pub(crate) fn count(&self, what: &str) -> syn::Result<u32> {
        match self {
            Value::Lit(Lit::Int(i)) if i.suffix().is_empty() => {
                i.base10_parse::<u32>().map_err(|_| {
                    syn::Error::new(
                        i.span(),
                        format!("`{what}` is too large: at most {}", u32::MAX),
                    )
                })
            }
            Value::Lit(Lit::Int(i)) => Err(syn::Error::new(
                i.span(),
                format!(
                    "`{what}` is a count, not a duration: write `{what} = {}`",
                    i.base10_digits()
                ),
            )),
            Value::Neg(s, _) => Err(syn::Error::new(*s, format!("`{what}` cannot be negative"))),
            other => Err(syn::Error::new(
                other.span(),
                format!(
                    "`{what}` expects a whole number such as `{what} = 5`, found {}",
                    other.describe()
                ),
            )),
        }
    }

    /// A plain number such as `multiplier = 1.5` or `threshold = 3`.
    pub(crate) fn number(&self, what: &str) -> syn::Result<f64> {
        let bad_suffix = |span: Span, suffix: &str| {
            syn::Error::new(
                span,
                format!("`{what}` is a plain number; remove the suffix `{suffix}`"),
            )
        };
        match self {
            Value::Lit(Lit::Int(i)) if i.suffix().is_empty() => Ok(i.base10_parse::<f64>()?),
            Value::Lit(Lit::Float(f)) if f.suffix().is_empty() => Ok(f.base10_parse::<f64>()?),
            Value::Lit(Lit::Int(i)) => Err(bad_suffix(i.span(), i.suffix())),
            Value::Lit(Lit::Float(f)) => Err(bad_suffix(f.span(), f.suffix())),
            Value::Neg(s, _) => Err(syn::Error::new(*s, format!("`{what}` cannot be negative"))),
            other => Err(syn::Error::new(
                other.span(),
                format!(
                    "`{what}` expects a number such as `{what} = 1.5`, found {}",
                    other.describe()
                ),
            )),
        }
    }
}

fn lit_text(l: &Lit) -> String {
    match l {
        Lit::Int(i) => i.to_string(),
        Lit::Float(f) => f.to_string(),
        Lit::Bool(b) => b.value.to_string(),
        Lit::Str(s) => format!("{:?}", s.value()),
        other => quote::ToTokens::to_token_stream(other).to_string(),
    }
}
