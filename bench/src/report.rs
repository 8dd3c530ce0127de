//! Markdown tables with ratios to raw tokio.

use std::fmt::Write as _;

use crate::{Config, Results, Stat};

fn cell(v: Option<f64>, base: Option<f64>, digits: usize) -> String {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{v:.digits$} ({:.2}×)", v / b),
        (Some(v), _) => format!("{v:.digits$}"),
        (None, _) => "—".to_owned(),
    }
}

/// What a row shows of each implementation's results.
enum Get {
    /// A number, with its ratio to raw tokio's or without.
    Value(fn(&Results) -> Option<f64>, usize, bool),
    /// The spread of repeated runs: fastest–slowest wall time.
    Spread(fn(&Results) -> Option<Stat>),
}

fn spread(get: fn(&Results) -> Option<Stat>) -> (String, Get) {
    ("… fastest–slowest".to_owned(), Get::Spread(get))
}

fn paired(get: fn(&Results) -> Option<f64>) -> (String, Get) {
    (
        "… ÷ raw tokio, median of each repetition's own ratio".to_owned(),
        Get::Value(get, 2, false),
    )
}

/// The result tables of one run.
pub fn markdown(cfg: &Config, rs: &[Results]) -> String {
    let base = rs.iter().find(|r| r.name == "raw tokio");
    let mut s = String::new();
    let _ = write!(s, "| workload |");
    for r in rs {
        let _ = write!(s, " {} |", r.name);
    }
    s.push('\n');
    s.push_str("|---|");
    for _ in rs {
        s.push_str("---|");
    }
    s.push('\n');
    let tree = format!(
        "{} leaves, {} groups",
        cfg.tree_leaves(),
        (0..cfg.depth).map(|d| cfg.fanout.pow(d)).sum::<usize>()
    );
    let churn = &cfg.churn;
    let dynamic = &cfg.dynamic;
    let v = |label: String, f: fn(&Results) -> Option<f64>, digits: usize, ratio: bool| {
        (label, Get::Value(f, digits, ratio))
    };
    let mut rows: Vec<(String, Get)> = Vec::new();
    rows.push(v(
        format!(
            "start {} leaves until all healthy (ns/child), median",
            cfg.n
        ),
        |r| r.start.map(|s| s.median),
        0,
        true,
    ));
    rows.push(spread(|r| r.start));
    rows.push(paired(|r| r.start.and_then(|s| s.paired)));
    rows.push(v(
        "… process CPU, median".into(),
        |r| r.start.map(|s| s.cpu),
        0,
        true,
    ));
    rows.push(v(
        format!("stop {} leaves (ns/child), median", cfg.n),
        |r| r.stop.map(|s| s.median),
        0,
        true,
    ));
    rows.push(spread(|r| r.stop));
    rows.push(paired(|r| r.stop.and_then(|s| s.paired)));
    rows.push(v(
        "… process CPU, median".into(),
        |r| r.stop.map(|s| s.cpu),
        0,
        true,
    ));
    rows.push(v(
        format!(
            "restart cycle, zero backoff, ×{} (ns/cycle), median",
            cfg.restart_n
        ),
        |r| r.restart.map(|s| s.median),
        0,
        true,
    ));
    rows.push(spread(|r| r.restart));
    rows.push(paired(|r| r.restart.and_then(|s| s.paired)));
    rows.push(v(
        "… process CPU, median".into(),
        |r| r.restart.map(|s| s.cpu),
        0,
        true,
    ));
    rows.push(v(
        format!("heap bytes per idle child ({} children)", cfg.mem_n),
        |r| r.mem,
        0,
        true,
    ));
    rows.push(v(
        format!(
            "heap allocations per started child ({} children)",
            cfg.mem_n
        ),
        |r| r.allocs,
        1,
        true,
    ));
    rows.push(v(
        "heap bytes left once they all stopped (total)".into(),
        |r| r.mem_left,
        0,
        false,
    ));
    rows.push(v(
        format!(
            "tree depth {} fanout {}: start (µs; {tree}), median",
            cfg.depth, cfg.fanout
        ),
        |r| r.tree_start.map(|s| s.median),
        0,
        true,
    ));
    rows.push(spread(|r| r.tree_start));
    rows.push(paired(|r| r.tree_start.and_then(|s| s.paired)));
    rows.push(v(
        "… process CPU, median".into(),
        |r| r.tree_start.map(|s| s.cpu),
        0,
        true,
    ));
    rows.push(v(
        format!(
            "tree depth {} fanout {}: stop (µs), median",
            cfg.depth, cfg.fanout
        ),
        |r| r.tree_stop.map(|s| s.median),
        0,
        true,
    ));
    rows.push(spread(|r| r.tree_stop));
    rows.push(paired(|r| r.tree_stop.and_then(|s| s.paired)));
    rows.push(v(
        "… process CPU, median".into(),
        |r| r.tree_stop.map(|s| s.cpu),
        0,
        true,
    ));
    rows.push(v(
        format!(
            "churn: {} children, {} fail per ms for {} ms: restarts per second",
            churn.n, churn.per_tick, churn.ticks
        ),
        |r| r.churn.as_ref().map(|c| c.restarts_per_s),
        0,
        true,
    ));
    rows.push(v(
        "churn: process CPU per restart, pinger and driver included (ns)".into(),
        |r| r.churn.as_ref().and_then(|c| c.cpu_ns_per_restart),
        0,
        true,
    ));
    rows.push(v(
        "churn: ping round trip to a healthy child, p50 (µs)".into(),
        |r| r.churn.as_ref().and_then(|c| c.ping_q(0.5)),
        1,
        true,
    ));
    rows.push(v(
        "churn: ping round trip, p99 (µs)".into(),
        |r| r.churn.as_ref().and_then(|c| c.ping_q(0.99)),
        1,
        true,
    ));
    rows.push(v(
        format!(
            "dynamic: {} live, 1 add + 1 remove per ms for {} ms: add until up (ns)",
            dynamic.window, dynamic.ticks
        ),
        |r| r.dynamic.as_ref().map(|d| d.add_ns),
        0,
        true,
    ));
    rows.push(v(
        "dynamic: remove until ended (ns)".into(),
        |r| r.dynamic.as_ref().map(|d| d.remove_ns),
        0,
        true,
    ));
    rows.push(v(
        "dynamic: process CPU per add + remove (ns)".into(),
        |r| r.dynamic.as_ref().and_then(|d| d.cpu_ns_per_pair),
        0,
        true,
    ));
    rows.push(v(
        "dynamic: heap bytes per live child".into(),
        |r| r.dynamic.as_ref().and_then(|d| d.bytes_per_child),
        0,
        true,
    ));
    rows.push(v(
        "dynamic: heap allocations per add + remove".into(),
        |r| r.dynamic.as_ref().and_then(|d| d.allocs_per_pair),
        1,
        true,
    ));
    rows.push(v(
        "dynamic: heap growth over the churn, same live count (bytes)".into(),
        |r| r.dynamic.as_ref().and_then(|d| d.growth).map(|g| g as f64),
        0,
        false,
    ));
    rows.push(v(
        "dynamic: heap left after removing all (bytes)".into(),
        |r| r.dynamic.as_ref().and_then(|d| d.left).map(|g| g as f64),
        0,
        false,
    ));
    for (label, get) in rows {
        let _ = write!(s, "| {label} |");
        for r in rs {
            let c = match &get {
                Get::Value(f, digits, ratio) => {
                    let b = if *ratio { base.and_then(f) } else { None };
                    cell(f(r), b, *digits)
                }
                Get::Spread(f) => match f(r) {
                    Some(st) => format!("{:.0}–{:.0}", st.min, st.max),
                    None => "—".to_owned(),
                },
            };
            let _ = write!(s, " {c} |");
        }
        s.push('\n');
    }
    s.push_str("\nScaling: start + stop, ns per child (ratio to the same implementation at the smallest N)\n\n");
    let _ = write!(s, "| children |");
    let with: Vec<&Results> = rs.iter().filter(|r| !r.scaling.is_empty()).collect();
    for r in &with {
        let _ = write!(s, " {} |", r.name);
    }
    s.push_str("\n|---|");
    for _ in &with {
        s.push_str("---|");
    }
    s.push('\n');
    for (k, n) in cfg.scaling.iter().enumerate() {
        let _ = write!(s, "| {n} |");
        for r in &with {
            let v = r.scaling.get(k).map(|x| x.1);
            let b = r.scaling.first().map(|x| x.1);
            let _ = write!(s, " {} |", cell(v, b, 0));
        }
        s.push('\n');
    }
    s
}
