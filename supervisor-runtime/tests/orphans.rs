//! No orphans, ever: when the supervising process is killed with `SIGKILL`,
//! every process its commands started ends, within a second (Linux).
//!
//! The supervising process is this test binary started again with
//! `SUPERVISOR_TEST_ORPHANS_ROLE=supervisor`: it runs a tree of two commands
//! whose processes fork grandchildren (`sh -c "sleep 1000 & sleep 1000 &
//! wait"`, and a shell whose child holds a TCP port), says `ready` on stdout
//! once the root is healthy, and waits. The test then lists every
//! descendant of that process through `/proc`, opens a pidfd on each, kills
//! the supervising process with `SIGKILL`, and waits on the pidfds: each
//! must end within one second of the kill, and the port must be free again.
//!
//! `harness = false`: `main` is either the test or one of the roles.
//!
//! ```text
//! cargo test -p supervisor-runtime --test orphans
//! ```

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("orphans: Linux only, nothing to run here");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::os::fd::OwnedFd;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
    use supervisor_runtime::{Child, Command, Group, NodeState};

    const ROLE: &str = "SUPERVISOR_TEST_ORPHANS_ROLE";
    /// The first command: two background jobs, then `up` once both have
    /// become `sleep` (read from `/proc/<pid>/comm`, without forking).
    const SHELL: &str = "sleep 1000 & a=$!; sleep 1000 & b=$!; \
        until read x < /proc/$a/comm && [ \"$x\" = sleep ] \
        && read y < /proc/$b/comm && [ \"$y\" = sleep ]; do :; done; echo up; wait";
    /// What identifies the first command's shell among the processes.
    const SHELL_MARK: &str = "sleep 1000 & a=$!";
    const PORT: &str = "SUPERVISOR_TEST_ORPHANS_PORT";
    /// The promise under test.
    const WITHIN: Duration = Duration::from_secs(1);
    /// How long the supervising program may take to bring its tree up.
    const START_LIMIT: Duration = Duration::from_secs(30);

    pub(super) fn main() {
        match std::env::var(ROLE).as_deref() {
            Ok("supervisor") => supervisor(),
            Ok("port") => hold_port(),
            Ok(other) => panic!("unknown role {other:?}"),
            Err(_) => {
                if !supervisor_testkit::harness::should_run_here(
                    "no_orphans_after_the_supervisor_is_killed",
                ) {
                    return;
                }
                print!("test no_orphans_after_the_supervisor_is_killed ... ");
                no_orphans_after_the_supervisor_is_killed();
                println!("ok");
            }
        }
    }

    /// The port the supervised grandchild holds.
    fn port() -> u16 {
        std::env::var(PORT)
            .expect("the port is passed down")
            .parse()
            .expect("a port number")
    }

    /// Role `port`: hold a listening TCP port until killed.
    fn hold_port() {
        let _listener = TcpListener::bind(("127.0.0.1", port())).expect("the port is free");
        loop {
            std::thread::park();
        }
    }

    /// Role `supervisor`: run the tree, say `ready` once it is up, wait to be killed.
    fn supervisor() {
        let exe = std::env::current_exe().expect("the test binary's path");
        let port = port();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let tree = Group::parallel("orphans")
                .child(Child::new(
                    "shell",
                    // `up` is printed once both background jobs run `sleep`
                    // (forked *and* exec'd: a job that has only been forked
                    // still shows the shell's command line in `/proc`).
                    Command::new("sh").args(["-c", SHELL]).ready_when_line("up"),
                ))
                .child(Child::new(
                    "port",
                    // The port is held by a grandchild, not by the command's own process.
                    Command::new("sh")
                        .args(["-c", "\"$0\" & wait"])
                        .arg(&exe)
                        .env(ROLE, "port")
                        .env(PORT, port.to_string())
                        .ready_when_port(port),
                ))
                .build()
                .expect("a valid tree");
            let mut events = tree.subscribe();
            let _handle = tree.start();
            loop {
                let e = events.recv().await.expect("the tree runs");
                if e.name == "orphans" && e.state == NodeState::Healthy {
                    break;
                }
                assert!(
                    !matches!(e.state, NodeState::Failed | NodeState::Backoff),
                    "{e}"
                );
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready").and_then(|()| out.flush()).unwrap();
            drop(out);
            std::future::pending::<()>().await;
        });
    }

    /// A process as `/proc` shows it.
    #[derive(Debug, Clone)]
    struct Proc {
        ppid: i32,
        cmdline: String,
    }

    /// Every process on the system that can be read now, by pid.
    fn processes() -> BTreeMap<i32, Proc> {
        let mut all = BTreeMap::new();
        for entry in std::fs::read_dir("/proc").expect("/proc is mounted") {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            // A process may end while we read: skip it.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let (Some(_state), Some(ppid)) = (fields.next(), fields.next()) else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .replace('\0', " ")
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            all.insert(
                pid,
                Proc {
                    ppid: ppid.parse().unwrap_or(0),
                    cmdline,
                },
            );
        }
        all
    }

    /// The descendants of `root` (not `root` itself).
    fn descendants(root: i32, all: &BTreeMap<i32, Proc>) -> BTreeMap<i32, Proc> {
        let mut found = BTreeSet::from([root]);
        loop {
            let before = found.len();
            for (pid, p) in all {
                if found.contains(&p.ppid) {
                    found.insert(*pid);
                }
            }
            if found.len() == before {
                break;
            }
        }
        found.remove(&root);
        found
            .into_iter()
            .map(|pid| (pid, all[&pid].clone()))
            .collect()
    }

    /// Processes to kill whatever happens, so that a failing run leaves
    /// nothing behind: through pidfds, which cannot reach a reused pid.
    #[derive(Default)]
    struct Reaper(Vec<(i32, OwnedFd)>);

    impl Reaper {
        /// Opens a pidfd on `pid`; `None` if it has ended already.
        fn watch(&mut self, pid: i32) -> Option<&OwnedFd> {
            let fd = pidfd_open(Pid::from_raw(pid)?, PidfdFlags::empty()).ok()?;
            self.0.push((pid, fd));
            self.0.last().map(|(_, fd)| fd)
        }

        fn kill(&self, pid: i32) {
            for (_, fd) in self.0.iter().filter(|(p, _)| *p == pid) {
                let _ = pidfd_send_signal(fd, Signal::KILL);
            }
        }
    }

    impl Drop for Reaper {
        fn drop(&mut self) {
            for (_, fd) in &self.0 {
                let _ = pidfd_send_signal(fd, Signal::KILL);
            }
        }
    }

    /// Whether the process behind `fd` has ended, waiting until `deadline`.
    fn ended_by(fd: &OwnedFd, deadline: Instant) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            };
            let mut fds = [PollFd::new(fd, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => return false,
                Ok(_) => return true,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => panic!("poll on a pidfd: {e}"),
            }
        }
    }

    fn no_orphans_after_the_supervisor_is_killed() {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().unwrap().port()
        };
        let mut supervisor =
            std::process::Command::new(std::env::current_exe().expect("the test binary's path"))
                .env(ROLE, "supervisor")
                .env(PORT, port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("the supervising program starts");
        let sup_pid = supervisor.id() as i32;
        let mut reaper = Reaper::default();
        reaper.watch(sup_pid).expect("the supervising program runs");

        // Its `ready` line, read on a thread so that the wait is bounded.
        let stdout = supervisor.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(START_LIMIT) {
            Ok(line) => line,
            Err(_) => panic!("the supervising program's tree was not up within {START_LIMIT:?}"),
        };
        assert_eq!(
            line.trim(),
            "ready",
            "the supervising program ended before its tree was up: {:?}",
            supervisor.try_wait()
        );

        let tree = descendants(sup_pid, &processes());
        // Pidfds first: a process that ends and whose pid is reused cannot
        // fool the check, and whatever fails below, nothing is left behind.
        let mut fds = Vec::new();
        for &pid in tree.keys() {
            match reaper.watch(pid) {
                Some(fd) => fds.push((pid, fd.try_clone().unwrap())),
                None => panic!("process {pid} of the tree ended before the supervisor was killed"),
            }
        }
        let show = |set: &BTreeMap<i32, Proc>| {
            set.iter()
                .map(|(pid, p)| format!("  {pid} (parent {}) {}", p.ppid, p.cmdline))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let count = |what: &str| tree.values().filter(|p| p.cmdline.contains(what)).count();
        let expected = [("supervisor-guardian", 2), (SHELL_MARK, 1), ("& wait", 1)];
        for (what, n) in expected {
            if count(what) != n {
                panic!(
                    "expected {n} process(es) running `{what}` under the supervisor:\n{}",
                    show(&tree)
                );
            }
        }
        // The two background jobs of the first shell, the port holder of the second.
        let shell = tree
            .iter()
            .find(|(_, p)| p.cmdline.contains(SHELL_MARK))
            .map(|(pid, _)| *pid)
            .unwrap();
        assert_eq!(
            tree.values().filter(|p| p.ppid == shell).count(),
            2,
            "two background jobs:\n{}",
            show(&tree)
        );
        assert_eq!(tree.len(), 7, "every process of the tree:\n{}", show(&tree));
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_err(),
            "the grandchild holds port {port}"
        );

        reaper.kill(sup_pid);
        let killed = Instant::now();
        let status = supervisor
            .wait()
            .expect("the supervising program is reaped");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status}"
        );

        let deadline = killed + WITHIN;
        let survivors: Vec<i32> = fds
            .iter()
            .filter(|(_, fd)| !ended_by(fd, deadline))
            .map(|(pid, _)| *pid)
            .collect();
        let took = killed.elapsed();
        if !survivors.is_empty() {
            let left: BTreeMap<i32, Proc> = tree
                .iter()
                .filter(|(pid, _)| survivors.contains(pid))
                .map(|(pid, p)| (*pid, p.clone()))
                .collect();
            panic!(
                "{} process(es) still alive {WITHIN:?} after the supervisor's SIGKILL:\n{}",
                survivors.len(),
                show(&left)
            );
        }
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is free again"
        );
        print!("(7 processes ended {took:?} after the SIGKILL) ");
    }
}
