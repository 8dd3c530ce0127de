//! A tree run with `run_until_signal` under (a stand-in for) systemd, end to
//! end through the environment (feature `systemd`).
//!
//! This test binary binds a Unix datagram socket, starts itself again as a
//! supervising program with `NOTIFY_SOCKET` pointing at it and
//! `WATCHDOG_USEC=200000`, and checks what arrives: `READY=1` once the tree
//! is up, `WATCHDOG=1` pings, then `STOPPING=1` after a `SIGTERM`, and a
//! clean exit. The tree's command also shows that it did not inherit the
//! supervisor's `NOTIFY_SOCKET`.
//!
//! `harness = false`: `main` is either the test or the supervising program.
//!
//! ```text
//! cargo test -p supervisor-runtime --features systemd --test systemd
//! ```

#[cfg(unix)]
fn main() {
    unix::main();
}

#[cfg(not(unix))]
fn main() {
    println!("systemd: Unix only, nothing to run here");
}

#[cfg(unix)]
mod unix {
    use std::os::unix::net::UnixDatagram;
    use std::path::PathBuf;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use supervisor_runtime::{Child, Command, Group};

    const ROLE: &str = "SUPERVISOR_TEST_SYSTEMD_ROLE";
    /// Failure guard for every wait.
    const GUARD: Duration = Duration::from_secs(30);

    pub(super) fn main() {
        match std::env::var(ROLE).as_deref() {
            Ok("supervisor") => supervisor(),
            Ok(other) => panic!("unknown role {other:?}"),
            Err(_) => {
                if !supervisor_testkit::harness::should_run_here("a_tree_under_systemd") {
                    return;
                }
                print!("test a_tree_under_systemd ... ");
                a_tree_under_systemd();
                println!("ok");
            }
        }
    }

    /// The supervising program: one command that writes what it inherited
    /// to the file named in `argv[1]`, then runs until stopped.
    fn supervisor() {
        let file = std::env::args()
            .nth(1)
            .expect("the file for the command's environment");
        let script = r#"echo "${NOTIFY_SOCKET-unset} ${WATCHDOG_USEC-unset}" > "$0"; echo written; exec sleep 1000"#;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let result = rt.block_on(async move {
            Group::parallel("svc")
                .child(Child::new(
                    "cmd",
                    Command::new("sh")
                        .args(["-c", script])
                        .arg(&file)
                        .ready_when_line("written"),
                ))
                .build()
                .expect("a valid tree")
                .run_until_signal()
                .await
        });
        std::process::exit(if result.is_ok() { 0 } else { 1 });
    }

    /// The next message, or a failure after [`GUARD`].
    fn next(sock: &UnixDatagram, waiting_for: &str) -> String {
        let mut buf = [0u8; 4096];
        match sock.recv(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => panic!("no message while waiting for {waiting_for}: {e}"),
        }
    }

    fn a_tree_under_systemd() {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("supervisor-systemd-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("notify");
        let env_file = dir.join("env");
        let _ = std::fs::remove_file(&socket);
        let sock = UnixDatagram::bind(&socket).expect("the stand-in for systemd's socket");
        sock.set_read_timeout(Some(GUARD)).unwrap();

        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg(&env_file)
            .env(ROLE, "supervisor")
            .env("NOTIFY_SOCKET", &socket)
            .env("WATCHDOG_USEC", "200000")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .spawn()
            .expect("the supervising program starts");
        // Whatever fails below, the supervising program does not outlive the test.
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let pid = child.id();
        let mut child = Kill(child);

        // READY=1 once the tree is up (STATUS= lines may come before it),
        // and no WATCHDOG=1 before READY=1.
        let ready = loop {
            let m = next(&sock, "READY=1");
            assert!(!m.contains("WATCHDOG"), "a ping before READY=1: {m:?}");
            if m.contains("READY=1") {
                break m;
            }
        };
        assert_eq!(ready, "READY=1\nSTATUS=2 nodes healthy");
        // The command was up before the root: its file is written.
        let inherited = std::fs::read_to_string(&env_file).expect("the command wrote its file");
        assert_eq!(
            inherited.trim(),
            "unset unset",
            "the supervisor's own variables are not passed on"
        );

        // Pings every 100 ms (half of WATCHDOG_USEC).
        let mut pings = 0;
        let since = Instant::now();
        while pings < 5 {
            if next(&sock, "WATCHDOG=1") == "WATCHDOG=1" {
                pings += 1;
            }
        }
        let took = since.elapsed();
        assert!(
            took >= Duration::from_millis(300),
            "5 pings 100 ms apart take 400 ms, not {took:?}"
        );

        // SIGTERM: STOPPING=1, then a clean exit, and no ping after STOPPING=1.
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            let m = next(&sock, "STOPPING=1");
            if m.starts_with("STOPPING=1") {
                assert_eq!(m, "STOPPING=1\nSTATUS=stopping");
                break;
            }
        }
        let deadline = Instant::now() + GUARD;
        let exit = loop {
            if let Some(s) = child.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the supervising program did not exit"
            );
            // Nothing but silence is expected here: wait on the socket, briefly.
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let mut buf = [0u8; 4096];
            if let Ok(n) = sock.recv(&mut buf) {
                panic!(
                    "a message after STOPPING=1: {:?}",
                    String::from_utf8_lossy(&buf[..n])
                );
            }
        };
        assert!(exit.success(), "a clean stop: {exit}");
        // And nothing was left in the queue after STOPPING=1.
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(n) = sock.recv(&mut buf) {
            panic!(
                "a message after STOPPING=1: {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
