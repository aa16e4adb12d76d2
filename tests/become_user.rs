//! `become`: steps run as the app user through `sudo -n`, never waiting
//! on a hidden prompt. These need root (to own files as `www-data` and to
//! create a user whose sudo wants a password); CI runs as root, and
//! elsewhere they fail saying so rather than pass without testing anything.

use std::os::unix::fs::MetadataExt as _;
use std::time::Instant;

use crate::support::sandbox::password_sudo_user;
use crate::support::terminal::Terminal;
use crate::support::{Run, Sandbox, bin, faithful_sandbox as sandbox, is_root, json};

const APP_USER_UID: u32 = 33; // www-data on Debian and Ubuntu

fn require_root() {
    assert!(
        is_root(),
        "needs root (CI runs as root): become tests own files as www-data"
    );
}

fn as_www_data(s: &Sandbox) {
    s.write_inventory(&[
        ("app_user", &json("www-data")),
        // uv's shared cache is this user's; www-data keeps its own.
        ("uv_cache_path", &json("{{ state_path }}/uv-cache")),
    ]);
}

fn login_as(s: &Sandbox, user: &str) {
    s.write_host(user, &s.key);
}

#[test]
fn the_release_belongs_to_the_app_user_not_root() {
    require_root();
    let s = sandbox();
    as_www_data(&s);
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let release = s.base_path.join(s.sha("master"));
    for path in [
        release.clone(),
        release.join("config.txt"),
        release.join("wptdash/static/build.txt"),
        s.base_path.join("site"),
    ] {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(
            meta.uid(),
            APP_USER_UID,
            "{} is owned by uid {}",
            path.display(),
            meta.uid()
        );
    }
    assert_eq!(
        std::fs::metadata(&s.base_path).unwrap().uid(),
        APP_USER_UID,
        "base_path created for the app user"
    );
}

#[test]
fn sudo_that_wants_a_password_fails_fast_and_says_how_to_fix_it() {
    let (user, _) = password_sudo_user();
    let s = sandbox();
    as_www_data(&s);
    login_as(&s, user);
    let started = Instant::now();
    s.wptdeploy(&["staging", "--commit", "master"])
        .failure(1)
        .stderr_has("sudo needs a password to run commands as `root`")
        .stderr_has("hint: pass `-K` (`--ask-become-pass`)");
    assert!(
        started.elapsed().as_secs() < 10,
        "no hang: {:?}",
        started.elapsed()
    );
    assert!(s.live_release().is_none());
}

#[test]
fn a_become_password_is_fed_to_sudo_and_never_shown() {
    let (user, password) = password_sudo_user();
    let s = sandbox();
    as_www_data(&s);
    login_as(&s, user);
    let file = s.dir.join("become-pass");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let file_arg = file.display().to_string();
    let run = Run::from_command(s.command(bin()).args([
        "--no-progress",
        "staging",
        "--commit",
        "master",
        "-v",
        "--become-password-file",
        &file_arg,
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(password) && !run.stdout.contains(password));
    assert_eq!(s.live_release(), Some(s.sha("master")));
    let release = s.base_path.join(s.sha("master"));
    assert_eq!(std::fs::metadata(release).unwrap().uid(), APP_USER_UID);

    std::fs::write(&file, "wrong-password\n").unwrap();
    let wrong = Run::from_command(s.command(bin()).args([
        "--no-progress",
        "staging",
        "--commit",
        "feature/comment-url",
        "--become-password-file",
        &file_arg,
    ]));
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("sudo rejected the password"),
        "{}",
        wrong.stderr
    );
    assert_eq!(s.live_release(), Some(s.sha("master")), "nothing switched");
}

/// `-K` asks on the terminal (driven here through a pseudo-terminal).
#[test]
fn ask_become_pass_prompts_on_the_terminal_once() {
    let (user, password) = password_sudo_user();
    let s = sandbox();
    as_www_data(&s);
    login_as(&s, user);
    let mut command = s.command(bin());
    command.args(["--no-progress", "staging", "--commit", "master", "-K"]);
    let mut terminal = Terminal::start(&command);
    terminal.wait_for("sudo password", 1);
    terminal.wait_until_echo_is_off();
    terminal.type_line(password);
    let (ok, screen) = terminal.finish();
    assert!(ok, "{screen}");
    assert!(
        !screen.contains(password),
        "the password is not echoed: {screen}"
    );
    assert_eq!(
        screen.matches("[hidden]").count(),
        1,
        "answered once: {screen}"
    );
    assert_eq!(s.live_release(), Some(s.sha("master")));
}
