//! Reading the arguments of one option: bare words and `key = value`s,
//! with unknown, repeated and missing ones reported in the option's words.

use proc_macro2::Span;
use syn::Ident;

use super::ast::{RawArg, RawOption};
use super::options::usage;
use crate::common::errors::{one_of, suggestion, Errors};
use crate::common::value::Value;

/// The arguments of an option, split into bare words and `key = value`s,
/// with unknown and repeated keys reported.
pub(crate) struct Args<'a> {
    pub(crate) words: Vec<&'a Ident>,
    pub(crate) keys: Vec<(&'a Ident, &'a Value)>,
}

impl<'a> Args<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.keys.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

pub(crate) fn args<'a>(
    opt: &'a RawOption,
    words: &[&str],
    keys: &[&str],
    errors: &Errors,
) -> Option<Args<'a>> {
    let name = opt.name.to_string();
    let Some(raw) = &opt.args else {
        errors.error(
            opt.name.span(),
            format!("`{name}` needs arguments: {}", usage(&name)),
        );
        return None;
    };
    if raw.args.is_empty() {
        errors.error(
            raw.span,
            format!("`{name}()` needs arguments: {}", usage(&name)),
        );
        return None;
    }
    let mut ok = true;
    let mut out = Args {
        words: Vec::new(),
        keys: Vec::new(),
    };
    let valid: Vec<&str> = words.iter().chain(keys).copied().collect();
    for arg in &raw.args {
        match arg {
            RawArg::Key(k, v) => {
                let ks = k.to_string();
                if !keys.contains(&ks.as_str()) {
                    ok = false;
                    let hint = if words.contains(&ks.as_str()) {
                        format!("; `{ks}` takes no value: write `{name}({ks})`")
                    } else {
                        suggestion(&ks, valid.iter().copied())
                    };
                    errors.error(
                        k.span(),
                        format!(
                            "unknown key `{ks}` for `{name}`{hint}; expected {}",
                            usage(&name)
                        ),
                    );
                } else if out.get(&ks).is_some() {
                    ok = false;
                    errors.error(k.span(), format!("`{ks}` is set twice in `{name}(..)`"));
                } else {
                    out.keys.push((k, v));
                }
            }
            RawArg::Value(Value::Word(w)) => {
                let ws = w.to_string();
                if words.contains(&ws.as_str()) {
                    if out.words.iter().any(|x| *x == &ws) {
                        ok = false;
                        errors.error(w.span(), format!("`{ws}` is given twice in `{name}(..)`"));
                    } else {
                        out.words.push(w);
                    }
                } else if keys.contains(&ws.as_str()) {
                    ok = false;
                    errors.error(
                        w.span(),
                        format!(
                            "`{ws}` needs a value: `{ws} = ..`; expected {}",
                            usage(&name)
                        ),
                    );
                } else {
                    ok = false;
                    errors.error(
                        w.span(),
                        format!(
                            "unknown argument `{ws}` for `{name}`{}; expected {}",
                            suggestion(&ws, valid.iter().copied()),
                            usage(&name)
                        ),
                    );
                }
            }
            RawArg::Value(v) => {
                ok = false;
                errors.error(
                    v.span(),
                    format!(
                        "unexpected {} in `{name}(..)`; expected {}",
                        v.describe(),
                        usage(&name)
                    ),
                );
            }
        }
    }
    if ok && !out.words.is_empty() && (out.words.len() > 1 || !out.keys.is_empty()) {
        let w = out.words[0];
        errors.error(
            w.span(),
            format!(
                "`{name}({w})` takes nothing else; expected {}",
                usage(&name)
            ),
        );
        ok = false;
    }
    ok.then_some(out)
}

/// `restart(transient)`-style options: exactly one bare word out of `words`.
pub(crate) fn one_word(
    opt: &RawOption,
    what: &str,
    words: &[&str],
    errors: &Errors,
) -> Option<(String, Span)> {
    let name = opt.name.to_string();
    let Some(raw) = &opt.args else {
        errors.error(
            opt.name.span(),
            format!("`{name}` needs a value: {}", usage(&name)),
        );
        return None;
    };
    let mut it = raw.args.iter();
    let Some(first) = it.next() else {
        errors.error(
            raw.span,
            format!("`{name}()` needs a value: {}", usage(&name)),
        );
        return None;
    };
    if let Some(extra) = it.next() {
        let span = match extra {
            RawArg::Key(k, _) => k.span(),
            RawArg::Value(v) => v.span(),
        };
        errors.error(span, format!("`{name}` takes one value: {}", usage(&name)));
        return None;
    }
    match first {
        RawArg::Value(Value::Word(w)) => {
            let ws = w.to_string();
            if words.contains(&ws.as_str()) {
                Some((ws, w.span()))
            } else {
                errors.error(
                    w.span(),
                    format!(
                        "unknown {what} `{ws}`{}; expected {}",
                        suggestion(&ws, words.iter().copied()),
                        one_of(words)
                    ),
                );
                None
            }
        }
        RawArg::Key(k, _) => {
            errors.error(
                k.span(),
                format!(
                    "`{name}` takes a bare value, not `{k} = ..`: {}",
                    usage(&name)
                ),
            );
            None
        }
        RawArg::Value(v) => {
            errors.error(
                v.span(),
                format!(
                    "expected {} for `{name}`, found {}",
                    one_of(words),
                    v.describe()
                ),
            );
            None
        }
    }
}

pub(crate) fn report<T>(errors: &Errors, r: syn::Result<T>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}
