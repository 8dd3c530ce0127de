//! What the engine records through the `metrics` facade (feature `metrics`),
//! read back from a recording recorder.

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use supervisor_runtime::{Backoff, Child, Context, Group, Intensity, NodeState};

type Values = HashMap<(MetricKind, String, Vec<(String, String)>), DebugValue>;

fn read(snapshotter: &metrics_util::debugging::Snapshotter) -> Values {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v): (CompositeKey, _, _, DebugValue)| {
            let mut labels: Vec<(String, String)> = k
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            ((k.kind(), k.key().name().to_owned(), labels), v)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

fn counter(values: &Values, name: &str, node: &str) -> u64 {
    match values.get(&(MetricKind::Counter, name.into(), labels(&[("node", node)]))) {
        Some(DebugValue::Counter(n)) => *n,
        _ => 0,
    }
}

fn gauge(values: &Values, node: &str, state: &str) -> f64 {
    match values.get(&(
        MetricKind::Gauge,
        "supervisor_node_state".into(),
        labels(&[("node", node), ("state", state)]),
    )) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        _ => f64::NAN,
    }
}

#[tokio::test(start_paused = true)]
async fn restarts_failures_states_and_time_to_healthy_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let tree = Group::parallel("app")
        .intensity(Intensity::Unlimited)
        .child(
            Child::new("flaky", |ctx: Context| async move {
                // Healthy after 250 ms, then fails after a second.
                ctx.sleep(Duration::from_millis(250)).await;
                ctx.healthy();
                ctx.sleep(Duration::from_secs(1)).await;
                Err::<(), _>("boom")
            })
            .backoff(Backoff::Fixed(Duration::from_secs(1))),
        )
        .child(Child::new("steady", |ctx: Context| async move {
            ctx.healthy();
            ctx.cancelled().await;
            Ok::<(), std::io::Error>(())
        }))
        .build()
        .unwrap();
    let mut ev = tree.subscribe();
    let h = tree.start();
    // Three failures: the third incarnation is the second restart.
    let mut failures = 0;
    while failures < 3 {
        let e = ev.recv().await.unwrap();
        if e.name == "app.flaky" && e.state == NodeState::Backoff {
            failures += 1;
        }
    }
    let v = read(&snapshotter);
    assert_eq!(counter(&v, "supervisor_failures_total", "app.flaky"), 3);
    assert_eq!(counter(&v, "supervisor_restarts_total", "app.flaky"), 2);
    assert_eq!(counter(&v, "supervisor_failures_total", "app.steady"), 0);
    assert_eq!(gauge(&v, "app.flaky", "backoff"), 1.0);
    assert_eq!(gauge(&v, "app.flaky", "healthy"), 0.0);
    assert_eq!(gauge(&v, "app.steady", "healthy"), 1.0);
    assert_eq!(gauge(&v, "app", "healthy"), 1.0);
    match v.get(&(
        MetricKind::Histogram,
        "supervisor_time_to_healthy_seconds".into(),
        labels(&[("node", "app.flaky")]),
    )) {
        Some(DebugValue::Histogram(samples)) => {
            assert_eq!(samples.len(), 3, "one per incarnation");
            assert!(
                samples.iter().all(|s| s.into_inner() == 0.25),
                "{samples:?}"
            );
        }
        other => panic!("no time-to-healthy histogram: {other:?}"),
    }
    h.shutdown().await;
    let v = read(&snapshotter);
    assert_eq!(gauge(&v, "app.steady", "stopped"), 1.0);
    assert_eq!(gauge(&v, "app.steady", "healthy"), 0.0);
}
