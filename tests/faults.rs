//! The fault-injection suite: a `--migrate` deploy of a new release, ended
//! at each of its steps in each way a run can end, against the real sshd,
//! PostgreSQL and git of the sandbox. After every ending the invariants of
//! docs/reliability.md must hold:
//!
//! - `site` points at a complete release that was healthy: the old one, or
//!   the new one only if its health check passed (or, where the host could
//!   not be reached to switch back, the final error says the new one is live
//!   and how to switch back);
//! - no deploy lock is left, unless the tool said so and how to remove it;
//! - after the fault is repaired (and a lock the tool named removed as it
//!   said), the next plain deploy succeeds: nothing left behind trips it.
//!
//! Each ending is its own test (they run in parallel) and prints its row of
//! the matrix: the step the fault was injected at (when that step started),
//! and whether the invariants held.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::netns::NetnsHost;
use crate::support::postgres::Postgres;
use crate::support::{Run, Sandbox, bin, sandbox_with_migrated_database};

/// A way a run can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Sigint,
    Sigterm,
    Sighup,
    ShellKilled,
    SshdKilled,
    DiskFull,
    PostgresStopped,
    NetworkCut,
}

impl Ending {
    fn name(self) -> &'static str {
        match self {
            Ending::Sigint => "SIGINT",
            Ending::Sigterm => "SIGTERM",
            Ending::Sighup => "SIGHUP",
            Ending::ShellKilled => "remote shell killed",
            Ending::SshdKilled => "sshd killed",
            Ending::DiskFull => "disk full",
            Ending::PostgresStopped => "PostgreSQL stopped",
            Ending::NetworkCut => "network cut",
        }
    }

    fn signal(self) -> Option<(&'static str, i32)> {
        match self {
            Ending::Sigint => Some(("INT", 130)),
            Ending::Sigterm => Some(("TERM", 143)),
            Ending::Sighup => Some(("HUP", 129)),
            _ => None,
        }
    }
}

/// The steps of the default deploy that a `--migrate` run of a new release
/// with no new migration starts: 2 has nothing to fix, 12-20 nothing
/// pending (a failing upgrade is tests/migrate.rs's), 26 no URL to fetch.
const ALL_STEPS: &[usize] = &[1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 21, 22, 23, 24, 25, 27];

/// A host that takes seconds to be declared gone is tried where it matters:
/// the lock, the build, the migration check, the switch, the health check.
const KEY_STEPS: &[usize] = &[3, 6, 11, 23, 25];

/// The host under test, with what a fault needs to break and repair it.
struct Host {
    s: Sandbox,
    pg: Postgres,
    netns: Option<NetnsHost>,
    tmpfs: Option<Tmpfs>,
}

/// A small tmpfs mounted on the host's `base_path`, so a disk can fill up.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path) -> Tmpfs {
        assert!(
            crate::support::sandbox::is_root(),
            "the disk-full faults mount a small tmpfs, which needs root (CI runs as root)"
        );
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs on {}", path.display());
        Tmpfs {
            path: path.to_owned(),
        }
    }

    fn filler(&self) -> PathBuf {
        self.path.join(".filler")
    }

    /// Fills the file system to the last byte.
    fn fill(&self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cat /dev/zero > {} 2>/dev/null",
                self.filler().display()
            ))
            .status();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

impl Host {
    fn start(ending: Ending) -> Host {
        // A restart that runs, so the switch-back restarts too.
        // The sandbox's entry point loads in milliseconds: the load
        // before the switch is a step the faults land on, without the cost
        // of importing Flask in every cell.
        // A shared directory, so that the step linking it is one a fault lands on.
        let (s, pg) = sandbox_with_migrated_database(&[
            ("restart_command", "\"true\""),
            ("shared_paths", "[logs]"),
        ]);
        let tmpfs = (ending == Ending::DiskFull).then(|| Tmpfs::mount(&s.base_path));
        let netns = (ending == Ending::NetworkCut).then(|| {
            let host = NetnsHost::start(&s, "faulty");
            std::fs::write(
                s.inventory.join("staging"),
                format!(
                    "[staging]\nsandbox-host ansible_host={} ansible_port={} ansible_user={} ansible_ssh_private_key_file={}\n",
                    host.address,
                    host.port,
                    s.user,
                    s.key.display()
                ),
            )
            .unwrap();
            // The git daemon listens outside the namespace: clone by path.
            let host_vars = s.inventory.join("host_vars");
            std::fs::create_dir_all(&host_vars).unwrap();
            std::fs::write(
                host_vars.join("sandbox-host.yml"),
                format!("git_repo: {}\n", crate::support::json(&s.origin.display().to_string())),
            )
            .unwrap();
            host
        });
        let host = Host {
            s,
            pg,
            netns,
            tmpfs,
        };
        host.deploy(&["staging", "--commit", "master", "--migrate"])
            .success();
        host
    }

