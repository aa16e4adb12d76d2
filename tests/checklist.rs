//! `wptdeploy checklist`: the migration checklist run through a real
//! pseudo-terminal against the sandbox, with `$EDITOR` replaced by a script
//! that edits the pulled file, a real local git checkout, and the offered
//! production deploy run after a simulated merge.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::sandbox::git;
use crate::support::terminal::Terminal;
use crate::support::{Sandbox, bin, json, sandbox_with_database, sandbox_with_migrated_database};

const MENU: &str = "[R]un / [s]kip / [d]etails / [a]bort";
const CONFIRM: &str = "Type `production` to go on";

/// A developer's clone of the origin on `branch`, with a git identity.
fn developer_checkout(s: &Sandbox, branch: &str) -> PathBuf {
    let checkout = s.dir.join("checkout");
    let origin = s.origin.display().to_string();
    git(&s.dir, &["clone", "-q", "-b", branch, &origin, "checkout"]);
    git(&checkout, &["config", "user.name", "A Developer"]);
    git(&checkout, &["config", "user.email", "dev@example.invalid"]);
    checkout
}

/// An `$EDITOR` that makes the edit autogenerate could not: `Text` → `String(200)`.
fn editor_script(s: &Sandbox) -> PathBuf {
    let path = s.dir.join("editor.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nsed -i 's/sa.Text()/sa.String(length=200)/' \"$1\"\necho \"edited $1\"\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&path)
        .status()
        .unwrap();
    path
}

/// `production`: the same host, with its own directories (so its own lock).
fn add_production(s: &Sandbox) -> PathBuf {
    let staging = std::fs::read_to_string(s.inventory.join("staging")).unwrap();
    let production = staging.replace("[staging]", "[production]");
    std::fs::write(s.inventory.join("production"), production).unwrap();
    let base = s.dir.join("prod/wptdash");
    std::fs::write(
        s.inventory.join("group_vars/production.yml"),
        format!("base_path: {}\n", json(&base.display().to_string())),
    )
    .unwrap();
    base
}

fn checklist_command(s: &Sandbox, checkout: &Path, extra: &[&str]) -> Command {
    let mut command = s.command(bin());
    command
        .args([
            "checklist",
            "staging",
            "--commit",
            "feature/comment-url",
            "-m",
            "add comment url",
            "--into",
        ])
        .arg(checkout.join("migrations/versions"))
        .args(extra)
        .env("EDITOR", editor_script(s));
    command
}

#[test]
fn the_checklist_runs_every_seed_step_with_the_person_deciding() {
    let (s, pg) = sandbox_with_database(&[]);
    let prod_base = add_production(&s);
    let checkout = developer_checkout(&s, "feature/comment-url");
    let mut terminal = Terminal::start(&checklist_command(&s, &checkout, &[]));
    terminal.wait_for("That is the plan", 1);
    let plan = terminal.screen();
    let mut asked: Vec<String> = Vec::new();
    loop {
        let (_, step) = terminal.next_of(&[MENU]);
        let details = step.contains("in your editor") || step.contains("commit ");
        if details && !asked.iter().any(|a| a == &step) {
            terminal.press('d');
            asked.push(step);
            continue;
        }
        if step.contains("to production") {
            // The pull request is merged: master has the migration.
            git(&checkout, &["push", "-q", "origin", "HEAD:master"]);
            terminal.press('r');
            asked.push(step);
            break;
        }
        terminal.press('r');
        asked.push(step);
    }
    let (_, _) = terminal.next_of(&[CONFIRM]);
    terminal.answer(CONFIRM, "production");
    let (ok, screen) = terminal.finish();
    assert!(ok, "{screen}");

    // The whole plan came first, a line a step; a step's exact command
    // when asked for (`d`).
    assert!(
        plan.contains("plan: the migration checklist for feature/comment-url on staging"),
        "{plan}"
    );
    assert!(
        plan.contains("planned check out feature/comment-url"),
        "{plan}"
    );
    assert!(
        !plan.contains("         $ "),
        "no commands in the plan: {plan}"
    );
    assert!(!screen.contains("         $ "), "{screen}");
    assert!(screen.contains("on this machine, in "), "{screen}");
    assert!(screen.contains(": git add -- "), "{screen}");
    // Each seed step was offered, in order.
    let order = [
        "check out feature/comment-url",
        "upgrade the database to",
        "switch ",
        "enter the virtualenv",
        "generate a migration (add comment url)",
        "pull ",
        "in your editor",
        "upload the edited",
        "check the columns of pull_request",
        "commit ",
        "to production with --migrate",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|name| {
            asked
                .iter()
                .position(|a| a.contains(name))
                .unwrap_or_else(|| panic!("`{name}` was not asked about: {asked:#?}"))
        })
        .collect();
    assert!(positions.is_sorted(), "{asked:#?}");
    assert!(
        screen.contains("on this machine: ") && screen.contains("editor.sh"),
        "details of a local step: {screen}"
    );
    assert!(
        screen.contains("/47] upgrade the database to"),
        "a spinner names the step while it runs: {screen}"
    );

    // Generated on the host, pulled, edited locally, and the edit uploaded and applied.
    let versions = checkout.join("migrations/versions");
    let file = std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with("_add_comment_url.py"))
        .expect("the migration was pulled");
    let local = std::fs::read_to_string(versions.join(&file)).unwrap();
    assert!(local.contains("sa.String(length=200)"), "{local}");
    let on_host =
        std::fs::read_to_string(s.base_path.join("site/migrations/versions").join(&file)).unwrap();
    assert_eq!(on_host, local, "the edited file went to the host");
    let revision = file.split('_').next().unwrap();
    assert_eq!(pg.revision().as_deref(), Some(revision));
    assert!(
        pg.columns("pull_request")
            .contains(&"comment_url character varying".to_owned()),
        "the edited migration is what ran: {:?}",
        pg.columns("pull_request")
    );
    // Committed locally with the suggested message; the PR hint shown.
    assert_eq!(
        git(&checkout, &["log", "-1", "--format=%s"]).trim(),
        format!("Add migration {revision}: add comment url")
    );
    assert!(
        git(&checkout, &["show", "--stat", "--format="]).contains(&file),
        "the commit adds the file"
    );
    assert!(
        screen.contains("git push origin feature/comment-url"),
        "{screen}"
    );
    // The production deploy ran, confirmed by name, with the merged master.
    let live = std::fs::read_link(prod_base.join("site")).unwrap();
    assert_eq!(live.file_name().unwrap().to_string_lossy(), s.sha("master"));
    assert!(
        !s.base_path.join(".wptdeploy-lock").exists(),
        "lock released"
    );
}

