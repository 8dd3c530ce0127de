//! For test binaries with `harness = false` that hold one test (those that
//! re-execute themselves as another program): enough of libtest's command
//! line for `cargo test` and cargo-nextest to list, filter and run them.

/// Options of libtest's command line that take a value.
const WITH_VALUE: &[&str] = &[
    "--format",
    "--test-threads",
    "--skip",
    "--color",
    "--logfile",
    "--shuffle-seed",
    "-Z",
];

/// Whether the one test called `name` is to run, given the binary's
/// arguments; prints the test list instead when asked (`--list`, in the
/// `name: test` form that cargo-nextest reads).
///
/// Follows libtest: positional arguments are filters (a substring of the
/// name, or the whole name with `--exact`), `--skip S` leaves out a name
/// containing `S`, `--ignored` runs (and lists) only ignored tests, of
/// which this is none.
///
/// ```
/// use supervisor_testkit::harness::should_run;
/// let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// assert!(should_run("a_test", &args(&[])));
/// assert!(should_run("a_test", &args(&["--exact", "a_test", "--nocapture"])));
/// assert!(!should_run("a_test", &args(&["--exact", "a_tes"])));
/// assert!(should_run("a_test", &args(&["tes", "--test-threads", "2"])));
/// assert!(!should_run("a_test", &args(&["--skip", "a_"])));
/// assert!(!should_run("a_test", &args(&["--ignored"])));
/// ```
pub fn should_run(name: &str, args: &[String]) -> bool {
    let has = |f: &str| args.iter().any(|a| a == f);
    let ignored_only = has("--ignored");
    if has("--list") {
        if !ignored_only {
            println!("{name}: test");
        }
        return false;
    }
    if ignored_only {
        return false;
    }
    let exact = has("--exact");
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            let value = it.next();
            if a == "--skip" {
                skips.extend(value);
            }
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    let matches = |f: &str| if exact { name == f } else { name.contains(f) };
    (filters.is_empty() || filters.iter().any(|f| matches(f)))
        && !skips.iter().any(|s| name.contains(s.as_str()))
}

/// [`should_run`] with this process's arguments.
pub fn should_run_here(name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    should_run(name, &args)
}
