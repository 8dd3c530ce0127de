//! Smoke test: every implementation runs every workload with small sizes,
//! in-process; the harness asserts started == stopped == N for each run.
//! Timings are never checked here, only counts: runs made, children
//! counted, heap bytes and allocations (this binary installs the same
//! counting allocator as the bench binary, so the memory workloads run).

use supervisor_bench::{alloc, run_all, runtime, Config};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Bytes that may stay live after every child of a memory run has stopped:
/// a one-off lazy allocation of the runtime, far below one allocation per
/// child (a leak of 16 bytes per child would leave 3,200 here).
const SLACK: f64 = 1024.0;

// One test only: the allocator's counters are process-wide, and a second
// test running in parallel would show up in them.
#[test]
fn every_implementation_does_every_workload() {
    alloc::mark_installed();
    let cfg = Config::quick();
    let results = runtime().block_on(run_all(&cfg));
    let names: Vec<_> = results.iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "raw tokio",
            "raw tokio, old (loop in the leaf's task)",
            "ours (builder)",
            "ours (macro)",
            "ractor",
            "kameo",
            "tokio-graceful-shutdown"
        ]
    );
    for r in &results {
        let name = r.name;
        assert!(r.restart.is_some(), "{name}: restart cycle did not run");
        assert!(r.tree_start.is_some(), "{name}: tree did not run");
        if name == "ours (macro)" {
            continue;
        }
        assert!(
            r.start.is_some() && r.stop.is_some(),
            "{name}: start/stop did not run"
        );
        assert_eq!(r.scaling.len(), cfg.scaling.len(), "{name}");

        // Memory: every child costs heap, and all of it comes back.
        let bytes = r.mem.expect("the counting allocator is installed");
        let allocs = r.allocs.expect("the counting allocator is installed");
        assert!(bytes > 0.0, "{name}: {bytes} heap bytes per idle child");
        assert!(allocs >= 1.0, "{name}: {allocs} allocations per child");
        let left = r.mem_left.expect("measured");
        assert!(
            left.abs() <= SLACK,
            "{name}: {left} heap bytes still live after every child stopped"
        );

        if name.starts_with("raw tokio, old") {
            continue; // the old column does not do the service workloads
        }

        // Churn: failures were delivered and restarted (the harness asserts
        // restarts == delivered failures and started == stopped), and every
        // ping was answered (the pinger asserts it).
        let c = r.churn.as_ref().expect("churn ran");
        assert!(c.restarts > 0, "{name}: no restart in the churn");
        assert!(c.pings.len() >= 4, "{name}: {} pings", c.pings.len());

        // Dynamic: every add and remove happened (the harness asserts that
        // every added child started and stopped), and children cost heap.
        let d = r.dynamic.as_ref().expect("dynamic ran");
        assert_eq!(d.ops, cfg.dynamic.ticks, "{name}");
        let per_child = d.bytes_per_child.expect("measured");
        assert!(per_child > 0.0, "{name}: {per_child} bytes per live child");
        if name == "raw tokio" {
            // The harness's own check: a map of tokens comes back to where
            // it started, up to the map's capacity (a bucket of 40 bytes
            // and a control byte per key of the window, twice over at most).
            let left = d.left.expect("measured") as f64;
            let bound = 2.0 * 41.0 * cfg.dynamic.window as f64 + SLACK;
            assert!(left.abs() <= bound, "raw tokio: {left} bytes left");
        }
        // Ours is not held to that yet: a removed child leaves its
        // shutdown-timeout timer in the group's heap until it fires (5 s),
        // and the heap keeps its capacity (BENCHMARKS.md, "Profile").
    }
    // The table renders.
    let table = supervisor_bench::report::markdown(&cfg, &results);
    assert!(table.contains("| raw tokio |"));
    assert!(table.contains("churn"));
}
