//! Smoke test: every implementation runs every workload with small sizes,
//! in-process; the harness asserts started == stopped == N for each run.
//! Timings are never checked here.

use supervisor_bench::{run_all, runtime, Config};

#[test]
fn every_implementation_does_every_workload() {
    let cfg = Config::quick();
    let results = runtime().block_on(run_all(&cfg));
    let names: Vec<_> = results.iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "raw tokio",
            "ours (builder)",
            "ours (macro)",
            "ractor",
            "kameo",
            "tokio-graceful-shutdown"
        ]
    );
    for r in &results {
        assert!(r.restart.is_some(), "{}: restart cycle did not run", r.name);
        assert!(r.tree_start.is_some(), "{}: tree did not run", r.name);
        if r.name != "ours (macro)" {
            assert!(
                r.start.is_some() && r.stop.is_some(),
                "{}: start/stop did not run",
                r.name
            );
            assert_eq!(r.scaling.len(), cfg.scaling.len(), "{}", r.name);
        }
    }
    // The table renders (the memory row is "—" without the counting allocator).
    let table = supervisor_bench::report::markdown(&cfg, &results);
    assert!(table.contains("| raw tokio |"));
}
