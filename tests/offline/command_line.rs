//! The command line's shape, without a host: `deploy ENV` as the explicit
//! form of `ENV`, `help COMMAND`, bare `wptdeploy`, completion scripts
//! that their own shells parse, the man page, numbers that make no sense.

use std::process::{Command, Output, Stdio};

use crate::support::bin;

fn wptdeploy(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("WPTDEPLOY_INVENTORY", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bare_wptdeploy_lists_the_commands_and_help_works_for_each() {
    let bare = wptdeploy(&[]);
    assert_eq!(bare.status.code(), Some(2));
    let listed = text(&bare.stderr);
    for command in [
        "deploy",
        "rollback",
        "status",
        "migration",
        "completions",
        "man",
    ] {
        assert!(
            listed.contains(&format!("\n  {command} ")),
            "{command} not listed:\n{listed}"
        );
    }
    let names: Vec<String> = wptdeploy::commands::clap_command()
        .get_subcommands()
        .flat_map(|c| {
            let sub: Vec<String> = c
                .get_subcommands()
                .map(|s| format!("{} {}", c.get_name(), s.get_name()))
                .collect();
            if sub.is_empty() {
                vec![c.get_name().to_owned()]
            } else {
                sub
            }
        })
        .collect();
    assert!(names.len() > 15, "{names:?}");
    for name in &names {
        let words: Vec<&str> = std::iter::once("help").chain(name.split(' ')).collect();
        let help = wptdeploy(&words);
        let out = text(&help.stdout);
        assert_eq!(
            help.status.code(),
            Some(0),
            "help {name}: {}",
            text(&help.stderr)
        );
        assert!(
            out.contains(&format!("Usage: wptdeploy {name}")),
            "help {name}:\n{out}"
        );
    }
    let top = wptdeploy(&["help"]);
    assert_eq!(top.status.code(), Some(0));
    assert!(text(&top.stdout).contains("Commands:"));
}

/// `deploy ENV` takes a deploy's options and reaches the same place as
/// `ENV` (here: an inventory that is not there).
#[test]
fn deploy_env_is_the_explicit_form_of_env() {
    let explicit = wptdeploy(&["deploy", "staging", "--commit", "main", "--check"]);
    let short = wptdeploy(&["staging", "--commit", "main", "--check"]);
    assert_eq!(explicit.status.code(), Some(2));
    assert_eq!(text(&explicit.stderr), text(&short.stderr));
    assert!(
        text(&explicit.stderr).contains("/nonexistent"),
        "{}",
        text(&explicit.stderr)
    );
    let refused = wptdeploy(&["deploy", "staging", "--commit", "x; rm -rf /"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("is not a valid git ref"));
}

#[test]
fn nonsensical_numbers_are_refused() {
    for (args, said) in [
        (
            &["staging", "--forks", "0"][..],
            "'--forks <N>': must be at least 1",
        ),
        (&["deploy", "staging", "--forks", "-3"][..], "'-3'"),
        (
            &["status", "staging", "--connect-timeout", "0s"][..],
            "'--connect-timeout <DURATION>': must be longer than 0s",
        ),
    ] {
        let run = wptdeploy(args);
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        assert!(
            text(&run.stderr).contains(said),
            "{args:?}: {}",
            text(&run.stderr)
        );
    }
}

/// Each completion script is parsed by its own shell (no shell is skipped:
/// scripts/system-packages installs zsh and fish).
#[test]
fn completion_scripts_parse_in_their_shells_and_the_man_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, check) in [
        ("bash", &["bash", "-n"][..]),
        ("zsh", &["zsh", "-n"][..]),
        ("fish", &["fish", "--no-execute"][..]),
    ] {
        let run = wptdeploy(&["completions", shell]);
        assert_eq!(run.status.code(), Some(0), "{shell}");
        let script = text(&run.stdout);
        // The script asks wptdeploy (COMPLETE=SHELL) what completes.
        assert!(
            script.contains("COMPLETE") && script.contains("wptdeploy"),
            "{shell}: {script}"
        );
        let path = dir.path().join(format!("wptdeploy.{shell}"));
        std::fs::write(&path, &script).unwrap();
        let parsed = Command::new(check[0])
            .args(&check[1..])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{} is needed (scripts/system-packages): {e}", check[0]));
        assert!(
            parsed.status.success(),
            "{shell} does not parse its completions: {}",
            text(&parsed.stderr)
        );
    }
    let man = wptdeploy(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let page = text(&man.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH wptdeploy 1"),
        "{page}"
    );
    assert!(page.contains("rollback"));
    // A closed pipe ends it quietly.
    let mut head = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' completions fish | head -n 1",
            bin().display()
        ))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    head.stderr.retain(|b| *b != b'\n');
    assert_eq!(text(&head.stderr), "");
}

