//! Markdown tables with ratios to raw tokio.

use std::fmt::Write as _;

use crate::{Config, Results};

fn cell(v: Option<f64>, base: Option<f64>, digits: usize) -> String {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{v:.digits$} ({:.2}×)", v / b),
        (Some(v), _) => format!("{v:.digits$}"),
        (None, _) => "—".to_owned(),
    }
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
    type Get = fn(&Results) -> Option<f64>;
    let tree = format!(
        "{} leaves, {} groups",
        cfg.tree_leaves(),
        (0..cfg.depth).map(|d| cfg.fanout.pow(d)).sum::<usize>()
    );
    let churn = &cfg.churn;
    let dynamic = &cfg.dynamic;
    let rows: Vec<(String, Get, usize, bool)> = vec![
        (
            format!("start {} leaves until all healthy (ns/child)", cfg.n),
            |r| r.start,
            0,
            true,
        ),
        (
            format!("stop {} leaves (ns/child)", cfg.n),
            |r| r.stop,
            0,
            true,
        ),
        (
            format!("restart cycle, zero backoff, ×{} (ns/cycle)", cfg.restart_n),
            |r| r.restart,
            0,
            true,
        ),
        (
            format!("heap bytes per idle child ({} children)", cfg.mem_n),
            |r| r.mem,
            0,
            true,
        ),
        (
            format!(
                "heap allocations per started child ({} children)",
                cfg.mem_n
            ),
            |r| r.allocs,
            1,
            true,
        ),
        (
            "heap bytes left once they all stopped (total)".to_owned(),
            |r| r.mem_left,
            0,
            false,
        ),
        (
            format!(
                "tree depth {} fanout {}: start (µs; {tree})",
                cfg.depth, cfg.fanout
            ),
            |r| r.tree_start,
            0,
            true,
        ),
        (
            format!("tree depth {} fanout {}: stop (µs)", cfg.depth, cfg.fanout),
            |r| r.tree_stop,
            0,
            true,
        ),
        (
            format!(
                "churn: {} children, {} fail per ms for {} ms: restarts per second",
                churn.n, churn.per_tick, churn.ticks
            ),
            |r| r.churn.as_ref().map(|c| c.restarts_per_s),
            0,
            true,
        ),
        (
            "churn: ping round trip to a healthy child, p50 (µs)".to_owned(),
            |r| r.churn.as_ref().and_then(|c| c.ping_q(0.5)),
            1,
            true,
        ),
        (
            "churn: ping round trip, p99 (µs)".to_owned(),
            |r| r.churn.as_ref().and_then(|c| c.ping_q(0.99)),
            1,
            true,
        ),
        (
            format!(
                "dynamic: {} live, 1 add + 1 remove per ms for {} ms: add until up (ns)",
                dynamic.window, dynamic.ticks
            ),
            |r| r.dynamic.as_ref().map(|d| d.add_ns),
            0,
            true,
        ),
        (
            "dynamic: remove until ended (ns)".to_owned(),
            |r| r.dynamic.as_ref().map(|d| d.remove_ns),
            0,
            true,
        ),
        (
            "dynamic: process CPU per add + remove (ns)".to_owned(),
            |r| r.dynamic.as_ref().and_then(|d| d.cpu_ns_per_pair),
            0,
            true,
        ),
        (
            "dynamic: heap bytes per live child".to_owned(),
            |r| r.dynamic.as_ref().and_then(|d| d.bytes_per_child),
            0,
            true,
        ),
        (
            "dynamic: heap growth over the churn, same live count (bytes)".to_owned(),
            |r| r.dynamic.as_ref().and_then(|d| d.growth).map(|g| g as f64),
            0,
            false,
        ),
        (
            "dynamic: heap left after removing all (bytes)".to_owned(),
            |r| r.dynamic.as_ref().and_then(|d| d.left).map(|g| g as f64),
            0,
            false,
        ),
    ];
    for (label, get, digits, ratio) in rows {
        let _ = write!(s, "| {label} |");
        for r in rs {
            let b = if ratio { base.and_then(get) } else { None };
            let _ = write!(s, " {} |", cell(get(r), b, digits));
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
