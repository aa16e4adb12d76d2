//! Inventories and playbooks as users write them, and as they get them
//! wrong: errors point at the file and line, before any connection.

use crate::support::{Run, bin, sandbox};

#[test]
fn prod_means_production() {
    let s = sandbox();
    std::fs::rename(s.inventory.join("staging"), s.inventory.join("production")).unwrap();
    let run = s
        .wptdeploy(&["prod", "--commit", "master", "--yes"])
        .success();
    assert!(
        run.stderr.contains("deploying master to production"),
        "{}",
        run.stderr
    );
    assert_eq!(s.live_release(), Some(s.sha("master")));
}

#[test]
fn a_yaml_inventory_works_like_an_ini_one() {
    let s = sandbox();
    std::fs::remove_file(s.inventory.join("staging")).unwrap();
    std::fs::write(
        s.inventory.join("hosts.yml"),
        format!(
            "all:\n  children:\n    staging:\n      hosts:\n        web1:\n          ansible_host: 127.0.0.1\n          ansible_port: {}\n          ansible_user: {}\n          ansible_ssh_private_key_file: {}\n",
            s.ssh_port,
            s.user,
            s.key.display()
        ),
    )
    .unwrap();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert_eq!(s.live_release(), Some(s.sha("master")));
}

/// `-e key=value` is a string, as `ansible-playbook -e` gives; JSON is typed.
#[test]
fn extra_vars_key_value_is_a_string_and_json_is_typed() {
    let s = sandbox();
    let dir = s.dir.join("my-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("types.yml"),
        "steps:\n  - name: show\n    run: echo {{ (flag is string) | string }} {{ flag | string }}\n    changes: false\n",
    )
    .unwrap();
    let shown = |extra: &str| {
        let run = Run::from_command(
            s.command(bin())
                .args([
                    "--no-progress",
                    "-v",
                    "staging",
                    "--playbook",
                    "types.yml",
                    "-e",
                    extra,
                ])
                .arg("--playbooks")
                .arg(&dir),
        )
        .success();
        run.stderr
            .lines()
            .find_map(|l| l.split_once("| ").map(|(_, said)| said.to_owned()))
            .unwrap_or_else(|| panic!("no output line:\n{}", run.stderr))
    };
    assert_eq!(shown("flag=true"), "True true");
    assert_eq!(shown(r#"{"flag": true}"#), "False True");
}

#[test]
fn check_of_an_unreachable_host_still_shows_the_plan() {
    let s = sandbox();
    std::fs::write(
        s.inventory.join("staging"),
        "[staging]\nnowhere ansible_host=127.0.0.1 ansible_port=1\n",
    )
    .unwrap();
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "master",
            "--check",
            "--connect-timeout",
            "3s",
        ])
        .failure(1);
    // The reason first, in one line, then the plan: each step, and no
    // script (that is `-v`'s).
    let reason = run
        .stderr
        .lines()
        .position(|l| {
            l.contains("[nowhere] warning: cannot connect to 127.0.0.1:1")
                && l.contains("what follows is the plan without the host; no step ran")
        })
        .unwrap_or_else(|| panic!("no reason:\n{}", run.stderr));
    for step in ["take the deploy lock", "check out master", "switch "] {
        let at = run
            .stderr
            .lines()
            .position(|l| l.contains(&format!("planned {step}")))
            .unwrap_or_else(|| panic!("{step}: {}", run.stderr));
        assert!(reason < at, "the reason comes first:\n{}", run.stderr);
    }
    assert!(
        run.stderr.lines().count() < 40 && !run.stderr.contains("SCRIPT being"),
        "the plan reads as steps:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("UNREACHABLE"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("nowhere: the plan is incomplete: cannot connect"),
        "{}",
        run.stderr
    );
}

#[test]
fn check_resolves_short_shas_and_head_and_refuses_a_ref_the_repository_lacks() {
    let s = sandbox();
    let sha = s.sha("feature/comment-url");
    s.wptdeploy(&["staging", "--commit", &sha[..7], "--check"])
        .success()
        .stderr_has(&format!("new release {sha}"));
    s.wptdeploy(&["staging", "--commit", "HEAD", "--check"])
        .success()
        .stderr_has(&format!("new release {}", s.sha("HEAD")));
    // A branch the repository lacks is found from here, before any host.
    for args in [&["--check"][..], &[][..]] {
        let missing = s
            .wptdeploy(&[&["staging", "--commit", "feature/coment-url"][..], args].concat())
            .failure(2)
            .stderr_has(&format!(
                "error: `feature/coment-url` is not a branch or tag of {}",
                s.origin_url
            ))
            .stderr_has("hint: did you mean `feature/comment-url`")
            .stderr_has("hint: nothing was changed: no host was contacted");
        assert!(!missing.stderr.contains("connected"), "{}", missing.stderr);
    }
    assert!(!s.base_path.exists(), "no host was touched");
    // A playbook that checks nothing out does not ask the repository.
    let playbooks = tempfile::tempdir().unwrap();
    std::fs::write(
        playbooks.path().join("hello.yml"),
        "steps:\n  - name: say hello\n    run: echo hello\n",
    )
    .unwrap();
    s.wptdeploy(&[
        "staging",
        "--commit",
        "feature/coment-url",
        "--playbooks",
        playbooks.path().to_str().unwrap(),
        "--playbook",
        "hello.yml",
    ])
    .success()
    .stderr_has("say hello");
    // A short SHA the repository lacks is the host's to find.
    s.wptdeploy(&["staging", "--commit", "abcdef1", "--check"])
        .failure(1)
        .stderr_has(&format!(
            "step `check out abcdef1` failed: `abcdef1` is not a branch, tag or commit of {}",
            s.origin_url
        ));
    s.wptdeploy(&[
        "staging",
        "--commit",
        "master",
        "--check",
        "-e",
        "git_repo=git://127.0.0.1:1/nothing.git",
    ])
    .failure(1)
    .stderr_has(
        "failed: cannot read git://127.0.0.1:1/nothing.git: unable to connect to 127.0.0.1",
    );
    assert!(s.releases().is_empty(), "--check built nothing");
}

/// A misspelt variable that nothing reads is a warning naming the one it
/// looks like: without it, `healthcheck_comand:` deploys with no check.
#[test]
fn a_misspelt_variable_is_a_warning_naming_the_real_one() {
    let s = sandbox();
    let vars = s.inventory.join("group_vars/all.yml");
    let text = std::fs::read_to_string(&vars).unwrap();
    std::fs::write(
        &vars,
        format!("{text}healthcheck_comand: \"false\"\nwptdash_private_setting: 1\n"),
    )
    .unwrap();
    let run = s
        .wptdeploy(&["staging", "--commit", "master", "--check"])
        .success();
    let line = text.lines().count() + 1;
    let run = run.stderr_has(&format!(
        "warning: {}:{line}: `healthcheck_comand` is set but nothing reads it (did you mean `healthcheck_command`?)",
        vars.display()
    ));
    let extra = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "master",
            "--check",
            "-e",
            "helthcheck_retries=3",
        ])
        .success();
    assert!(
        extra
            .stderr
            .contains("warning: -e: `helthcheck_retries` is set but nothing reads it (did you mean `healthcheck_retries`?)"),
        "{}",
        extra.stderr
    );
    assert!(
        !run.stderr.contains("wptdash_private_setting"),
        "not close to anything read: {}",
        run.stderr
    );
}
