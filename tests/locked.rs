//! Locked environments and promotion (docs/releases.md, "Locked
//! environments"): every environment records the set of packages it
//! holds; production installs the set staging tested for the same commit
//! (fetched from staging over SSH, installed without resolving) even when
//! the index has moved on; `status` and `diff` say where the two differ.
//! Against a local wheel index (`--find-links`), with real uv and pip.

use std::path::{Path, PathBuf};

use crate::support::wheels::publish;
use crate::support::{Sandbox, events, sandbox};

/// A production environment on the sandbox's host beside staging: its own
/// `base_path` and `venvs_path` (so its releases, environments, lock and
/// history), the same repository and variables.
fn add_production(s: &Sandbox) -> PathBuf {
    let prod = s.dir.join("srv/prod");
    std::fs::write(
        s.inventory.join("production"),
        format!(
            "[production]\nprod-host ansible_host=127.0.0.1 ansible_port={} ansible_user={} ansible_ssh_private_key_file={} base_path={} venvs_path={}/venvs env=production\n",
            s.ssh_port,
            s.user,
            s.key.display(),
            prod.display(),
            prod.display()
        ),
    )
    .unwrap();
    prod
}

/// A branch whose requirements are `extra` (index options and packages
/// of the local index).
fn branch_requiring(s: &Sandbox, name: &str, extra: &str) -> String {
    s.branch_with(name, "requirements.txt", &requirements(extra))
}

/// Requirements of the local index only: [`sandbox`]'s health check and
/// load need no more than the release and its environment's Python.
fn requirements(extra: &str) -> String {
    format!("# the app's requirements\n{extra}")
}

/// The set the live release's environment recorded under `base`.
fn live_set(base: &Path) -> String {
    std::fs::read_to_string(base.join("site/.venv/.wptdeploy-packages")).unwrap()
}

