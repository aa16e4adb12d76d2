//! `--step` and the production confirmation, driven through a real
//! pseudo-terminal; and, without a terminal, a clear refusal, never a hang.

use std::path::PathBuf;

use crate::support::terminal::Terminal;
use crate::support::{Sandbox, bin, sandbox};

/// A playbook of its own: take the lock, then touch a, b and c on the host.
fn touch_playbook(s: &Sandbox, failing_step: Option<&str>) -> PathBuf {
    let dir = s.dir.join("my-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let out = s.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut text = format!(
        "steps:\n  - name: take the deploy lock\n    lock:\n      path: {}\n",
        s.dir.join("lock").display()
    );
    for name in ["a", "b", "c"] {
        let command = match failing_step {
            Some(step) if step == name => format!(
                "test -e {} && touch {}",
                s.dir.join("flag").display(),
                out.join(name).display()
            ),
            _ => format!("touch {}", out.join(name).display()),
        };
        text.push_str(&format!("  - name: touch {name}\n    run: {command}\n"));
    }
    std::fs::write(dir.join("touch.yml"), text).unwrap();
    dir
}

fn step_command(s: &Sandbox, playbooks: &PathBuf, extra: &[&str]) -> std::process::Command {
    let mut command = s.command(bin());
    command
        .args([
            "staging",
            "--step",
            "--playbook",
            "touch.yml",
            "--playbooks",
        ])
        .arg(playbooks)
        .args(extra);
    command
}

#[test]
fn step_asks_before_each_step_and_runs_skips_and_aborts_as_told() {
    let s = sandbox();
    let playbooks = touch_playbook(&s, None);
    let mut terminal = Terminal::start(&step_command(&s, &playbooks, &[]));
    terminal.wait_for(
        "take the deploy lock?  [R]un / [s]kip / [d]etails / [a]bort",
        1,
    );
    terminal.press('r');
    terminal.wait_for("touch a?", 1);
    terminal.press('d');
    terminal.wait_for("touch a?", 2);
    // A key that answers nothing is told the keys there are, and asked again.
    terminal.press('x');
    terminal.wait_for("press r, s, d or a (Enter: run)", 1);
    terminal.wait_for("touch a?", 3);
    // Enter is the default: run.
    terminal.press('\r');
    terminal.wait_for("touch b?", 1);
    terminal.press('s');
    terminal.wait_for("touch c?", 1);
    terminal.press('a');
    let (ok, screen) = terminal.finish();
    assert!(!ok, "abort fails the run: {screen}");
    let exact = format!("sh -c 'touch {}'", s.dir.join("out/a").display());
    assert!(
        screen.contains(&exact),
        "details show the exact command: {screen}"
    );
    assert!(
        screen.contains("aborted by you at step `touch c`"),
        "{screen}"
    );
    let out = s.dir.join("out");
    assert!(
        out.join("a").exists() && !out.join("b").exists() && !out.join("c").exists(),
        "{screen}"
    );
    assert!(
        !s.dir.join("lock").exists(),
        "the lock is released after an abort"
    );
}

#[test]
fn after_a_failure_retry_runs_the_step_again() {
    let s = sandbox();
    let playbooks = touch_playbook(&s, Some("b"));
    let mut terminal = Terminal::start(&step_command(&s, &playbooks, &[]));
    for (prompt, answer) in [
        ("take the deploy lock?", 'r'),
        ("touch a?", 'r'),
        ("touch b?", 'r'),
    ] {
        terminal.wait_for(prompt, 1);
        terminal.press(answer);
    }
    // After a failure, abort is the default.
    terminal.wait_for("touch b failed.  [r]etry / [s]kip / [o]utput / [A]bort", 1);
    std::fs::write(s.dir.join("flag"), "").unwrap();
    terminal.press('r');
    terminal.wait_for("touch c?", 1);
    terminal.press('r');
    let (ok, screen) = terminal.finish();
    assert!(ok, "{screen}");
    assert!(
        ["a", "b", "c"]
            .iter()
            .all(|n| s.dir.join("out").join(n).exists()),
        "{screen}"
    );
}

