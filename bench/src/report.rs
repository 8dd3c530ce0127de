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
    let rows: Vec<(String, Get, usize)> = vec![
        (
            format!("start {} leaves until all healthy (ns/child)", cfg.n),
            |r| r.start,
            0,
        ),
        (format!("stop {} leaves (ns/child)", cfg.n), |r| r.stop, 0),
        (
            format!("restart cycle, zero backoff, ×{} (ns/cycle)", cfg.restart_n),
            |r| r.restart,
            0,
        ),
        (
            format!("heap bytes per idle child ({} children)", cfg.mem_n),
            |r| r.mem,
            0,
        ),
        (
            format!(
                "heap allocations per started child ({} children)",
                cfg.mem_n
            ),
            |r| r.allocs,
            1,
        ),
        (
            format!(
                "tree depth {} fanout {}: start (µs; {tree})",
                cfg.depth, cfg.fanout
            ),
            |r| r.tree_start,
            0,
        ),
        (
            format!("tree depth {} fanout {}: stop (µs)", cfg.depth, cfg.fanout),
            |r| r.tree_stop,
            0,
        ),
    ];
    for (label, get, digits) in rows {
        let _ = write!(s, "| {label} |");
        for r in rs {
            let _ = write!(s, " {} |", cell(get(r), base.and_then(get), digits));
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