/// The version of `package` that the live release's environment imports.
fn imported(base: &Path, module: &str) -> String {
    let out = std::process::Command::new(base.join("site/.venv/bin/python"))
        .args(["-c", &format!("import {module}; print({module}.VERSION)")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn last_record(base: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(base.join(".wptdeploy/history.jsonl")).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn production_installs_the_set_staging_tested_and_says_where_it_came_from() {
    let s = sandbox();
    let prod = add_production(&s);
    let index = s.dir.join("wheels");
    publish(
        &index,
        &[
            ("wptdeploy-locked-a", "1.0", &["wptdeploy-locked-b"]),
            ("wptdeploy-locked-b", "1.0", &[]),
        ],
    );
    let wants = format!("--find-links {}\nwptdeploy-locked-a\n", index.display());
    let tested = branch_requiring(&s, "locked", &wants);

    // Staging resolves: version 1 of b is the index's newest.
    let staging = s.wptdeploy(&["staging", "--commit", "locked"]).success();
    assert!(
        staging.stderr.contains("resolved: built "),
        "{}",
        staging.stderr
    );
    let staging_set = live_set(&s.base_path);
    assert!(
        staging_set.contains("wptdeploy-locked-a==1.0\n")
            && staging_set.contains("wptdeploy-locked-b==1.0\n"),
        "{staging_set}"
    );
    assert!(
        !staging_set.contains("pip==") && !staging_set.contains("setuptools=="),
        "{staging_set}"
    );

    // Version 2 appears; production deploys the commit staging tested and
    // gets version 1, without resolving, and says so (the step's line,
    // the history record, the JSON).
    publish(&index, &[("wptdeploy-locked-b", "2.0", &[])]);
    let run = s
        .wptdeploy(&[
            "production",
            "--commit",
            "locked",
            "--yes",
            "--output",
            "json",
        ])
        .success();
    let said = events(&run)
        .into_iter()
        .filter(|e| e["event"] == "step_finished")
        .find_map(|e| {
            e["note"]
                .as_str()
                .map(str::to_owned)
                .filter(|n| n.contains("tested"))
        })
        .unwrap_or_else(|| panic!("no step says the set was promoted:\n{}", run.stdout));
    let id = &sha256_12(&staging_set);
    assert!(
        said.contains(&format!(
            "installed the set {id} that staging tested (read from sandbox-host), without resolving"
        )),
        "{said}"
    );
    assert_eq!(live_set(&prod), staging_set);
    assert_eq!(imported(&prod, "wptdeploy_locked_b"), "1.0");
    let record = last_record(&prod);
    assert_eq!(record["sha"], tested.as_str());
    assert_eq!(record["packages"], id.as_str());
    assert_eq!(
        record["packages_from"],
        "promoted from staging (sandbox-host)"
    );
    let history = s
        .wptdeploy(&["history", "production", "--output", "json"])
        .success();
    assert!(
        history
            .stdout
            .contains("\"packages_from\":\"promoted from staging (sandbox-host)\""),
        "{}",
        history.stdout
    );

    // `releases` shows the set's id; `--packages` lists it.
    let releases = s.wptdeploy(&["releases", "staging"]).success();
    assert!(releases.stdout.contains(id.as_str()), "{}", releases.stdout);
    let listed = s
        .wptdeploy(&["releases", "staging", "--packages", &tested[..10]])
        .success();
    assert_eq!(listed.stdout, staging_set, "{}", listed.stderr);

    // A commit whose requirements changed: staging resolves again, and
    // gets version 2; one with the same requirements shares the tested
    // environment.
    s.branch_with_files(
        "same-requirements",
        &[
            ("requirements.txt", &requirements(&wants)),
            ("other.txt", "another commit\n"),
        ],
    );
    s.wptdeploy(&["staging", "--commit", "same-requirements"])
        .success()
        .stderr_has("reused ");
    branch_requiring(&s, "changed", &format!("{wants}wptdeploy-locked-b>=1.0\n"));
    s.wptdeploy(&["staging", "--commit", "changed"])
        .success()
        .stderr_has("resolved: built ");
    assert!(live_set(&s.base_path).contains("wptdeploy-locked-b==2.0\n"));

    // A commit staging never built: production resolves it itself and says
    // why; with --require-promoted it refuses, the live release untouched.
    branch_requiring(&s, "untested", &format!("{wants}# untested\n"));
    let live_before = crate::support::sandbox::live_release_in(&prod);
    s.wptdeploy(&[
        "production",
        "--commit",
        "untested",
        "--yes",
        "--require-promoted",
    ])
    .failure(1)
    .stderr_has("staging has no release of ")
    .stderr_has("this deploy installs only a set staging tested (`require_promoted`)");
    assert_eq!(crate::support::sandbox::live_release_in(&prod), live_before);
    s.wptdeploy(&["production", "--commit", "untested", "--yes"])
        .success()
        .stderr_has("resolved the packages here: staging has no release of ");
    assert_eq!(last_record(&prod)["packages_from"], "resolved");
    // An environment to promote from that cannot be reached: said, and
    // with --require-promoted refused.
    std::fs::write(
        s.inventory.join("qa"),
        "[qa]\nqa-host ansible_host=127.0.0.1 ansible_port=1\n",
    )
    .unwrap();
    branch_requiring(&s, "qa-only", &format!("{wants}# for qa\n"));
    let unreachable = [
        "production",
        "--commit",
        "qa-only",
        "--yes",
        "-e",
        "promote_from=qa",
    ];
    let refused = s
        .wptdeploy(&[&unreachable[..], &["--require-promoted"]].concat())
        .failure(1);
    assert!(
        refused.stderr.contains("qa's sets could not be read (")
            && refused.stderr.contains("deploy the commit to qa first"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        crate::support::sandbox::live_release_in(&prod),
        Some(s.sha("untested"))
    );

    // Back to the tested commit, but resolved on production (promotion
    // off): `status` flags the set staging did not test, `diff` names it.
    s.wptdeploy(&[
        "production",
        "--commit",
        "locked",
        "--yes",
        "--force",
        "-e",
        "promote_from=",
    ])
    .success();
    assert_eq!(imported(&prod, "wptdeploy_locked_b"), "2.0");
    s.wptdeploy(&["staging", "--commit", "locked"]).success();
    let status = s.wptdeploy(&["status", "production"]).success();
    assert!(
        status.stdout.contains("UNTESTED: ")
            && status
                .stdout
                .contains(&format!("staging tested {id} for this commit")),
        "{}",
        status.stdout
    );
    assert!(
        status.stderr.contains("prod-host: the live release's packages are not the set staging tested for the same commit; `wptdeploy diff staging production` shows which"),
        "{}",
        status.stderr
    );
    let diff = s.wptdeploy(&["diff", "staging", "production"]).success();
    assert!(
        diff.stdout.contains("commits: the same")
            && diff
                .stdout
                .contains("  ~ wptdeploy-locked-b==1.0 -> wptdeploy-locked-b==2.0")
            && diff.stdout.contains("  app.env: staging -> production")
            && !diff.stdout.contains("sandbox-db-secret"),
        "{}",
        diff.stdout
    );
    // Staging's app user is not trusted with production: a set whose
    // record holds anything but exact pins is not installed from it.
    branch_requiring(&s, "tampered", &format!("{wants}# tampered\n"));
    s.wptdeploy(&["staging", "--commit", "tampered"]).success();
    let record = s.base_path.join("site/.venv/.wptdeploy-packages");
    let mut text = std::fs::read_to_string(&record).unwrap();
    text.push_str("--extra-index-url http://127.0.0.1:1/simple\n");
    std::fs::write(&record, text).unwrap();
    s.wptdeploy(&["production", "--commit", "tampered", "--yes"])
        .success()
        .stderr_has("resolved the packages here: staging's set for ")
        .stderr_has("holds `--extra-index-url http://127.0.0.1:1/simple`, and only exact pins (`name==version`) are installed from another environment's record");
    assert!(!live_set(&prod).contains("extra-index-url"));
    s.wptdeploy(&["staging", "--commit", "locked"]).success();
    // Promoted again (forced): the tested set, and `status` agrees.
    s.wptdeploy(&["production", "--commit", "locked", "--yes", "--force"])
        .success();
    assert_eq!(live_set(&prod), staging_set);
    let status = s.wptdeploy(&["status", "production"]).success();
    assert!(
        status.stdout.contains(&format!("{id} (as staging tested)")),
        "{}",
        status.stdout
    );
}

/// `diff ENV SHA1 SHA2`: two releases of one environment, in JSON too:
/// commits from the local repository, packages, migrations.
#[test]
fn diff_compares_two_releases_of_one_environment() {
    let s = sandbox();
    let index = s.dir.join("wheels");
    publish(
        &index,
        &[
            ("wptdeploy-locked-b", "1.0", &[]),
            ("wptdeploy-locked-b", "2.0", &[]),
        ],
    );
    let links = format!("--find-links {}\n", index.display());
    let one = branch_requiring(&s, "one", &format!("{links}wptdeploy-locked-b==1.0\n"));
    let two = branch_requiring(&s, "two", &format!("{links}wptdeploy-locked-b==2.0\n"));
    s.wptdeploy(&["staging", "--commit", "one"]).success();
    s.wptdeploy(&["staging", "--commit", "two"]).success();
    // The local repository (the sandbox's work tree) has both commits.
    let run = crate::support::Run::from_command(
        s.command(crate::support::bin())
            .current_dir(s.dir.join("work"))
            .args([
                "diff",
                "staging",
                &one[..12],
                &two[..12],
                "--output",
                "json",
            ]),
    )
    .success();
    let table = events(&run)
        .into_iter()
        .find(|e| e["event"] == "table")
        .expect("a table event");
    let data = &table["data"];
    assert_eq!(data["left"]["sha"], one.as_str());
    assert_eq!(data["right"]["sha"], two.as_str());
    assert_eq!(
        data["packages"]["changed"][0]["to"], "wptdeploy-locked-b==2.0",
        "{data}"
    );
    let commits: Vec<&str> = data["commits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        commits
            .iter()
            .any(|c| c.starts_with("+ ") && c.ends_with(" two")),
        "{commits:?}"
    );
    assert!(
        commits
            .iter()
            .any(|c| c.starts_with("- ") && c.ends_with(" one")),
        "{commits:?}"
    );
    assert_eq!(data["config"], serde_json::Value::Null);
    // A release that is not there is named.
    s.wptdeploy(&["diff", "staging", &one[..12], "0000000"])
        .failure(2)
        .stderr_has("staging has no release `0000000`");
}

/// `--force` builds a new environment even when one with the same
/// identity exists, and the installer is part of that identity.
#[test]
fn force_and_the_installer_rebuild_the_environment() {
    let s = sandbox();
    let index = s.dir.join("wheels");
    publish(&index, &[("wptdeploy-locked-b", "1.0", &[])]);
    branch_requiring(
        &s,
        "pinned",
        &format!("--find-links {}\nwptdeploy-locked-b\n", index.display()),
    );
    s.wptdeploy(&["staging", "--commit", "pinned"]).success();
    let first = std::fs::read_link(s.base_path.join("site/.venv")).unwrap();
    let first_set = live_set(&s.base_path);
    let forced_with_pip = || {
        s.wptdeploy(&[
            "staging",
            "--commit",
            "pinned",
            "--force",
            "-e",
            "python_installer=pip",
        ])
        .success()
        .stderr_has(" with pip")
    };
    let with_pip = forced_with_pip();
    let second = std::fs::read_link(s.base_path.join("site/.venv")).unwrap();
    assert_ne!(first, second, "{}", with_pip.stderr);
    assert_ne!(first.file_name(), second.file_name());
    // The same identity, forced: a new build beside it (HASH-TIME).
    forced_with_pip();
    let third = std::fs::read_link(s.base_path.join("site/.venv")).unwrap();
    let name = third.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with(&format!(
            "{}-",
            second.file_name().unwrap().to_str().unwrap()
        )),
        "{name}"
    );
    // uv's set and pip's are the same for the same input.
    assert_eq!(first_set, live_set(&s.base_path));
}

fn sha256_12(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))[..12].to_owned()
}

/// `diff staging production` with a database: the revision each database
/// is at, the migrations one release has and the other lacks, the commits
/// between them; a secret in the config never shown.
#[test]
fn diff_names_the_database_revisions_and_the_migrations_between_two_environments() {
    let (s, _pg) = crate::support::sandbox_with_migrated_database(&[]);
    add_production(&s);
    s.wptdeploy(&["production", "--commit", "master", "--yes"])
        .success();
    s.wptdeploy(&["staging", "--commit", "feature/with-migration", "--migrate"])
        .success();
    let run = crate::support::Run::from_command(
        s.command(crate::support::bin())
            .current_dir(s.dir.join("work"))
            .args(["diff", "production", "staging", "--no-progress"]),
    )
    .success();
    let text = &run.stdout;
    for said in [
        "production (prod-host): ",
        "schema 735093c03092, database at 4dafe3eac60e",
        "staging (sandbox-host): ",
        "schema 4dafe3eac60e, database at 4dafe3eac60e",
        "migrations staging's release has and production's has not (1):\n  4dafe3eac60e (4dafe3eac60e_add_comment_url.py)",
        " Migration: add pull_request.comment_url",
        "config (",
        "  app.env: production -> staging",
    ] {
        assert!(text.contains(said), "{said}:\n{text}");
    }
    assert!(!text.contains("sandbox-db-secret"), "{text}");
}