    fn deploy(&self, args: &[&str]) -> Run {
        let mut command = self.s.command(bin());
        command
            .args(args)
            .args(["--no-progress", "--connect-timeout", "3s"]);
        Run::from_command(&mut command)
    }

    fn lock(&self) -> PathBuf {
        self.s.base_path.join(".wptdeploy-lock")
    }

    /// Breaks the host (or the run) the way `ending` says.
    fn inject(&mut self, ending: Ending, pid: u32) {
        match ending {
            Ending::Sigint | Ending::Sigterm | Ending::Sighup => {
                let (signal, _) = ending.signal().unwrap();
                let _ = Command::new("kill")
                    .args([&format!("-{signal}"), &pid.to_string()])
                    .status();
            }
            Ending::ShellKilled => kill_remote_shells(self.s.sshd_pid()),
            Ending::SshdKilled => self.s.kill_sshd(),
            Ending::DiskFull => self.tmpfs.as_ref().unwrap().fill(),
            Ending::PostgresStopped => self.pg.stop(),
            Ending::NetworkCut => self.netns.as_ref().unwrap().cut(),
        }
    }

    /// Repairs what `inject` broke.
    fn repair(&mut self, ending: Ending) {
        match ending {
            Ending::SshdKilled => self.s.restart_sshd(),
            Ending::DiskFull => {
                let _ = std::fs::remove_file(self.tmpfs.as_ref().unwrap().filler());
            }
            Ending::PostgresStopped => self.pg.start_again(),
            Ending::NetworkCut => self.netns.as_ref().unwrap().restore(),
            _ => {}
        }
    }
}

