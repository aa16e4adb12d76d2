//! The deploy lock: two deploys never interleave, and the lock never
//! outlives the deploy that took it, however it ends.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Sandbox, bin, json, sandbox};

fn slow_health_sandbox(seconds: u32) -> Sandbox {
    let s = sandbox();
    s.write_inventory(&[("healthcheck_command", &json(&format!("sleep {seconds}")))]);
    s
}

fn spawn(s: &Sandbox, args: &[&str]) -> Child {
    s.command(bin())
        .arg("--no-progress")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lock_dir(s: &Sandbox) -> std::path::PathBuf {
    s.base_path.join(".wptdeploy-lock")
}

#[test]
fn a_second_deploy_is_refused_naming_the_holder_and_the_lock_goes_with_success() {
    let s = slow_health_sandbox(3);
    let mut first = spawn(&s, &["staging", "--commit", "master"]);
    wait_for(&lock_dir(&s).join("info"));
    let second = s
        .wptdeploy(&["staging", "--commit", "feature/comment-url"])
        .failure(1)
        .stderr_has("the deploy lock on sandbox-host is held by")
        .stderr_has("(commit master, `wptdeploy staging --commit master`)")
        .stderr_has("hint: if that deploy is dead: `wptdeploy unlock staging`");
    assert!(
        second.stderr.contains(&format!("{}@", s.user)),
        "{}",
        second.stderr
    );
    assert!(
        lock_dir(&s).exists(),
        "the refused deploy did not remove the holder's lock"
    );
    assert!(first.wait().unwrap().success());
    assert!(!lock_dir(&s).exists(), "released after success");
    assert_eq!(s.live_release(), Some(s.sha("master")));
}

#[test]
fn lock_wait_waits_for_the_holder_to_finish() {
    let s = slow_health_sandbox(2);
    let mut first = spawn(&s, &["staging", "--commit", "master"]);
    wait_for(&lock_dir(&s).join("info"));
    let second = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "feature/comment-url",
            "--lock-wait",
            "60s",
        ])
        .success()
        .stderr_has("waiting for the deploy lock");
    assert!(first.wait().unwrap().success(), "{}", second.stderr);
    assert_eq!(s.live_release(), Some(s.sha("feature/comment-url")));
}

/// Deploys `feature/comment-url` over `master`, and once the new release
/// is live and its health check running, sends `signal`: the run must end
/// with `code`, the lock released and the previous release live again.
fn a_signal_after_the_switch_switches_back(signal: &str, code: i32) {
    let s = slow_health_sandbox(60);
    s.write_inventory::<&str, &str>(&[]);
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    s.write_inventory(&[("healthcheck_command", &json("sleep 60"))]);
    let deploy = spawn(&s, &["staging", "--commit", "feature/comment-url"]);
    // Wait until the new release is live and the health check is running.
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.live_release() != Some(s.sha("feature/comment-url")) {
        assert!(Instant::now() < deadline, "never switched");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let pid = deploy.id().to_string();
    std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    let output = deploy.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{signal}: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped promptly"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!lock_dir(&s).exists(), "released after {signal}: {stderr}");
    assert_eq!(
        s.live_release(),
        Some(s.sha("master")),
        "switched back after {signal}: {stderr}"
    );
}

#[test]
fn ctrl_c_releases_the_lock_and_switches_back() {
    a_signal_after_the_switch_switches_back("INT", 130);
}

/// What CI timeouts, `timeout(1)`, systemd and `docker stop` send.
#[test]
fn sigterm_ends_as_cleanly_as_ctrl_c() {
    a_signal_after_the_switch_switches_back("TERM", 143);
}

/// What a closed terminal sends.
#[test]
fn sighup_ends_as_cleanly_as_ctrl_c() {
    a_signal_after_the_switch_switches_back("HUP", 129);
}

/// A cleanup that takes a while (the restart it reruns after switching
/// back): a second signal says it is still running; a third abandons it,
/// naming the lock that may be left and how to see which release is live.
#[test]
fn a_second_signal_says_the_cleanup_runs_and_a_third_abandons_it_naming_what_is_left() {
    let s = sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    s.write_inventory(&[
        ("restart_command", &json("sleep 5")),
        ("healthcheck_command", &json("sleep 60")),
    ]);
    let deploy = spawn(&s, &["staging", "--commit", "feature/comment-url"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    // The restart (5 s) has run and the health check has begun.
    while s.live_release() != Some(s.sha("feature/comment-url")) {
        assert!(Instant::now() < deadline, "never switched");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(6));
    let term = || {
        std::process::Command::new("kill")
            .args(["-TERM", &deploy.id().to_string()])
            .status()
            .unwrap()
    };
    term();
    // The switch back is done and the restart (5 s) is running again.
    while s.live_release() != Some(s.sha("master")) {
        assert!(Instant::now() < deadline, "never switched back");
        std::thread::sleep(Duration::from_millis(20));
    }
    term();
    std::thread::sleep(Duration::from_millis(300));
    term();
    let output = deploy.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("still cleaning up"), "{stderr}");
    assert!(
        stderr.contains("abandoned before the cleanup ended; what may be left:"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "sandbox-host: the deploy lock {}",
            lock_dir(&s).display()
        )) && stderr.contains("`wptdeploy unlock staging` removes it"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("`readlink {}/site`", s.base_path.display())),
        "{stderr}"
    );
}

#[test]
fn unlock_shows_a_stale_lock_and_removes_it() {
    let s = sandbox();
    crate::support::stale_lock(&s);
    s.wptdeploy(&["staging"])
        .failure(1)
        .stderr_has("held by alice@laptop since");
    // No terminal: it will not remove without --yes.
    let refused = crate::support::Run::from_command(
        s.command(bin())
            .args(["unlock", "staging"])
            .stdin(Stdio::null()),
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("pass `--yes`"),
        "{}",
        refused.stderr
    );
    assert!(lock_dir(&s).exists());
    let unlocked =
        crate::support::Run::from_command(s.command(bin()).args(["unlock", "staging", "--yes"]));
    assert_eq!(unlocked.code, 0, "{}", unlocked.stderr);
    assert!(
        unlocked.stderr.contains("locked by alice@laptop"),
        "{}",
        unlocked.stderr
    );
    assert!(unlocked.stderr.contains("lock removed"));
    assert!(!lock_dir(&s).exists());
    s.wptdeploy(&["staging"]).success();
}

/// A take that reached the host after its deploy had given up (the network
/// came back and delivered it late) is never confirmed: the next deploy
/// waits out the grace, takes it over and says so, instead of being
/// refused by a lock nobody holds.
#[test]
fn a_lock_its_deploy_never_confirmed_is_taken_over_not_left_stale() {
    let s = sandbox();
    let lock = crate::support::stale_lock(&s);
    std::fs::write(lock.join("pending.t"), "").unwrap();
    let started = Instant::now();
    let run = s.wptdeploy(&["staging"]).success();
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("took over a lock that was never confirmed, held by alice@laptop"),
        "{said}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "a fresh unconfirmed lock was taken over before its grace"
    );
    assert!(!lock.exists(), "the deploy left the lock behind");
    // A confirmed lock is never taken over, however old.
    crate::support::stale_lock(&s);
    s.wptdeploy(&["staging"])
        .failure(1)
        .stderr_has("held by alice@laptop since");
}

