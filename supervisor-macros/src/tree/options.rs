//! Reading the options of one node: one function per option, each with its
//! own messages naming the valid values (tokio-macros style).
//!
//! Only checks that need nothing but the option itself live here (value
//! kinds, ranges, zero durations, `initial` above `max`); checks that
//! depend on where the option sits are in `validate`.

use proc_macro2::Span;
use syn::Ident;

use super::args::{args, one_word, report};
use super::ast::{RawArg, RawOption};
use super::kw;
use super::model::{AutoShutdown, Backoff, Decay, Intensity, Restart, Shutdown, Strategy};
use crate::common::duration::DurationLit;
use crate::common::errors::{one_of, suggestion, Errors};
use crate::common::value::Value;

/// An option that was set, with the span of its name and of its value.
pub(crate) struct Set<T> {
    pub(crate) key: Ident,
    pub(crate) value: T,
    pub(crate) value_span: Span,
}

/// Every option of one node, as written (each at most once).
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) strategy: Option<Set<Strategy>>,
    pub(crate) intensity: Option<Set<Intensity>>,
    pub(crate) decay: Option<Set<Decay>>,
    pub(crate) restart: Option<Set<Restart>>,
    pub(crate) backoff: Option<Set<Backoff>>,
    pub(crate) shutdown: Option<Set<Shutdown>>,
    pub(crate) start_timeout: Option<Set<DurationLit>>,
    pub(crate) ready: Option<Set<()>>,
    pub(crate) after: Option<Set<Vec<Ident>>>,
    pub(crate) watchdog: Option<Set<DurationLit>>,
    pub(crate) significant: Option<Set<()>>,
    pub(crate) auto_shutdown: Option<Set<AutoShutdown>>,
}

/// How each option is written, for messages.
pub(crate) fn usage(option: &str) -> &'static str {
    match option {
        "strategy" => "`strategy(one_for_one)`, `strategy(one_for_all)` or `strategy(rest_for_one)`",
        "intensity" => "`intensity(max = 5, within = 10s)` or `intensity(unlimited)`",
        "decay" => "`decay(half_life = 30s, threshold = 5, pause = 10s)`",
        "restart" => "`restart(permanent)`, `restart(transient)` or `restart(temporary)`",
        "backoff" => "`backoff(initial = 100ms, max = 30s, multiplier = 2, jitter = 0.2)` (every key optional), `backoff(fixed = 1s)` or `backoff(none)`",
        "shutdown" => "`shutdown(timeout = 5s)`, `shutdown(brutal)` or `shutdown(infinity)`",
        "start_timeout" => "`start_timeout(10s)`",
        "ready" => "`ready(on_start)`",
        "after" => "`after(sibling, ..)`",
        "watchdog" => "`watchdog(timeout = 10s)`",
        "significant" => "`significant`",
        "auto_shutdown" => "`auto_shutdown(never)`, `auto_shutdown(any_significant)` or `auto_shutdown(all_significant)`",
        _ => "",
    }
}

/// Reads the options written before node `node`.
pub(crate) fn read(attrs: &[RawOption], node: &str, errors: &Errors) -> Options {
    let mut o = Options::default();
    for opt in attrs {
        let name = opt.name.to_string();
        macro_rules! slot {
            ($field:ident, $f:expr) => {{
                if let Some(prev) = &o.$field {
                    errors.error(
                        opt.name.span(),
                        format!(
                            "`{name}` is set twice on `{node}` (first set as `{}`)",
                            prev.key
                        ),
                    );
                } else if let Some((value, value_span)) = $f(opt, errors) {
                    o.$field = Some(Set {
                        key: opt.name.clone(),
                        value,
                        value_span,
                    });
                }
            }};
        }
        match name.as_str() {
            "strategy" => slot!(strategy, strategy),
            "intensity" => slot!(intensity, intensity),
            "decay" => slot!(decay, decay),
            "restart" => slot!(restart, restart),
            "backoff" => slot!(backoff, backoff),
            "shutdown" => slot!(shutdown, shutdown),
            "start_timeout" => slot!(start_timeout, start_timeout),
            "ready" => slot!(ready, ready),
            "after" => slot!(after, after),
            "watchdog" => slot!(watchdog, watchdog),
            "significant" => slot!(significant, significant),
            "auto_shutdown" => slot!(auto_shutdown, auto_shutdown),
            other => errors.error(
                opt.name.span(),
                format!(
                    "unknown option `{other}`{}; options are {}",
                    suggestion(other, kw::OPTIONS.iter().copied()),
                    one_of(kw::OPTIONS)
                ),
            ),
        }
    }
    o
}

fn strategy(opt: &RawOption, errors: &Errors) -> Option<(Strategy, Span)> {
    let (w, span) = one_word(opt, "strategy", kw::STRATEGIES, errors)?;
    let s = match w.as_str() {
        "one_for_one" => Strategy::OneForOne,
        "one_for_all" => Strategy::OneForAll,
        _ => Strategy::RestForOne,
    };
    Some((s, span))
}