/// Kills (SIGKILL) the login shells the host's sshd runs: the `sh` whose
/// parent is one of its session processes.
fn kill_remote_shells(sshd: u32) {
    let stat = |pid: &str| -> Option<(String, u32)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let comm = text[open + 1..close].to_owned();
        let ppid = text[close + 2..].split(' ').nth(1)?.parse().ok()?;
        Some((comm, ppid))
    };
    let processes: Vec<(u32, String, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            let (comm, ppid) = stat(&pid)?;
            Some((pid.parse().ok()?, comm, ppid))
        })
        .collect();
    let descends = |mut pid: u32| {
        while pid > 1 {
            if pid == sshd {
                return true;
            }
            pid = processes.iter().find(|p| p.0 == pid).map_or(0, |p| p.2);
        }
        false
    };
    for (pid, comm, ppid) in &processes {
        let parent_is_sshd = processes
            .iter()
            .any(|p| p.0 == *ppid && p.1.starts_with("sshd"));
        if comm == "sh" && parent_is_sshd && descends(*ppid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// One cell of the matrix.
struct Cell {
    step: usize,
    /// The fault was injected (the step started).
    landed: bool,
    /// What broke, if an invariant did not hold.
    broken: Vec<String>,
}

/// Deploys a new release with `--migrate` and injects `ending` when step
/// `step` starts; returns the run and whether the fault was injected.
fn run_with_fault(
    host: &mut Host,
    ending: Ending,
    step: usize,
) -> (Run, Vec<serde_json::Value>, bool) {
    let branch = format!("fault-{}-{step}", ending.name().replace(' ', "-"));
    host.s.new_branch(&branch);
    let mut child = host
        .s
        .command(bin())
        .args([
            "staging",
            "--commit",
            &branch,
            "--migrate",
            "--output",
            "json",
        ])
        .args(["--no-progress", "--connect-timeout", "3s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, events) = mpsc::channel::<serde_json::Value>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(event) = serde_json::from_str(&line) {
                let _ = tx.send(event);
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    let mut landed = false;
    loop {
        match events.recv_timeout(Duration::from_millis(50)) {
            Ok(event) => {
                if !landed
                    && event["event"] == "step_started"
                    && event["index"].as_u64() == Some(step as u64)
                {
                    host.inject(ending, child.id());
                    landed = true;
                }
                seen.push(event);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} at step {step}: wptdeploy hung for 120 s", ending.name());
        }
    }
    reader.join().unwrap();
    let status = child.wait().unwrap();
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: errors.join().unwrap(),
    };
    (run, seen, landed)
}

/// Runs one cell: the fault, the repair, the invariants, the next deploy.
fn cell(host: &mut Host, ending: Ending, step: usize) -> Cell {
    let old = host
        .s
        .live_release()
        .expect("a live release before the fault");
    let (run, events, landed) = run_with_fault(host, ending, step);
    host.repair(ending);
    let new = host
        .s
        .sha(&format!("fault-{}-{step}", ending.name().replace(' ', "-")));
    let mut broken = Vec::new();
    let shown = format!("exit {}\n{}", run.code, run.stderr);
    if ending == Ending::ShellKilled
        && landed
        && run.code != 0
        && !run.stderr.contains("ended unexpectedly")
    {
        broken.push(format!("a killed shell not reported as such: {shown}"));
    }
    if run.stderr.contains("panicked") {
        broken.push(format!("a panic: {shown}"));
    }
    if let Some((_, code)) = ending.signal()
        && landed
        && ![code, 0].contains(&run.code)
    {
        broken.push(format!("exit code {} (not {code}): {shown}", run.code));
    }
    let healthy = events.iter().any(|e| {
        e["event"] == "step_finished"
            && e["name"] == "run healthcheck_command"
            && ["ok", "changed"].contains(&e["status"].as_str().unwrap_or_default())
    });
    let said_live = run.stderr.contains(&format!("may still point at {new}"));
    let live = host.s.live_release();
    match live.as_deref() {
        Some(l) if l == old => {}
        Some(l) if l == new && (healthy || said_live) => {}
        other => broken.push(format!(
            "site points at {other:?}: neither the old release nor a healthy new one: {shown}"
        )),
    }
    if let Some(l) = &live {
        let built = host.s.base_path.join("site/wptdash/static/build.txt");
        if !std::fs::read_to_string(built).is_ok_and(|b| b.contains(l.as_str())) {
            broken.push(format!("the live release {l} is incomplete (no build.txt)"));
        }
    }
    if host.lock().exists() {
        // Said on stderr (an error's hint) or, the run having ended well,
        // in a warning event on stdout (`--output json`).
        let warned = events.iter().any(|e| {
            e["event"] == "warning" && e["message"].as_str().is_some_and(|m| m.contains("unlock"))
        });
        if !run.stderr.contains("unlock") && !warned {
            broken.push(format!("a lock was left and nothing said so: {shown}"));
        }
        let unlock = host.deploy(&["unlock", "staging", "--yes"]);
        if unlock.code != 0 {
            broken.push(format!("unlock as told failed: {}", unlock.stderr));
        }
    }
    let next = host.deploy(&["staging"]);
    if next.code != 0 {
        broken.push(format!(
            "the next plain deploy failed: {}\nafter the faulty run: {shown}",
            next.stderr
        ));
    }
    Cell {
        step,
        landed,
        broken,
    }
}

/// Runs `ending` at each of `steps`, prints its row and asserts every cell.
fn matrix(ending: Ending, steps: &[usize]) {
    let mut host = Host::start(ending);
    let cells: Vec<Cell> = steps
        .iter()
        .map(|&step| cell(&mut host, ending, step))
        .collect();
    let row: Vec<String> = cells
        .iter()
        .map(|c| {
            let mark = match (c.landed, c.broken.is_empty()) {
                (_, false) => "BROKEN",
                (true, true) => "held",
                (false, true) => "not reached",
            };
            format!("{}:{mark}", c.step)
        })
        .collect();
    println!("fault matrix | {:<20} | {}", ending.name(), row.join(" "));
    let broken: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            c.broken
                .iter()
                .map(move |b| format!("step {}: {b}", c.step))
        })
        .collect();
    assert!(
        broken.is_empty(),
        "{}: {} invariant(s) broken:\n{}",
        ending.name(),
        broken.len(),
        broken.join("\n\n")
    );
    let missed: Vec<usize> = cells.iter().filter(|c| !c.landed).map(|c| c.step).collect();
    assert!(
        missed.is_empty(),
        "{}: the fault never landed at steps {missed:?} (did the default deploy's steps change?)",
        ending.name()
    );
}

#[test]
fn sigint_at_every_step() {
    matrix(Ending::Sigint, ALL_STEPS);
}

#[test]
fn sigterm_at_every_step() {
    matrix(Ending::Sigterm, ALL_STEPS);
}

#[test]
fn sighup_at_every_step() {
    matrix(Ending::Sighup, ALL_STEPS);
}

#[test]
fn a_killed_remote_shell_at_every_step() {
    matrix(Ending::ShellKilled, ALL_STEPS);
}

#[test]
fn a_killed_sshd_at_every_step() {
    matrix(Ending::SshdKilled, ALL_STEPS);
}

#[test]
fn a_full_disk_at_every_step() {
    matrix(Ending::DiskFull, ALL_STEPS);
}

#[test]
fn postgresql_stopped_at_every_step() {
    matrix(Ending::PostgresStopped, ALL_STEPS);
}

#[test]
fn the_network_cut_at_key_steps() {
    matrix(Ending::NetworkCut, KEY_STEPS);
}