#[test]
fn unlock_on_a_terminal_asks_host_by_host_and_no_keeps_the_lock() {
    use crate::support::terminal::Terminal;
    let s = sandbox();
    crate::support::stale_lock(&s);
    let unlock = || {
        let mut command = s.command(bin());
        command.args(["--no-progress", "unlock", "staging"]);
        command
    };
    let mut terminal = Terminal::start(&unlock());
    terminal.wait_for("remove the deploy lock?", 1);
    terminal.type_line("n");
    let (ok, screen) = terminal.finish();
    assert!(ok, "{screen}");
    assert!(screen.contains("locked by alice@laptop"), "{screen}");
    assert!(lock_dir(&s).exists(), "no keeps the lock: {screen}");
    let mut terminal = Terminal::start(&unlock());
    terminal.wait_for("remove the deploy lock?", 1);
    terminal.type_line("y");
    let (ok, screen) = terminal.finish();
    assert!(ok, "{screen}");
    assert!(screen.contains("lock removed"), "{screen}");
    assert!(!lock_dir(&s).exists(), "yes removes it: {screen}");
}

#[test]
fn lock_holds_for_maintenance_with_its_reason_and_status_only_looks() {
    let s = sandbox();
    s.wptdeploy(&["staging"]).success();
    s.wptdeploy(&["lock", "staging", "-m", "db maintenance until 3pm"])
        .success();
    assert!(lock_dir(&s).exists(), "the lock outlives the run");
    s.wptdeploy(&["staging"])
        .failure(1)
        .stderr_has("db maintenance until 3pm");
    let status = s.wptdeploy(&["lock", "status", "staging"]).success();
    assert!(
        status.stderr.contains("locked by") && status.stderr.contains("db maintenance until 3pm"),
        "{}",
        status.stderr
    );
    assert!(lock_dir(&s).exists(), "status only looks");
    s.wptdeploy(&["lock", "staging", "-m", "again"])
        .failure(1)
        .stderr_has("db maintenance until 3pm");
    s.wptdeploy(&["unlock", "staging", "--yes"]).success();
    assert!(!lock_dir(&s).exists());
    s.wptdeploy(&["staging"]).success();
    assert!(!lock_dir(&s).exists(), "a deploy's own lock goes with it");
}
