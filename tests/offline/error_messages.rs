//! Every input error, asserted word for word (as just's
//! `error_messages.rs` does): the message, its hints and the exit code.
//! None of these contacts a host: the inventory points at a closed port.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::bin;

/// A directory with an inventory (`staging`: one host; `production`: two),
/// playbook overrides, and a file that is not a migration.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "inventory/staging",
        "[staging]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n",
    );
    write(
        "inventory/production",
        "[production]\nweb1 ansible_host=127.0.0.1 ansible_port=1\nweb2 ansible_host=127.0.0.1 ansible_port=1\n",
    );
    write(
        "inventory/nowhere",
        "[nowhere]\nweb1 ansible_host=web1.invalid\n",
    );
    write(
        "inventory/group_vars/all.yml",
        "git_repo: /nonexistent/repo.git\nproject_name: app\n",
    );
    write(
        "typo-inventory/staging",
        "[staging]\nweb1 ansible_host=127.0.0.1 ansible_prt=2222\n",
    );
    write("migrations/versions/.keep", "");
    write("notes.py", "print('not a migration')\n");
    write(
        "typo/deploy.yml",
        "steps:\n  - name: look\n    run: ls\n  - name: check\n    helthcheck: {url: http://x}\n",
    );
    write(
        "literal/deploy.yml",
        "steps:\n  - name: prune\n    prune: {releases: /r, keep: three, link: /s}\n",
    );
    write(
        "undefined/deploy.yml",
        "steps:\n  - name: say it\n    run: echo {{ verify_tabels }}\n",
    );
    write(
        "action/deploy.yml",
        "steps:\n  - name: own\n    own: {path: /srv, user: www, action: fxi}\n",
    );
    dir
}

