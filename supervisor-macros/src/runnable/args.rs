//! The arguments of `#[runnable(restart = .., shutdown = .., ready = on_start)]`:
//! defaults of the node that tree options override.

use proc_macro2::{TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, Token};

use crate::common::duration::DurationLit;
use crate::common::errors::{one_of, suggestion, Errors};
use crate::common::value::Value;
use crate::tree::kw::RESTARTS;
use crate::tree::model::{Restart, Shutdown};

const KEYS: &[&str] = &["restart", "shutdown", "ready"];

/// The defaults a `#[runnable]` function carries.
#[derive(Default)]
pub(crate) struct RunnableArgs {
    pub(crate) restart: Option<Restart>,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) ready_on_start: bool,
}

fn usage(key: &str) -> &'static str {
    match key {
        "restart" => "`restart = permanent`, `restart = transient` or `restart = temporary`",
        "shutdown" => "`shutdown = 5s`, `shutdown = brutal` or `shutdown = infinity`",
        _ => "`ready = on_start`",
    }
}

/// Parses the attribute's arguments, recording errors.
pub(crate) fn parse(tokens: TokenStream, errors: &Errors) -> RunnableArgs {
    let parser = |input: ParseStream| {
        let mut out = RunnableArgs::default();
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            if let Err(e) = parse_one(input, &mut out, &mut seen, errors) {
                errors.push(e);
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<TokenTree>()?;
                }
            }
            if input.is_empty() {
                break;
            }
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(out)
    };
    match parser.parse2(tokens) {
        Ok(a) => a,
        Err(e) => {
            errors.push(e);
            RunnableArgs::default()
        }
    }
}

fn parse_one(
    input: ParseStream,
    out: &mut RunnableArgs,
    seen: &mut Vec<String>,
    errors: &Errors,
) -> syn::Result<()> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(format!(
            "expected `key = value`; `#[runnable]` takes {}",
            one_of(KEYS).replace(" or ", " and ")
        )));
    }
    let key = Ident::parse_any(input)?;
    let k = key.to_string();
    if !KEYS.contains(&k.as_str()) {
        return Err(syn::Error::new(
            key.span(),
            format!(
                "unknown argument `{k}`{}; `#[runnable]` takes {}",
                suggestion(&k, KEYS.iter().copied()),
                one_of(KEYS).replace(" or ", " and ")
            ),
        ));
    }
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span(),
            format!("`{k}` needs a value: {}", usage(&k)),
        ));
    }
    input.parse::<Token![=]>()?;
    let value = Value::parse(input)?;
    if !input.is_empty() && !input.peek(Token![,]) {
        return Err(input.error("expected `,` between arguments"));
    }
    if seen.contains(&k) {
        errors.error(key.span(), format!("`{k}` is set twice"));
        return Ok(());
    }
    seen.push(k.clone());
    let word = |v: &Value| match v {
        Value::Word(w) => Some(w.to_string()),
        _ => None,
    };
    match k.as_str() {
        "restart" => match word(&value).as_deref() {
            Some("permanent") => out.restart = Some(Restart::Permanent),
            Some("transient") => out.restart = Some(Restart::Transient),
            Some("temporary") => out.restart = Some(Restart::Temporary),
            Some(other) => errors.error(
                value.span(),
                format!(
                    "unknown restart type `{other}`{}; expected {}",
                    suggestion(other, RESTARTS.iter().copied()),
                    usage("restart")
                ),
            ),
            None => errors.error(
                value.span(),
                format!("expected {}, found {}", usage("restart"), value.describe()),
            ),
        },
        "shutdown" => match word(&value).as_deref() {
            Some("brutal") => out.shutdown = Some(Shutdown::Brutal),
            Some("infinity") => out.shutdown = Some(Shutdown::Infinity),
            Some(other) => errors.error(
                value.span(),
                format!(
                    "unknown shutdown `{other}`{}; expected {}",
                    suggestion(other, ["brutal", "infinity"]),
                    usage("shutdown")
                ),
            ),
            None => match DurationLit::from_value(&value, "shutdown") {
                Ok(d) => out.shutdown = Some(Shutdown::Timeout(d)),
                Err(e) => errors.push(e),
            },
        },
        _ => match word(&value).as_deref() {
            Some("on_start") => out.ready_on_start = true,
            _ => errors.error(
                value.span(),
                format!(
                    "unknown readiness {}{}; expected `ready = on_start`",
                    value.describe(),
                    word(&value)
                        .map(|w| suggestion(&w, ["on_start"]))
                        .unwrap_or_default()
                ),
            ),
        },
    }
    Ok(())
}
