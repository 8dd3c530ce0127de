//! A live supervision tree: a database-like sequential start, a parallel web
//! group, and a flaky child that fails every few seconds and comes back
//! after its backoff. The tree is drawn after every change; Ctrl-C (or
//! `--seconds N`) stops it gracefully, in reverse start order.
//!
//! ```text
//! cargo run --example demo                 # until Ctrl-C
//! cargo run --example demo -- --seconds 5  # stop by itself after 5 s
//! ```

use std::time::{Duration, Instant};

use supervisor::prelude::*;

/// Connects (slowly), reports healthy, serves until asked to stop, closes.
#[runnable]
async fn database(ctx: Context, url: String) -> Result<(), std::io::Error> {
    tracing::info!(%url, "connecting");
    ctx.sleep(Duration::from_millis(300)).await;
    ctx.healthy();
    ctx.cancelled().await;
    tokio::time::sleep(Duration::from_millis(100)).await; // flush and close
    Ok(())
}

/// Runs once: healthy, then done; it does not run again unless its group restarts.
#[runnable]
async fn migrate(ctx: Context) -> Result<(), std::io::Error> {
    ctx.sleep(Duration::from_millis(200)).await;
    ctx.healthy();
    ctx.done();
    Ok(())
}

/// A server that is up at once and stops when asked.
#[runnable(ready = on_start)]
async fn server(ctx: Context, port: u16) -> Result<(), std::io::Error> {
    tracing::info!(port, "listening");
    ctx.cancelled().await;
    Ok(())
}

/// Fails a few seconds after every start.
#[runnable]
async fn flaky(ctx: Context) -> Result<(), std::io::Error> {
    ctx.healthy();
    if ctx.sleep(Duration::from_millis(2500)).await {
        return Ok(()); // asked to stop
    }
    Err(std::io::Error::other("lost the connection to upstream"))
}

fn seconds_arg() -> Result<Option<u64>, String> {
    let mut args = std::env::args().skip(1);
    let mut seconds = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => {
                let v = args
                    .next()
                    .ok_or("`--seconds` needs a number, e.g. `--seconds 5`")?;
                seconds = Some(
                    v.parse()
                        .map_err(|_| format!("`--seconds {v}`: not a whole number of seconds"))?,
                );
            }
            "-h" | "--help" => {
                println!("usage: demo [--seconds N]   (stops on Ctrl-C, or after N seconds)");
                std::process::exit(0);
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: demo [--seconds N]"
                ))
            }
        }
    }
    Ok(seconds)
}

#[tokio::main]
async fn main() -> Result<(), supervisor::Error> {
    let seconds = match seconds_arg() {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .init();

    let url = std::env::var("DB").unwrap_or_else(|_| "postgres://localhost/demo".into());
    let tree = supervision_tree! {
        #[intensity(max = 5, within = 10s)]
        sequential app {
            db: database(url),
            #[restart(transient)]
            migrate: migrate(),
            #[intensity(unlimited)]
            #[backoff(initial = 500ms, max = 4s)]
            parallel web {
                http: server(8080),
                #[after(http)]
                admin: server(8081),
                flaky: flaky(),
            },
        }
    };

    let handle = tree.start();
    let mut events = handle.subscribe();
    let started = Instant::now();
    let deadline = async {
        match seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    println!(
        "supervising `app` — Ctrl-C to stop{}\n",
        match seconds {
            Some(s) => format!(", or wait {s} s"),
            None => String::new(),
        }
    );

    loop {
        tokio::select! {
            ev = events.recv() => {
                match ev {
                    Ok(ev) => print_change(started, &ev),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => println!("({n} events skipped)"),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
                // Draw once per burst of changes.
                while let Ok(ev) = events.try_recv() {
                    print_change(started, &ev);
                }
                println!("{}", handle.snapshot());
            }
            r = handle.join() => {
                println!("the tree ended by itself");
                return r;
            }
            _ = tokio::signal::ctrl_c() => {
                println!("\nCtrl-C: stopping gracefully");
                break;
            }
            _ = &mut deadline => {
                println!("\n{} s are up: stopping gracefully", seconds.unwrap_or_default());
                break;
            }
        }
    }

    let report = handle.shutdown().await;
    // The stop sequence: reverse start order, each within its timeout.
    while let Ok(ev) = events.try_recv() {
        print_change(started, &ev);
    }
    println!("{}", handle.snapshot());
    if report.is_clean() {
        println!("stopped cleanly ({} nodes)", report.nodes().len());
        Ok(())
    } else {
        println!(
            "aborted: {:?}; could not stop: {:?}",
            report.aborted(),
            report.unstopped()
        );
        std::process::exit(1);
    }
}

fn print_change(started: Instant, ev: &supervisor::Event) {
    let t = started.elapsed().as_secs_f64();
    print!("[{t:6.2}s] {:<16} {}", ev.name, ev.state);
    if let Some(d) = ev.delay {
        print!(" — restart in {} ms", d.as_millis());
    }
    if let Some(e) = &ev.error {
        print!(" — {e}");
    }
    println!();
}