#[test]
fn start_at_skips_the_earlier_steps_and_list_steps_names_them() {
    let s = sandbox();
    let playbooks = touch_playbook(&s, None);
    let listed = crate::support::Run::from_command(
        s.command(bin())
            .args([
                "staging",
                "--list-steps",
                "--playbook",
                "touch.yml",
                "--playbooks",
            ])
            .arg(&playbooks),
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains("  3  touch b"), "{}", listed.stdout);
    let mut terminal = Terminal::start(&step_command(&s, &playbooks, &["--start-at", "touch c"]));
    terminal.wait_for("take the deploy lock?", 1);
    terminal.press('r');
    terminal.wait_for("touch c?", 1);
    terminal.press('r');
    let (ok, screen) = terminal.finish();
    assert!(ok, "{screen}");
    let out = s.dir.join("out");
    assert!(
        !out.join("a").exists() && !out.join("b").exists() && out.join("c").exists(),
        "{screen}"
    );
    let unknown = crate::support::Run::from_command(
        s.command(bin())
            .args([
                "staging",
                "--start-at",
                "nope",
                "--playbook",
                "touch.yml",
                "--playbooks",
            ])
            .arg(&playbooks),
    );
    assert_eq!(unknown.code, 2);
    assert!(
        unknown
            .stderr
            .contains("hint: `--list-steps` shows the steps"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn production_asks_for_its_name_to_be_typed() {
    let s = sandbox();
    std::fs::rename(s.inventory.join("staging"), s.inventory.join("production")).unwrap();
    let mut command = s.command(bin());
    command.args(["--no-progress", "production", "--commit", "master"]);
    let mut wrong = Terminal::start(&command);
    wrong.wait_for("Type `production` to go on", 1);
    wrong.type_line("prod");
    let (ok, screen) = wrong.finish();
    assert!(
        !ok && screen.contains("you did not type `production`: nothing was changed"),
        "{screen}"
    );
    assert_eq!(s.live_release(), None);
    // What will change is said before the name is asked for.
    let master = s.sha("master");
    assert!(
        screen.contains(&format!(
            "deploying master ({}) to production: 1 host (sandbox-host)",
            &master[..12]
        )),
        "{screen}"
    );
    assert!(
        // (This host has no database: the sandbox sets `check_pending_migrations: false`.)
        screen.contains(
            "database: not migrated, and the release goes live even if its migrations are pending"
        ),
        "{screen}"
    );
    let mut migrating = s.command(bin());
    migrating.args([
        "--no-progress",
        "production",
        "--commit",
        "master",
        "--migrate",
    ]);
    let mut told = Terminal::start(&migrating);
    told.wait_for("Type `production` to go on", 1);
    told.type_line("no");
    let (ok, screen) = told.finish();
    assert!(!ok);
    assert!(
        screen.contains(&format!(
            "database: its pending migrations run before the switch, after a backup of wptdash to {}",
            s.base_path.join("backups").display()
        )),
        "{screen}"
    );
    let mut right = Terminal::start(&command);
    right.wait_for("Type `production` to go on", 1);
    right.type_line("production");
    let (ok, screen) = right.finish();
    assert!(ok, "{screen}");
    assert_eq!(s.live_release(), Some(s.sha("master")));
}

#[test]
fn without_a_terminal_interactive_modes_refuse_at_once() {
    let s = sandbox();
    let started = std::time::Instant::now();
    let step = s.wptdeploy(&["staging", "--step"]).failure(2);
    assert!(
        step.stderr
            .contains("`--step` asks before each step, and there is no terminal"),
        "{}",
        step.stderr
    );
    std::fs::rename(s.inventory.join("staging"), s.inventory.join("production")).unwrap();
    s.wptdeploy(&["production"])
        .failure(2)
        .stderr_has("a change to production must be confirmed, and there is no terminal")
        .stderr_has("hint: pass `--yes`");
    assert!(started.elapsed().as_secs() < 10, "no hang");
    assert_eq!(s.live_release(), None);
    // Reading production needs no confirmation; --check neither.
    s.wptdeploy(&["production", "--check"]).success();
}

/// `shell`: a pty on the host (over either transport), as the app user, in
/// the live release, with its virtualenv active; `exit` hands the terminal
/// back.
#[test]
fn shell_opens_on_a_pty_in_the_live_release_with_its_virtualenv() {
    let s = sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let release = s.base_path.join(s.sha("master"));
    let env = std::fs::canonicalize(release.join(".venv")).unwrap();
    let mut command = s.command(bin());
    command.args(["shell", "staging"]);
    let mut terminal = Terminal::start(&command);
    terminal.wait_for("[sandbox-host] ", 1);
    terminal.type_line(
        "echo \"AT $(pwd -P) ENV $(readlink -f \"$VIRTUAL_ENV\") TTY $(test -t 0 && echo yes)\"",
    );
    terminal.wait_for("AT /", 1);
    terminal.type_line("exit");
    let (ok, screen) = terminal.finish();
    assert!(ok, "{screen}");
    assert!(
        screen.contains(&format!(
            "AT {} ENV {} TTY yes",
            release.display(),
            env.display()
        )),
        "{screen}"
    );
}

/// `shell` when sudo on the host wants the login user's password: given
/// to wptdeploy once (`-K` at its prompt, or `--become-password-file`),
/// it is handed to the pty's sudo; the host never asks again, the
/// password never shows, and the one-time helper is gone afterwards.
#[test]
fn shell_asks_for_the_sudo_password_once_and_takes_the_file_too() {
    let (user, password) = crate::support::sandbox::password_sudo_user();
    let s = sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    // From now on the login user's sudo wants a password to become the app user.
    s.write_host(user, &s.key);
    let file = s.dir.join("become-password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let helpers = || -> Vec<String> {
        std::fs::read_dir("/tmp")
            .unwrap()
            .flatten()
            .filter(|e| e.path().join("askpass").exists() || e.path().join("pw").exists())
            .map(|e| e.path().display().to_string())
            .collect()
    };
    let before = helpers();
    for how in [
        vec![
            "--become-password-file".to_owned(),
            file.display().to_string(),
        ],
        vec!["-K".to_owned()],
    ] {
        let mut command = s.command(bin());
        command.args(["shell", "staging"]).args(&how);
        let mut terminal = Terminal::start(&command);
        if how[0] == "-K" {
            terminal.wait_for("sudo password for become", 1);
            terminal.wait_until_echo_is_off();
            terminal.type_line(password);
        }
        terminal.wait_for("[sandbox-host] ", 1);
        terminal.type_line("echo \"AS $(id -un)\"");
        terminal.wait_for("AS ", 1);
        terminal.type_line("exit");
        let (ok, screen) = terminal.finish();
        assert!(ok, "{how:?}: {screen}");
        assert!(
            screen.contains(&format!("AS {}", s.user)),
            "{how:?}: {screen}"
        );
        assert!(
            !screen.contains("[sudo] password") && !screen.contains(password),
            "{how:?}: asked again, or shown: {screen}"
        );
    }
    assert_eq!(helpers(), before, "the one-time helpers are gone");
}
