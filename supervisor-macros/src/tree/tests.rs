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