fn restart(opt: &RawOption, errors: &Errors) -> Option<(Restart, Span)> {
    let (w, span) = one_word(opt, "restart type", kw::RESTARTS, errors)?;
    let r = match w.as_str() {
        "permanent" => Restart::Permanent,
        "transient" => Restart::Transient,
        _ => Restart::Temporary,
    };
    Some((r, span))
}

fn ready(opt: &RawOption, errors: &Errors) -> Option<((), Span)> {
    let (_, span) = one_word(opt, "readiness", &["on_start"], errors)?;
    Some(((), span))
}

fn auto_shutdown(opt: &RawOption, errors: &Errors) -> Option<(AutoShutdown, Span)> {
    let (w, span) = one_word(opt, "`auto_shutdown` value", kw::AUTO_SHUTDOWNS, errors)?;
    let a = match w.as_str() {
        "never" => AutoShutdown::Never,
        "any_significant" => AutoShutdown::AnySignificant,
        _ => AutoShutdown::AllSignificant,
    };
    Some((a, span))
}

/// A bare option. Arguments are an error, but the option still counts as
/// set (so that `auto_shutdown` does not also report a group without
/// significant children).
fn significant(opt: &RawOption, errors: &Errors) -> Option<((), Span)> {
    if let Some(raw) = &opt.args {
        errors.error(
            raw.span,
            "`significant` takes no arguments: write `#[significant]` (with `#[restart(transient)]` or `#[restart(temporary)]`)",
        );
    }
    Some(((), opt.name.span()))
}

fn watchdog(opt: &RawOption, errors: &Errors) -> Option<(DurationLit, Span)> {
    let a = args(opt, &[], &["timeout"], errors)?;
    let v = a.get("timeout")?;
    let d = report(
        errors,
        DurationLit::nonzero(
            v,
            "timeout",
            "a `watchdog` of zero would fail the child as soon as it is healthy; remove `watchdog` for no liveness check",
        ),
    )?;
    Some((d, d.span))
}

fn intensity(opt: &RawOption, errors: &Errors) -> Option<(Intensity, Span)> {
    let a = args(opt, &["unlimited"], &["max", "within"], errors)?;
    if let Some(w) = a.words.first() {
        return Some((Intensity::Unlimited, w.span()));
    }
    let missing: Vec<&str> = ["max", "within"]
        .into_iter()
        .filter(|k| a.get(k).is_none())
        .collect();
    let max = a.get("max").and_then(|v| report(errors, v.count("max")));
    let within = a.get("within").and_then(|v| {
        report(
            errors,
            DurationLit::nonzero(v, "within", "a window of zero length never holds a restart"),
        )
    });
    if !missing.is_empty() {
        errors.error(
            opt.name.span(),
            format!(
                "`intensity` needs both `max` and `within`: {} missing, as in `intensity(max = 5, within = 10s)`",
                one_of(&missing).replace(" or ", " and ") + if missing.len() > 1 { " are" } else { " is" }
            ),
        );
        return None;
    }
    Some((
        Intensity::Limited {
            max: max?,
            within: within?,
        },
        opt.name.span(),
    ))
}

fn decay(opt: &RawOption, errors: &Errors) -> Option<(Decay, Span)> {
    const KEYS: [&str; 3] = ["half_life", "threshold", "pause"];
    let a = args(opt, &[], &KEYS, errors)?;
    let missing: Vec<&str> = KEYS.into_iter().filter(|k| a.get(k).is_none()).collect();
    let half_life = a.get("half_life").and_then(|v| {
        report(
            errors,
            DurationLit::nonzero(v, "half_life", "failures would be forgotten at once"),
        )
    });
    let threshold = a.get("threshold").and_then(|v| {
        let t = report(errors, v.number("threshold"))?;
        if t > 0.0 {
            Some(t)
        } else {
            errors.error(
                v.span(),
                "`threshold` must be above zero: every failure would pause restarts",
            );
            None
        }
    });
    let pause = a.get("pause").and_then(|v| {
        report(
            errors,
            DurationLit::nonzero(
                v,
                "pause",
                "a pause of zero never pauses; remove `decay` instead",
            ),
        )
    });
    if !missing.is_empty() {
        errors.error(
            opt.name.span(),
            format!(
                "`decay` needs `half_life`, `threshold` and `pause`: {} missing, as in {}",
                one_of(&missing).replace(" or ", " and ")
                    + if missing.len() > 1 { " are" } else { " is" },
                usage("decay")
            ),
        );
        return None;
    }
    Some((
        Decay {
            half_life: half_life?,
            threshold: threshold?,
            pause: pause?,
        },
        opt.name.span(),
    ))
}