/// Runs wptdeploy in `root` with no terminal: (exit code, stderr with the
/// directory shown as `$ROOT`).
fn wptdeploy(root: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(bin())
        .args(args)
        .current_dir(root)
        .env("HOME", root)
        .env("WPTDEPLOY_INVENTORY", root.join("inventory"))
        .env_remove("WPTDEPLOY_PLAYBOOKS")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("WPTDEPLOY_TRANSPORT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr)
        .replace(&root.display().to_string(), "$ROOT")
        .replace(
            &std::fs::canonicalize(root).unwrap().display().to_string(),
            "$ROOT",
        );
    (output.status.code().unwrap_or(-1), stderr)
}

#[test]
fn input_errors_read_exactly_so() {
    let dir = project();
    let root = dir.path();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["staging", "--commit", "x; rm -rf /"],
            2,
            "error: `x; rm -rf /` is not a valid git ref: it contains a space\n\
             hint: pass a branch, tag or commit SHA with `--commit`\n",
        ),
        (
            &["stagin"],
            2,
            "error: environment `stagin` is not an inventory file or group in $ROOT/inventory\n\
             hint: did you mean `staging`?\n\
             hint: known environments: nowhere, production, staging\n",
        ),
        (
            &["staging", "--forks", "0"],
            2,
            "error: invalid value '0' for '--forks <N>': must be at least 1\n\n\
             For more information, try '--help'.\n",
        ),
        (
            &["staging", "--start-at", "no such step"],
            2,
            "error: no step `no such step` in built-in:playbooks/deploy.yml\n\
             hint: `--list-steps` shows the steps, by number and name\n",
        ),
        (
            &["staging", "--start-at", "take the deploy lok"],
            2,
            "error: no step `take the deploy lok` in built-in:playbooks/deploy.yml (did you mean `take the deploy lock`?)\n\
             hint: `--list-steps` shows the steps, by number and name\n",
        ),
        (
            &["staging", "--step"],
            2,
            "error: `--step` asks before each step, and there is no terminal to ask on\n\
             hint: drop `--step` to run without asking\n",
        ),
        (
            &["production"],
            2,
            "error: a change to production must be confirmed, and there is no terminal to ask on\n\
             hint: pass `--yes` to confirm on the command line\n",
        ),
        (
            &["verify", "staging"],
            2,
            "error: which table? pass `--table NAME` or `--from-migration FILE`\n\
             hint: e.g. `wptdeploy verify staging --table pull_request`\n",
        ),
        (
            &[
                "verify", "staging", "-t", "a", "-t", "b", "--expect", "c:text",
            ],
            2,
            "error: `--expect c:text`: say which table, as `table.c:text`\n",
        ),
        (
            &["verify", "staging", "-t", "a,b"],
            2,
            "error: `a,b` contains a comma\n",
        ),
        (
            &[
                "migration",
                "new",
                "staging",
                "-c",
                "b",
                "-m",
                "m",
                "--rev-id",
                "a-b",
            ],
            2,
            "error: `a-b` is not a revision id (letters, digits and `_`)\n",
        ),
        (
            &[
                "migration",
                "new",
                "staging",
                "-c",
                "b",
                "-m",
                "m",
                "--into",
                "nowhere",
            ],
            2,
            "error: nowhere is not a directory\n\
             hint: run this in your app's checkout, or pass `--into DIR` for the pulled file\n",
        ),
        (
            &["migration", "new", "production", "-c", "b", "-m", "m"],
            2,
            "error: migration new works on one host, and production has 2: web1, web2\n\
             hint: use an environment (inventory file or group) with just the staging host\n",
        ),
        (
            &["migration", "lint", "staging", "production"],
            2,
            "error: `production` is a second environment: `migration lint` reads one (SQL files end in `.sql`)\n",
        ),
        (
            &["-i", "typo-inventory", "staging"],
            2,
            "error: typo-inventory/staging:2: `ansible_prt` is not a variable Ansible knows (did you mean `ansible_port`?)\n\
             hint: an `ansible_*` variable is read by Ansible and wptdeploy only under its own name: a misspelt one would be ignored (a wrong port, user or key)\n",
        ),
        (
            &["migration", "lint", "FILE.py"],
            2,
            "error: FILE.py is a migration file: alembic renders its SQL on a host, so name the environment too (`wptdeploy migration lint staging FILE.py`)\n",
        ),
        (
            &["migration", "test", "staging", "notes.py"],
            2,
            "error: notes.py is not a migration file (no `revision = '...'`)\n",
        ),
        (
            &["staging", "--playbooks", "typo"],
            2,
            "error: typo/deploy.yml:5: step `check`: unknown key `helthcheck` (did you mean `healthcheck`?)\n",
        ),
        (
            &["staging", "--playbooks", "literal"],
            2,
            "error: literal/deploy.yml:2: step `prune`: prune: keep must be a number, not `three`\n",
        ),
        (
            &["staging", "--playbooks", "action"],
            2,
            "error: action/deploy.yml:2: step `own`: own: action must be `check` or `fix`, not `fxi` (did you mean `fix`?)\n",
        ),
        (
            &["staging", "--playbooks", "undefined"],
            2,
            "error: host web1: undefined variable `verify_tabels` (did you mean `verify_tables`?) in `echo {{ verify_tabels }}`, needed by step `say it` (undefined/deploy.yml:2)\n\
             hint: define it in $ROOT/inventory/group_vars/ or host_vars/, on the host's inventory line, or with `-e name=value`\n",
        ),
        (
            &["staging", "-K"],
            2,
            "error: `-K` needs a terminal to ask for the password\n\
             hint: use `--become-password-file FILE` when there is no terminal\n",
        ),
        (
            &["verfy"],
            2,
            "error: `verfy` is neither an environment nor a command (did you mean `wptdeploy verify`?)\n\
             hint: known environments: nowhere, production, staging\n",
        ),
        // A misspelt option is named as the option, with clap's
        // did-you-mean; a bad value lists the valid ones. Neither is
        // guessed to be a command.
        (
            &["staging", "--comit", "main"],
            2,
            "error: unexpected argument '--comit' found\n\n\
             \x20 tip: a similar argument exists: '--commit'\n\n\
             Usage: wptdeploy --commit <REF> <ENV>\n\n\
             For more information, try '--help'.\n",
        ),
        (
            &["staging", "--color", "sometimes"],
            2,
            "error: invalid value 'sometimes' for '--color <WHEN>'\n\
             \x20 [possible values: auto, always, never]\n\n\
             For more information, try '--help'.\n",
        ),
        (
            &["unlok", "staging"],
            2,
            "error: `unlok` is not a command (did you mean `wptdeploy unlock`?)\n\n\
             Usage: wptdeploy [OPTIONS] <ENV>\n       wptdeploy [OPTIONS] [ENV] <COMMAND>\n\n\
             For more information, try '--help'.\n",
        ),
    ];
    let mut wrong = Vec::new();
    for (args, code, expected) in cases {
        let (got_code, got) = wptdeploy(root, args);
        if got_code != *code || got != *expected {
            wrong.push(format!(
                "wptdeploy {}\n  expected ({code}):\n{expected}  got ({got_code}):\n{got}",
                args.join(" ")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_host_name_that_does_not_resolve_is_said_as_that_by_both_transports() {
    let dir = project();
    for transport in ["russh", "openssh"] {
        let output = Command::new(bin())
            .args(["status", "nowhere", "--transport", transport])
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("WPTDEPLOY_INVENTORY", dir.path().join("inventory"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{transport}: {stderr}");
        assert!(
            stderr.contains("web1: cannot resolve the host name web1.invalid: ")
                && stderr.contains("hint: check the name in the inventory (the host's `ansible_host`, else its name), and that this machine resolves it: `getent hosts -- web1.invalid`")
                && !stderr.contains("sshd"),
            "{transport}: {stderr}"
        );
    }
}
