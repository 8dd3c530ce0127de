//! `cargo run -p supervisor-bench --release -- [--quick] [--n N] [--mem-n N]
//! [--restart-n N] [--reps R] [--only raw,ours,...]
//! [--workloads flat,restart,tree,churn,dynamic] [--churn-ticks MS]
//! [--dyn-window N] [--dyn-ticks MS]`
//!
//! Runs the workloads described in the library's documentation for every
//! implementation, in one process (repetitions taking turns across
//! implementations), on a 2-worker
//! multi-thread tokio runtime, and prints markdown tables with ratios to raw
//! tokio. `--quick` is a smoke test (small sizes, one repetition): its
//! timings mean nothing.

use supervisor_bench::{alloc, report, run_all, runtime, Config};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

fn main() {
    alloc::mark_installed();
    let mut args = std::env::args().skip(1);
    let mut cfg = Config::full();
    let mut rest = Vec::new();
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> usize {
            args.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match a.as_str() {
            "--quick" => {
                let (only, workloads) = (cfg.only.take(), cfg.workloads.take());
                cfg = Config::quick();
                (cfg.only, cfg.workloads) = (only, workloads);
            }
            "--churn-ticks" => cfg.churn.ticks = num("--churn-ticks"),
            "--dyn-window" => cfg.dynamic.window = num("--dyn-window"),
            "--dyn-ticks" => cfg.dynamic.ticks = num("--dyn-ticks"),
            "--n" => cfg.n = num("--n"),
            "--mem-n" => cfg.mem_n = num("--mem-n"),
            "--restart-n" => cfg.restart_n = num("--restart-n"),
            "--reps" => cfg.reps = num("--reps").max(1),
            "--only" => {
                cfg.only = Some(
                    args.next()
                        .expect("--only needs a list")
                        .split(',')
                        .map(str::to_owned)
                        .collect(),
                );
            }
            "--workloads" => {
                cfg.workloads = Some(
                    args.next()
                        .expect("--workloads needs a list")
                        .split(',')
                        .map(str::to_owned)
                        .collect(),
                );
            }
            "--bench" => {} // passed by `cargo bench`
            other => rest.push(other.to_owned()),
        }
    }
    if !rest.is_empty() {
        eprintln!("unknown arguments: {rest:?}");
        std::process::exit(2);
    }
    let rt = runtime();
    let results = rt.block_on(run_all(&cfg));
    print!("{}", report::markdown(&cfg, &results));
}
