//! Immutable releases: each release's own virtualenv, shared by releases
//! with the same dependencies, built before the switch, pruned when no
//! release uses it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Sandbox, faithful_sandbox as sandbox};

/// The example app's requirements, with `extra` lines.
fn requirements_with(extra: &str) -> String {
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app/requirements.txt"),
    )
    .unwrap();
    format!("{base}{extra}")
}

/// `name==version` of every package `python` sees, sorted.
fn packages(python: &Path) -> Vec<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print('\\n'.join(sorted(f'{d.name}=={d.version}' for d in m.distributions())))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The environment a release's `.venv` links to.
fn environment_of(s: &Sandbox, sha: &str) -> PathBuf {
    std::fs::read_link(s.base_path.join(sha).join(".venv")).unwrap()
}

/// The stable path the app server names.
fn live_python(s: &Sandbox) -> PathBuf {
    s.base_path.join("venv/bin/python")
}

#[test]
fn a_failed_install_leaves_the_live_releases_packages_intact() {
    let s = sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let before = packages(&live_python(&s));
    assert!(
        before.iter().any(|p| p.starts_with("Flask==")),
        "{before:?}"
    );
    s.branch_with(
        "bad-requirement",
        "requirements.txt",
        &requirements_with("nosuchpkg-wptdeploy-test-xyz==1.0\n"),
    );
    s.wptdeploy(&["staging", "--commit", "bad-requirement"])
        .failure(1)
        .stderr_has("building the virtualenv failed: no solution: nosuchpkg-wptdeploy-test-xyz")
        .stderr_has("the live release's environment is untouched");
    assert_eq!(s.live_release(), Some(s.sha("master")));
    assert_eq!(packages(&live_python(&s)), before);
    let imported = Command::new(live_python(&s))
        .args([
            "-c",
            "import flask, flask_migrate, flask_sqlalchemy, psycopg2",
        ])
        .status()
        .unwrap();
    assert!(
        imported.success(),
        "the live release's packages still import"
    );
}

#[test]
fn releases_with_the_same_requirements_share_one_environment() {
    let s = sandbox();
    let first = s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert!(first.stderr.contains("built "), "{}", first.stderr);
    let other = s.new_branch("same-requirements");
    let second = s
        .wptdeploy(&["staging", "--commit", "same-requirements"])
        .success();
    assert!(second.stderr.contains("reused "), "{}", second.stderr);
    assert_eq!(
        environment_of(&s, &other),
        environment_of(&s, &s.sha("master"))
    );
    // The stable path follows the live release.
    assert_eq!(
        std::fs::read_link(s.base_path.join("venv")).unwrap(),
        s.base_path.join("site/.venv")
    );
    let complete = environment_of(&s, &other).join(".wptdeploy-complete");
    assert!(complete.exists(), "{}", complete.display());
}

#[test]
fn a_rollback_brings_back_the_previous_releases_exact_packages() {
    let s = sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let old = packages(&live_python(&s));
    s.branch_with(
        "with-six",
        "requirements.txt",
        &requirements_with("six==1.16.0\n"),
    );
    s.wptdeploy(&["staging", "--commit", "with-six"]).success();
    let new = packages(&live_python(&s));
    assert!(new.contains(&"six==1.16.0".to_owned()), "{new:?}");
    assert_ne!(old, new);
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert_eq!(packages(&live_python(&s)), old);
}

#[test]
fn prune_removes_environments_no_release_uses_and_says_what_it_freed() {
    let s = sandbox();
    s.write_inventory(&[("keep_n_most_recent", "1")]);
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let six = s.branch_with(
        "with-six",
        "requirements.txt",
        &requirements_with("six==1.16.0\n"),
    );
    s.wptdeploy(&["staging", "--commit", "with-six"]).success();
    let unused = environment_of(&s, &six);
    s.new_branch("same-requirements");
    // Live: same-requirements; previous: with-six, whose environment stays.
    s.wptdeploy(&["staging", "--commit", "same-requirements"])
        .success();
    assert!(
        unused.exists(),
        "the previous release's environment is kept"
    );
    // Live: master; previous: same-requirements; with-six goes, and its environment.
    let run = s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert!(!s.base_path.join(&six).exists());
    assert!(!unused.exists(), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("removed 1 old release(s) and 1 unused virtualenv(s), freed "),
        "{}",
        run.stderr
    );
    assert!(environment_of(&s, &s.sha("master")).exists());
}

/// A host where an earlier deploy left one real virtualenv shared by all
/// releases: it is kept for the live release, and `venv` becomes a link.
#[test]
fn a_shared_virtualenv_is_adopted_for_the_live_release() {
    let s = sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    // Make it look like an earlier wptdeploy's layout: a real directory.
    let master = s.base_path.join(s.sha("master"));
    let env = std::fs::read_link(master.join(".venv")).unwrap();
    std::fs::remove_file(s.base_path.join("venv")).unwrap();
    std::fs::remove_file(master.join(".venv")).unwrap();
    std::fs::rename(&env, s.base_path.join("venv")).unwrap();
    std::fs::write(s.base_path.join("venv/kept"), "").unwrap();
    s.new_branch("next");
    let run = s.wptdeploy(&["staging", "--commit", "next"]).success();
    assert!(
        run.stderr
            .contains("kept the virtualenv that was there as "),
        "{}",
        run.stderr
    );
    assert!(
        std::fs::symlink_metadata(s.base_path.join("venv"))
            .unwrap()
            .is_symlink()
    );
    // The previous release (master) keeps what it ran with; the new one has its own.
    assert!(master.join(".venv/kept").exists(), "{}", run.stderr);
    assert!(!s.base_path.join("venv/kept").exists());
    assert!(
        packages(&live_python(&s))
            .iter()
            .any(|p| p.starts_with("Flask=="))
    );
}
