//! `#[runnable]`: errors with their positions, and expansion snapshots.

use crate::common::errors::Errors;

fn expand(attr: &str, item: &str) -> String {
    let out = super::runnable(attr.parse().unwrap(), item.parse().unwrap());
    let file: syn::File = syn::parse2(out).unwrap();
    prettyplease::unparse(&file)
}

fn errors(attr: &str, item: &str) -> Vec<(usize, usize, String)> {
    let errors = Errors::new();
    let _ = super::args::parse(attr.parse().unwrap(), &errors);
    let f: syn::ItemFn = syn::parse_str(item).unwrap();
    let _ = super::validate::validate(&f, &errors);
    errors.take_messages()
}

#[test]
fn signature_errors() {
    let e = errors("", "fn a(self, x: u8) -> u32 { 0 }");
    let msgs: Vec<&str> = e.iter().map(|m| m.2.as_str()).collect();
    assert_eq!(e.len(), 4, "{msgs:#?}");
    assert_eq!((e[0].0, e[0].1), (1, 0));
    assert!(msgs[0].contains("needs an `async fn`"));
    assert_eq!((e[1].0, e[1].1), (1, 5));
    assert!(msgs[1].contains("cannot take `self`"));
    assert_eq!((e[2].0, e[2].1), (1, 14));
    assert!(msgs[2].contains("must be `ctx: Context`, found `u8`"));
    assert!(msgs[3].contains("found `u32`"));
}

#[test]
fn argument_errors() {
    let e = errors("restrat = transient, restart = sometimes, shutdown = 5, ready = on_start, ready = on_start", "async fn a(ctx: Context) -> Result<(), E> { Ok(()) }");
    let msgs: Vec<&str> = e.iter().map(|m| m.2.as_str()).collect();
    assert_eq!(e.len(), 4, "{msgs:#?}");
    assert!(msgs[0].contains("did you mean `restart`"));
    assert!(msgs[1].contains("unknown restart type `sometimes`"));
    assert!(msgs[2].contains("has no unit"));
    assert!(msgs[3].contains("set twice"));
    assert_eq!((e[3].0, e[3].1), (1, 74));
}

#[test]
fn snapshot_runnable() {
    insta::assert_snapshot!(expand(
        "restart = transient, shutdown = 1500ms, ready = on_start",
        "/// Docs stay on the factory.
        #[allow(clippy::unused_async)]
        pub async fn database<T: Clone + Send + Sync + 'static>(ctx: Context, url: String, extra: T) -> Result<(), DbError> {
            let pool = connect(&url).await?;
            ctx.healthy();
            Ok(())
        }"
    ));
}

#[test]
fn snapshot_runnable_fallback() {
    insta::assert_snapshot!(expand(
        "",
        "fn database(ctx: Context, url: String) -> Result<(), DbError> { Ok(()) }"
    ));
}

#[test]
fn restart_default_is_in_the_return_type() {
    let declared =
        "-> impl ::supervisor::__private::Runnable + ::supervisor::__private::RunnableDefaults<";
    let item = "async fn cleanup(ctx: Context) -> Result<(), E> { Ok(()) }";
    let with = expand("restart = temporary", item);
    assert!(with.contains(declared), "{with}");
    assert!(
        with.contains("Restart = ::supervisor::__private::Temporary"),
        "{with}"
    );
    let without = expand("shutdown = 1s", item);
    assert!(!without.contains("RunnableDefaults"), "{without}");
    // A broken function keeps the declared type, so that trees using it
    // report nothing about its defaults.
    let broken = expand(
        "restart = transient",
        "fn cleanup(ctx: Context) -> Result<(), E> { Ok(()) }",
    );
    assert!(broken.contains("compile_error"), "{broken}");
    assert!(
        broken.contains("Restart = ::supervisor::__private::Transient"),
        "{broken}"
    );
}
