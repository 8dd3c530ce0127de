//! Parse/validate errors with their line and column, and expansion
//! snapshots (`prettyplease` + `insta`, checked in under `snapshots/`).

use super::{ast, validate};
use crate::common::errors::Errors;

/// Errors of a tree as (line, column, message); column is 0-based.
fn errors(src: &str) -> Vec<(usize, usize, String)> {
    let errors = Errors::new();
    let ast = ast::parse(src.parse().unwrap(), &errors);
    let model = validate::validate(&ast, &errors);
    let msgs = errors.take_messages();
    assert_eq!(model.is_some(), msgs.is_empty());
    msgs
}

fn expand(src: &str) -> String {
    let out = super::supervision_tree(src.parse().unwrap());
    let file: syn::File = syn::parse2(quote::quote!(fn f() { let _tree = #out; })).unwrap();
    prettyplease::unparse(&file)
}

fn at(msgs: &[(usize, usize, String)], i: usize) -> (usize, usize) {
    (msgs[i].0, msgs[i].1)
}

#[test]
fn every_independent_error_in_one_pass() {
    let e = errors(
        "#[strategy(one_for_al)]
parallel app {
    a: work(,),
    #[restrat(transient)]
    b: work,
    #[shutdown(timeout = 5)]
    c: work,
    c: work,
}",
    );
    assert_eq!(e.len(), 6, "{e:#?}");
    assert_eq!(at(&e, 0), (3, 12)); // syntax error inside the expression
    assert_eq!(at(&e, 1), (1, 11)); // one_for_al
    assert!(e[1].2.contains("did you mean `one_for_all`"));
    assert_eq!(at(&e, 2), (4, 6)); // restrat
    assert_eq!(at(&e, 3), (6, 25)); // 5 without unit
    assert_eq!(at(&e, 4), (8, 4)); // second `c`
    assert_eq!(at(&e, 5), (7, 4)); // first `c`
}

#[test]
fn level_errors_point_at_the_option() {
    let e = errors("#[restart(transient)] parallel app { #[strategy(one_for_all)] a: w, #[ready(on_start)] parallel g { b: w } }");
    assert_eq!(e.len(), 3, "{e:#?}");
    assert_eq!(at(&e, 0), (1, 2));
    assert!(e[0].2.contains("root group"));
    assert_eq!(at(&e, 1), (1, 39));
    assert!(e[1].2.contains("applies to groups"));
    assert_eq!(at(&e, 2), (1, 70));
    assert!(e[2].2.contains("applies to leaves"));
}

#[test]
fn after_errors() {
    let e = errors(
        "parallel app {
    #[after(b)] a: w,
    #[after(a)] b: w,
    #[after(c, zz, c)] c: w,
    sequential s { x: w, #[after(x)] y: w },
}",
    );
    let msgs: Vec<&str> = e.iter().map(|m| m.2.as_str()).collect();
    assert!(
        msgs.iter().any(|m| m.contains("cannot start after itself")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("no child named `zz`")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("only valid in a parallel group")),
        "{msgs:#?}"
    );
    let cycle = e
        .iter()
        .find(|m| m.2.contains("cycle"))
        .expect("a cycle error");
    assert!(cycle.2.contains("a → b → a"), "{}", cycle.2);
    assert_eq!((cycle.0, cycle.1), (3, 12));
}

#[test]
fn root_errors() {
    assert!(errors("")[0].2.contains("empty"));
    let e = errors("parallel a { x: w }\nparallel b { y: w }");
    assert_eq!(e.len(), 1);
    assert_eq!(at(&e, 0), (2, 0));
    let e = errors("x: w");
    assert!(e[0].2.contains("must be a group"));
}

#[test]
fn name_rule() {
    let e = errors("parallel app { Web: w, caf\u{e9}: w, ok_1: w }");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].2.contains("did you mean `web`"));
    assert!(e[1].2.contains("contains 'é'"));
}

#[test]
fn option_values() {
    let e = errors(
        "#[intensity(max = 5)] #[backoff(initial = 1m)] #[decay(half_life = 0s, threshold = 0, pause = 1s)]
parallel app { a: w }",
    );
    let msgs: Vec<&str> = e.iter().map(|m| m.2.as_str()).collect();
    assert!(msgs[0].contains("`within` is missing"), "{msgs:#?}");
    assert!(msgs[1].contains("default `max`"), "{msgs:#?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains("`half_life` must be above zero")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("`threshold` must be above zero")),
        "{msgs:#?}"
    );
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
}

#[test]
fn snapshot_design_example() {
    insta::assert_snapshot!(expand(
        "#[strategy(rest_for_one)]
        #[intensity(max = 5, within = 10s)]
        sequential app {
            db: database(url),
            #[restart(transient)]
            migrate: migrate(),
            #[strategy(one_for_all)]
            parallel web {
                http: http_server(8080),
                #[after(http)]
                admin: admin_server(8081),
            },
            #[shutdown(timeout = 30s)]
            redis: Command::new(\"redis-server\").arg(\"--port\").arg(\"6380\"),
        }"
    ));
}

#[test]
fn snapshot_every_option() {
    insta::assert_snapshot!(expand(
        "#[strategy(one_for_all), intensity(unlimited), backoff(initial = 250ms, max = 2m, multiplier = 1.5, jitter = 0)]
        parallel app {
            #[restart(temporary), shutdown(brutal), ready(on_start), start_timeout(1h)]
            a: |ctx| async move { ctx.healthy(); Ok::<(), String>(()) },
            #[backoff(fixed = 1s), shutdown(infinity), after(a)]
            b: work,
            #[decay(half_life = 30s, threshold = 3, pause = 10s), backoff(none), restart(transient)]
            sequential c { d: work }
        }"
    ));
}

#[test]
fn snapshot_fallback() {
    insta::assert_snapshot!(expand("parallel app { #[restart(sometimes)] a: work(x), b: |ctx| async { Ok::<(), String>(()) } }"));
}

#[test]
fn watchdog_errors() {
    let e = errors(
        "parallel app {
    #[watchdog(timeout = 0s)] a: w,
    #[watchdog(timeout = 10)] b: w,
    #[watchdog] c: w,
    #[watchdog(10s)] d: w,
    #[watchdog(timout = 1s)] e: w,
    #[watchdog(timeout = 1s), watchdog(timeout = 2s)] f: w,
    #[watchdog(timeout = 1s)] parallel g { x: w },
}",
    );
    let msgs: Vec<&str> = e.iter().map(|m| m.2.as_str()).collect();
    assert_eq!(e.len(), 7, "{msgs:#?}");
    assert_eq!(at(&e, 0), (2, 25));
    assert!(
        msgs[0].contains("`timeout` must be above zero"),
        "{msgs:#?}"
    );
    assert_eq!(at(&e, 1), (3, 25));
    assert!(msgs[1].contains("`10` has no unit"), "{msgs:#?}");
    assert_eq!(at(&e, 2), (4, 6));
    assert!(
        msgs[2].contains("needs arguments: `watchdog(timeout = 10s)`"),
        "{msgs:#?}"
    );
    assert_eq!(at(&e, 3), (5, 15));
    assert!(msgs[3].contains("unexpected `10s`"), "{msgs:#?}");
    assert_eq!(at(&e, 4), (6, 15));
    assert!(msgs[4].contains("did you mean `timeout`"), "{msgs:#?}");
    assert_eq!(at(&e, 5), (7, 30));
    assert!(
        msgs[5].contains("`watchdog` is set twice on `app.f`"),
        "{msgs:#?}"
    );
    assert_eq!(at(&e, 6), (8, 6));
    assert!(
        msgs[6].contains("`watchdog` applies to leaves, and `app.g` is a group"),
        "{msgs:#?}"
    );
}

#[test]
fn significant_errors() {
    let e = errors(
        "#[significant]
parallel app {
    #[restart(permanent), significant] a: w,
    #[significant] sequential g { x: w },
    #[restart(temporary), significant(yes)] b: w,
    #[restart(transient), significant] parallel h { y: w },
    #[restart(sometimes), significant] c: w,
}",
    );
    let has = |line: usize, col: usize, text: &str| {
        e.iter()
            .any(|m| (m.0, m.1) == (line, col) && m.2.contains(text))
    };
    let msgs: Vec<&str> = e.iter().map(|m| m.2.as_str()).collect();
    assert_eq!(e.len(), 10, "{msgs:#?}");
    assert!(has(1, 2, "not valid on the root group `app`"), "{msgs:#?}");
    assert!(has(3, 26, "on `app.a`, which is `permanent`"), "{msgs:#?}");
    assert!(
        has(4, 6, "on `app.g`, which is permanent (the default)"),
        "{msgs:#?}"
    );
    assert!(has(5, 37, "takes no arguments"), "{msgs:#?}");
    // `restart(sometimes)` is reported, and not taken for the default.
    assert!(has(7, 14, "unknown restart type"), "{msgs:#?}");
    // `app` has no `auto_shutdown`: each significant child is reported.
    for (line, col) in [(3, 26), (4, 6), (5, 26), (6, 26), (7, 26)] {
        assert!(has(line, col, "has no `auto_shutdown`"), "{msgs:#?}");
    }
}

#[test]
fn auto_shutdown_errors() {
    let e = errors(
        "#[auto_shutdown(any_significant)]
parallel app {
    #[auto_shutdown(never)] a: w,
    #[auto_shutdown(all_signifiant)] parallel g { #[restart(transient), significant] x: w },
    #[auto_shutdown(never)] parallel h { #[restart(temporary), significant] y: w },
    #[auto_shutdown(never)] parallel i { z: w },
}",
    );
    let msgs: Vec<&str> = e.iter().map(|m| m.2.as_str()).collect();
    assert_eq!(e.len(), 4, "{msgs:#?}");
    assert_eq!(at(&e, 0), (3, 6));
    assert!(
        msgs[0].contains("`auto_shutdown` applies to groups"),
        "{msgs:#?}"
    );
    assert_eq!(at(&e, 1), (4, 20));
    assert!(
        msgs[1].contains("did you mean `all_significant`"),
        "{msgs:#?}"
    );
    // A misspelt `auto_shutdown` does not also report `x`.
    assert_eq!(at(&e, 2), (5, 63));
    assert!(
        msgs[2].contains("the group is `auto_shutdown(never)`"),
        "{msgs:#?}"
    );
    assert_eq!(at(&e, 3), (1, 16));
    assert!(
        msgs[3].contains("`auto_shutdown(any_significant)` on `app` has no effect"),
        "{msgs:#?}"
    );
}

fn model(src: &str) -> super::model::Model {
    let errors = Errors::new();
    let ast = ast::parse(src.parse().unwrap(), &errors);
    let model = validate::validate(&ast, &errors);
    assert_eq!(errors.take_messages(), Vec::new());
    model.expect("a valid tree")
}

#[test]
fn checks_on_runnable_defaults_are_left_to_rustc() {
    use super::model::DeclaredRule;
    let m = model(
        "#[auto_shutdown(any_significant)]
parallel app {
    #[backoff(none)] a: cleanup(),
    #[restart(transient), backoff(none)] b: cleanup(),
    #[significant] c: job(1),
    #[restart(temporary), significant] d: job(2),
    #[intensity(max = 1, within = 1s)]
    parallel g { #[backoff(none)] e: w, #[restart(temporary)] f: w, h: jobs::flush() },
    #[intensity(max = 1, within = 1s)]
    parallel k { #[restart(transient)] l: w, m: w },
}",
    );
    // `a`, `c`, `e` and `h` are probed; `b`, `d` and `l` have a restart
    // type in the tree, and `k` has a child that restarts whatever `m` is.
    assert_eq!(m.probes, 4);
    let c = &m.declared_checks;
    assert_eq!(c.len(), 5);
    let pos = |i: usize| {
        let s = c[i].span.start();
        (s.line, s.column)
    };
    assert!(matches!(c[0].rule, DeclaredRule::MayRestart(0)));
    assert_eq!(pos(0), (3, 6));
    assert_eq!(
        c[0].message,
        "`backoff` has no effect on `app.a`: `cleanup` is `#[runnable(restart = temporary)]` and never restarts"
    );
    assert!(matches!(c[1].rule, DeclaredRule::HasRestartDefault(1)));
    assert!(matches!(c[2].rule, DeclaredRule::NotDeclaredPermanent(1)));
    assert_eq!(pos(1), (5, 6));
    assert!(c[2]
        .message
        .contains("`job` is `#[runnable(restart = permanent)]`"));
    assert!(matches!(c[3].rule, DeclaredRule::MayRestart(2)));
    assert!(c[3].message.contains("its runnable is"), "{}", c[3].message);
    let DeclaredRule::AnyMayRestart(slots) = &c[4].rule else {
        panic!("{:?}", c[4].message)
    };
    assert_eq!(slots, &[2, 3]);
    assert_eq!(pos(4), (7, 6));
    assert!(
        c[4].message
            .contains("(the runnable of `e` and `flush` are `#[runnable(restart = temporary)]`)"),
        "{}",
        c[4].message
    );
}

#[test]
fn snapshot_operations_options() {
    insta::assert_snapshot!(expand(
        "#[auto_shutdown(all_significant)]
        parallel app {
            #[watchdog(timeout = 1500ms), restart(transient), significant]
            a: |ctx| async move { ctx.alive(); Ok::<(), String>(()) },
            #[significant]
            b: cleanup(),
            #[restart(temporary), significant, auto_shutdown(any_significant), intensity(max = 1, within = 1s)]
            parallel g { #[significant] c: cleanup(), d: job(1) }
        }"
    ));
}