fn backoff(opt: &RawOption, errors: &Errors) -> Option<(Backoff, Span)> {
    let a = args(
        opt,
        &["none"],
        &["initial", "max", "multiplier", "jitter", "fixed"],
        errors,
    )?;
    if let Some(w) = a.words.first() {
        return Some((Backoff::None, w.span()));
    }
    if let Some(fixed) = a.get("fixed") {
        if let Some((k, _)) = a.keys.iter().find(|(k, _)| *k != "fixed") {
            errors.error(
                k.span(),
                format!("`{k}` cannot be combined with `fixed`: a fixed backoff always waits the same time"),
            );
            return None;
        }
        let d = report(errors, DurationLit::from_value(fixed, "fixed"))?;
        return Some((Backoff::Fixed(d), opt.name.span()));
    }
    let mut ok = true;
    let mut dur = |key: &str| -> Option<DurationLit> {
        let v = a.get(key)?;
        let d = report(errors, DurationLit::from_value(v, key));
        ok &= d.is_some();
        d
    };
    let initial = dur("initial");
    let max = dur("max");
    if let Some(m) = max {
        if m.is_zero() {
            errors.error(
                m.span,
                "`max` must be above zero; for no delay at all write `backoff(none)`",
            );
            ok = false;
        }
    }
    let mut num = |key: &str, check: fn(f64) -> bool, why: &str| -> Option<f64> {
        let v = a.get(key)?;
        let n = report(errors, v.number(key));
        ok &= n.is_some();
        let n = n?;
        if check(n) {
            Some(n)
        } else {
            errors.error(v.span(), format!("`{key} = {n}` is out of range: {why}"));
            ok = false;
            None
        }
    };
    let multiplier = num(
        "multiplier",
        |m| m >= 1.0,
        "the multiplier must be at least 1 (below 1 the delay would shrink)",
    );
    let jitter = num(
        "jitter",
        |j| (0.0..=1.0).contains(&j),
        "the jitter is a fraction between 0 and 1",
    );
    if !ok {
        return None;
    }
    const DEFAULT_INITIAL_MS: u64 = 100;
    const DEFAULT_MAX_MS: u64 = 30_000;
    let i = initial.map_or(DEFAULT_INITIAL_MS, |d| d.millis);
    let m = max.map_or(DEFAULT_MAX_MS, |d| d.millis);
    if i > m {
        let (span, msg) = match (initial, max) {
            (Some(i), Some(_)) => (
                i.span,
                "`initial` is above `max`: the first delay would exceed the largest one".to_owned(),
            ),
            (Some(i), None) => (
                i.span,
                "`initial` is above the default `max` of 30s: raise `max` too".to_owned(),
            ),
            (None, Some(m)) => (
                m.span,
                "`max` is below the default `initial` of 100ms: lower `initial` too".to_owned(),
            ),
            (None, None) => unreachable!(),
        };
        errors.error(span, msg);
        return None;
    }
    Some((
        Backoff::Exponential {
            initial,
            max,
            multiplier,
            jitter,
        },
        opt.name.span(),
    ))
}

fn shutdown(opt: &RawOption, errors: &Errors) -> Option<(Shutdown, Span)> {
    let a = args(opt, &["brutal", "infinity"], &["timeout"], errors)?;
    if let Some(w) = a.words.first() {
        let s = if *w == "brutal" {
            Shutdown::Brutal
        } else {
            Shutdown::Infinity
        };
        return Some((s, w.span()));
    }
    let v = a.get("timeout")?;
    let d = report(errors, DurationLit::from_value(v, "timeout"))?;
    Some((Shutdown::Timeout(d), d.span))
}

fn start_timeout(opt: &RawOption, errors: &Errors) -> Option<(DurationLit, Span)> {
    let bad = || {
        format!(
            "`start_timeout` takes one duration: {}",
            usage("start_timeout")
        )
    };
    let Some(raw) = &opt.args else {
        errors.error(opt.name.span(), bad());
        return None;
    };
    match raw.args.as_slice() {
        [RawArg::Value(v)] => {
            let d = report(
                errors,
                DurationLit::nonzero(v, "start_timeout", "nothing becomes healthy in no time"),
            )?;
            Some((d, d.span))
        }
        [RawArg::Key(k, _), ..] => {
            errors.error(k.span(), bad());
            None
        }
        [_, RawArg::Key(k, _), ..] => {
            errors.error(k.span(), bad());
            None
        }
        [_, RawArg::Value(v), ..] => {
            errors.error(v.span(), bad());
            None
        }
        [] => {
            errors.error(raw.span, bad());
            None
        }
    }
}

fn after(opt: &RawOption, errors: &Errors) -> Option<(Vec<Ident>, Span)> {
    let Some(raw) = opt.args.as_ref().filter(|r| !r.args.is_empty()) else {
        errors.error(
            opt.name.span(),
            "`after` needs the names of the siblings to wait for: `after(db, cache)`",
        );
        return None;
    };
    let mut names = Vec::new();
    let mut ok = true;
    for arg in &raw.args {
        match arg {
            RawArg::Value(Value::Word(w)) => names.push(w.clone()),
            RawArg::Key(k, _) => {
                errors.error(
                    k.span(),
                    "`after` takes sibling names, not `key = value`: `after(db, cache)`",
                );
                ok = false;
            }
            RawArg::Value(v) => {
                errors.error(
                    v.span(),
                    format!(
                        "expected a sibling name in `after(..)`, found {}",
                        v.describe()
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some((names, raw.span))
}