#[test]
fn skipping_the_editor_and_aborting_before_the_commit_leaves_the_checkout_alone() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let checkout = developer_checkout(&s, "feature/comment-url");
    let head = git(&checkout, &["rev-parse", "HEAD"]);
    let mut terminal = Terminal::start(&checklist_command(&s, &checkout, &[]));
    loop {
        let (_, step) = terminal.next_of(&[MENU]);
        if step.contains("in your editor") {
            terminal.press('s');
        } else if step.contains("commit ") {
            terminal.press('a');
            break;
        } else {
            terminal.press('r');
        }
    }
    let (ok, screen) = terminal.finish();
    assert!(!ok, "{screen}");
    assert!(
        screen.contains("aborted by you at step `commit "),
        "{screen}"
    );
    assert!(screen.contains("skipped by you"), "{screen}");
    // The generated file, unedited, was applied; nothing was committed.
    let versions = checkout.join("migrations/versions");
    let file = std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_add_comment_url.py"))
        .expect("pulled");
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("sa.Text()")
    );
    assert!(
        pg.columns("pull_request")
            .contains(&"comment_url text".to_owned())
    );
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]), head, "no commit");
    assert!(
        git(&checkout, &["status", "--porcelain"]).contains("?? "),
        "the file is left untracked for the person: {screen}"
    );
    assert_eq!(
        s.live_release(),
        Some(s.sha("feature/comment-url")),
        "the finished deploy stays: the database has its migration now"
    );
    assert!(
        !s.base_path.join(".wptdeploy-lock").exists(),
        "lock released"
    );
}

#[test]
fn without_a_terminal_the_checklist_refuses_at_once() {
    let s = crate::support::sandbox();
    let checkout = developer_checkout(&s, "feature/comment-url");
    let run = crate::support::Run::from_command(
        checklist_command(&s, &checkout, &[]).stdin(std::process::Stdio::null()),
    )
    .failure(2)
    .stderr_has("the checklist asks before each step, and there is no terminal to ask on")
    .stderr_has("`wptdeploy migration new staging --commit BRANCH -m MESSAGE`");
    assert!(run.stdout.is_empty());
    assert_eq!(s.live_release(), None, "nothing deployed");
    let listed = crate::support::Run::from_command(
        s.command(bin())
            .args(["checklist", "staging", "--list-steps"])
            .stdin(std::process::Stdio::null()),
    )
    .success();
    for step in [
        "check out",
        "in your editor",
        "upload the edited",
        "commit ",
        "open a pull request",
        "to production",
    ] {
        assert!(listed.stdout.contains(step), "{step}: {}", listed.stdout);
    }
}