/// A project with two environments (three hosts, a group), branches and a
/// tag, and two models, where completion is asked: what a person's shell
/// sees.
pub(super) fn project_to_complete() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("inventory/group_vars")).unwrap();
    std::fs::write(
        root.join("inventory/staging"),
        "[staging]\nweb1 ansible_host=127.0.0.1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("inventory/production"),
        "[production]\nweb2\nweb3\n[dbservers]\ndb1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("inventory/group_vars/all.yml"),
        "project_name: app\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.test"])
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(root.join("app/__init__.py"), "").unwrap();
    std::fs::write(
        root.join("app/models.py"),
        "from app import db\n\nclass PullRequest(db.Model):\n    __tablename__ = 'pull_request'\n    id = db.Column(db.Integer, primary_key=True)\n\nclass Build(db.Model):\n    id = db.Column(db.Integer, primary_key=True)\n",
    )
    .unwrap();
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "first"]);
    git(&["branch", "feature/comment-url"]);
    git(&["tag", "v1.0"]);
    dir
}

/// What `shell` completes for the command line `line` in `dir`, through
/// its own completion machinery, with the script `completions` printed
/// sourced and wptdeploy on PATH.
fn completed(shell: &str, dir: &std::path::Path, line: &str) -> String {
    let script = dir.join(format!("completion.{shell}"));
    std::fs::write(&script, wptdeploy(&["completions", shell]).stdout).unwrap();
    let bin_dir = bin().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    completed_by(shell, dir, line, &script, &path)
}

/// What `shell` completes for `line` in `dir` with `script` sourced and
/// `path` as PATH.
pub(super) fn completed_by(
    shell: &str,
    dir: &std::path::Path,
    line: &str,
    script: &std::path::Path,
    path: &str,
) -> String {
    let program = match shell {
        // bash: the function `complete -p` names, called as bash would.
        "bash" => format!(
            "source {script}\nread -ra COMP_WORDS <<< {line:?}\n[[ {line:?} == *' ' ]] && COMP_WORDS+=('')\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\nCOMP_LINE={line:?}; COMP_POINT=${{#COMP_LINE}}; COMP_TYPE=9\nfn=$(complete -p wptdeploy | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n\"$fn\" wptdeploy \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script = script.display()
        ),
        // fish: `complete -C` completes a command line.
        _ => format!(
            "source {script}\ncomplete -C {line:?}\n",
            script = script.display()
        ),
    };
    let out = Command::new(shell)
        .arg("-c")
        .arg(program)
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .env_remove("WPTDEPLOY_INVENTORY")
        .output()
        .unwrap_or_else(|e| panic!("{shell} is needed (scripts/system-packages): {e}"));
    text(&out.stdout)
}

/// Completion knows the project: environments from its inventory,
/// `--commit` from its branches and tags, `--limit` from its hosts and
/// groups, through bash's and fish's own machinery.
#[test]
fn completion_offers_environments_branches_and_hosts_of_the_project_here() {
    let project = project_to_complete();
    let dir = project.path();
    for shell in ["bash", "fish"] {
        let words = |line: &str| -> Vec<String> {
            completed(shell, dir, line)
                .lines()
                .map(|l| l.split('\t').next().unwrap_or_default().trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect()
        };
        let envs = words("wptdeploy sta");
        assert!(envs.contains(&"staging".to_owned()), "{shell}: {envs:?}");
        let status = words("wptdeploy status pro");
        assert!(
            status.contains(&"production".to_owned()),
            "{shell}: {status:?}"
        );
        let refs = words("wptdeploy staging --commit fea");
        assert!(
            refs.contains(&"feature/comment-url".to_owned()),
            "{shell}: {refs:?}"
        );
        let tags = words("wptdeploy staging --commit v1");
        assert!(tags.contains(&"v1.0".to_owned()), "{shell}: {tags:?}");
        let hosts = words("wptdeploy production --limit web2,we");
        assert!(
            hosts.contains(&"web2,web3".to_owned()),
            "{shell}: {hosts:?}"
        );
        let groups = words("wptdeploy production --limit db");
        assert!(
            groups.contains(&"dbservers".to_owned()) && groups.contains(&"db1".to_owned()),
            "{shell}: {groups:?}"
        );
        let tables = words("wptdeploy verify staging --table pu");
        assert_eq!(tables, ["pull_request"], "{shell}");
    }
}
