//! The guardian of a command's incarnation, seen through `/proc` (Linux):
//! it leads the process group, ignores what the group is sent short of
//! `SIGKILL`, and ends with the incarnation. (What it is for, ending
//! everything when the supervisor is killed, is `tests/orphans.rs`.)
#![cfg(target_os = "linux")]

use std::future::Future;
use std::time::Duration;

use supervisor_runtime::{Child, Command, Event, Group, NodeState, Restart, TreeHandle};
use tokio::sync::broadcast;

/// Failure guard for anything a test waits on.
const GUARD: Duration = Duration::from_secs(20);

async fn guarded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

async fn wait_state(rx: &mut broadcast::Receiver<Event>, name: &str, state: NodeState) -> Event {
    guarded(&format!("{name} to become {state:?}"), async {
        loop {
            match rx.recv().await {
                Ok(e) if e.name == name && e.state == state => return e,
                Ok(_) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    })
    .await
}

fn start(root: Group) -> (TreeHandle, broadcast::Receiver<Event>) {
    let tree = root.build().expect("a valid tree");
    let rx = tree.subscribe();
    (tree.start(), rx)
}

/// What `/proc/<pid>/stat` and `status` say about a process.
#[derive(Debug)]
struct Stat {
    ppid: i32,
    pgrp: i32,
    /// The mask of ignored signals (`SigIgn`), bit `n - 1` for signal `n`.
    ignored: u64,
    cmdline: String,
}

fn stat(pid: i32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(Stat {
        ppid: fields[1].parse().ok()?,
        pgrp: fields[2].parse().ok()?,
        ignored,
        cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
    })
}

/// The children of `parent` whose command line contains `what`.
fn children_running(parent: i32, what: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(s) = stat(pid) {
            if s.ppid == parent && s.cmdline.contains(what) {
                found.push(pid);
            }
        }
    }
    found
}

/// Waits, through a pidfd, until `pid` has ended (a zombie counts as ended).
async fn wait_dead(pid: i32) {
    let p = rustix::process::Pid::from_raw(pid).expect("a positive pid");
    // An error is ESRCH: the process is gone already.
    let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
        return;
    };
    guarded(
        &format!("process {pid} to end"),
        tokio::task::spawn_blocking(move || {
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            loop {
                match rustix::event::poll(&mut fds, None) {
                    Ok(_) => break,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => panic!("poll on a pidfd: {e}"),
                }
            }
        }),
    )
    .await
    .unwrap();
}

/// The guardian of the command running `what`: the leader of its process group.
fn guardian_of(what: &str) -> (i32, Stat, i32, Stat) {
    let me = std::process::id() as i32;
    let program = children_running(me, what);
    assert_eq!(program.len(), 1, "one process runs `{what}`");
    let program = program[0];
    let p = stat(program).expect("the program runs");
    let guardian = p.pgrp;
    assert_ne!(guardian, program, "the program does not lead its group");
    let g = stat(guardian).expect("the group's leader runs");
    (program, p, guardian, g)
}

#[tokio::test]
async fn the_guardian_leads_the_group_ignores_its_signals_and_ends_with_the_incarnation() {
    let (handle, mut rx) =
        start(Group::parallel("guarded").child(Child::new("p", Command::new("sleep").arg("7351"))));
    wait_state(&mut rx, "guarded.p", NodeState::Healthy).await;
    let (program, _, guardian, g) = guardian_of("sleep 7351");

    let me = std::process::id() as i32;
    assert_eq!(g.ppid, me, "the guardian is a child of the supervisor");
    assert_eq!(g.pgrp, guardian, "it leads its group");
    assert!(g.cmdline.starts_with("/bin/sh -c "), "{}", g.cmdline);
    assert!(
        g.cmdline.ends_with(" supervisor-guardian guarded.p "),
        "ps shows which node it guards: {}",
        g.cmdline
    );
    // HUP INT QUIT USR1 USR2 PIPE ALRM TERM: ignored before the program started.
    for sig in [1, 2, 3, 10, 12, 13, 14, 15] {
        assert!(
            g.ignored & (1 << (sig - 1)) != 0,
            "the guardian ignores signal {sig}: SigIgn {:x}",
            g.ignored
        );
    }
    // The program itself inherits none of that.
    assert_eq!(stat(program).unwrap().ignored & (1 << 14), 0);

    let report = guarded("the shutdown", handle.shutdown()).await;
    assert!(report.is_clean(), "{report:?}");
    wait_dead(program).await;
    wait_dead(guardian).await;
    // Reaped, not a zombie: the incarnation waited for it.
    assert!(stat(guardian).is_none(), "the guardian was reaped");
}

#[tokio::test]
async fn a_program_that_exits_takes_its_guardian_along() {
    let script = r#"trap 'exit 3' USR1; echo up; sleep 1000 & wait"#;
    let (_handle, mut rx) = start(
        Group::parallel("exits").child(
            Child::new(
                "p",
                Command::new("sh")
                    .args(["-c", script, "exits-4829"])
                    .ready_when_line("up"),
            )
            .restart(Restart::Temporary),
        ),
    );
    wait_state(&mut rx, "exits.p", NodeState::Healthy).await;
    let (program, _, guardian, _) = guardian_of("exits-4829");
    let background = children_running(program, "sleep 1000");
    assert_eq!(background.len(), 1, "the shell's background job");
    // Sent to the shell alone: its trap exits with status 3.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(program).unwrap(),
        rustix::process::Signal::USR1,
    )
    .unwrap();
    let e = wait_state(&mut rx, "exits.p", NodeState::Failed).await;
    assert_eq!(
        e.error.expect("the exit status").to_string(),
        "`sh` exited with status 3",
        "the program's own status, not the guardian's"
    );
    wait_dead(program).await;
    wait_dead(background[0]).await;
    wait_dead(guardian).await;
}
