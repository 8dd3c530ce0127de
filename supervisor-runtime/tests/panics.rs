//! Panics: caught and kept as failures, or propagated to `join()`.

use std::time::Duration;

use supervisor_runtime::{Backoff, Child, Group, NodeState, PanicError};
use supervisor_testkit::{join, start, Cmd, End, Lab};

#[tokio::test(start_paused = true)]
async fn a_panic_is_a_failure_and_its_message_is_kept() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .backoff(Backoff::Fixed(Duration::from_secs(1)))
            .child(Child::new("a", lab.child()))
            .build()
            .unwrap(),
    );
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::End(End::panic("kaboom"))).await;
    let e = ev.wait("app.a", NodeState::Backoff).await;
    let err = e.error.expect("the panic is the error");
    assert_eq!(
        err.downcast_ref::<PanicError>()
            .expect("a PanicError")
            .message(),
        "kaboom"
    );
    assert!(err.to_string().contains("kaboom"));
    ev.wait("app.a", NodeState::Healthy).await;
    let snap = h.snapshot();
    assert!(
        snap.node("app.a")
            .unwrap()
            .last_error
            .as_deref()
            .unwrap()
            .contains("kaboom"),
        "{snap}"
    );
    assert!(snap.to_string().contains("kaboom"), "{snap}");
    assert!(h.shutdown().await.is_clean());
    join(&h)
        .await
        .expect("a caught panic does not end the tree");
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_building_the_future_is_a_failure_too() {
    let (h, mut ev) = start(Group::parallel("app")
        .backoff(Backoff::Fixed(Duration::from_secs(1)))
        .intensity(supervisor_runtime::Intensity::Unlimited)
        .child(Child::new(
            "a",
            |_ctx: supervisor_runtime::Context| -> std::future::Ready<Result<(), std::io::Error>> {
                panic!("in the constructor")
            },
        ))
        .build()
        .unwrap()
        );
    let e = ev.wait("app.a", NodeState::Backoff).await;
    assert!(e.error.unwrap().to_string().contains("in the constructor"));
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn propagate_panics_makes_join_resume_the_panic() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .backoff(Backoff::None)
            .child(Child::new("a", lab.child()))
            .child(Child::new("b", lab.child()))
            .build()
            .unwrap()
            .propagate_panics(true),
    );
    ev.wait("app", NodeState::Healthy).await;
    lab.send("app.a", Cmd::End(End::panic("kaboom"))).await;
    let h2 = h.clone();
    let joined = tokio::spawn(async move { h2.join().await }).await;
    let err = joined.expect_err("join() resumed the panic");
    assert!(err.is_panic());
    let payload = err.into_panic();
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    assert_eq!(msg, Some("kaboom"));
    // The tree shut down and nothing was restarted.
    assert!(h.token().is_cancelled());
    assert_eq!(lab.live_guards(), 0);
    assert!(lab.log().contains(&"app.b stopping".to_string()));
    assert_eq!(
        lab.starts("app.a"),
        1,
        "no new child is started once the tree shuts down"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_propagated_panic_later_joins_get_an_error() {
    let lab = Lab::new();
    let (h, mut ev) = start(
        Group::parallel("app")
            .child(Child::new("a", lab.child()))
            .build()
            .unwrap()
            .propagate_panics(true),
    );
    ev.wait("app.a", NodeState::Healthy).await;
    lab.send("app.a", Cmd::End(End::panic("kaboom"))).await;
    let h2 = h.clone();
    assert!(tokio::spawn(async move { h2.join().await }).await.is_err());
    let e = join(&h).await.unwrap_err();
    assert_eq!(e.kind(), supervisor_runtime::ErrorKind::Panicked);
    assert_eq!(e.node(), Some("app.a"));
    assert!(e.to_string().contains("kaboom"), "{e}");
}
