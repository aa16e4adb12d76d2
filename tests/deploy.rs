//! Deploying a git ref as a release, end to end: build, switch, relink,
//! force, prune, and failures that leave the live release alone.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::sandbox;

#[test]
fn first_deploy_builds_the_release_and_switches_to_it() {
    let s = sandbox();
    let run = s.wptdeploy(&["staging", "--commit", "master"]).success();
    let sha = s.sha("master");
    assert_eq!(
        s.live_release().as_deref(),
        Some(sha.as_str()),
        "{}",
        run.stderr
    );
    let site = s.base_path.join("site");
    let build = std::fs::read_to_string(site.join("wptdash/static/build.txt")).unwrap();
    assert!(build.contains(&sha) && build.contains("staging"), "{build}");
    let config = site.join("config.txt");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("name = wptdash")
    );
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(
        !s.base_path.join("temp").exists(),
        "the clone was published, not left behind"
    );
    assert!(
        !s.base_path.join(".wptdeploy-lock").exists(),
        "the lock was released"
    );
    assert!(
        run.stderr.contains("deployed"),
        "summary table: {}",
        run.stderr
    );
}

#[test]
fn redeploying_a_deployed_commit_relinks_without_rebuilding() {
    let s = sandbox();
    let sha = s.sha("master");
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let marker = s.base_path.join(&sha).join("built-once");
    std::fs::write(&marker, "").unwrap();
    // By branch name: cloned to resolve it, then found already built.
    let by_branch = s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert!(
        by_branch.stderr.contains("already built"),
        "{}",
        by_branch.stderr
    );
    // By full SHA (the rollback path): not even cloned.
    let by_sha = s
        .wptdeploy(&["staging", "--commit", &sha, "-e", "force=false", "-v"])
        .success();
    assert!(
        by_sha
            .stderr
            .contains(&format!("release {sha} already built")),
        "{}",
        by_sha.stderr
    );
    assert!(
        by_sha.stderr.contains("skipped publish release"),
        "{}",
        by_sha.stderr
    );
    assert!(marker.exists(), "the release was not rebuilt");
    assert_eq!(s.releases(), vec![sha.clone()]);
    assert_eq!(s.live_release(), Some(sha));
}

#[test]
fn a_second_branch_then_back_to_the_first_sha() {
    let s = sandbox();
    let first = s.sha("master");
    let second = s.sha("feature/comment-url");
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    s.wptdeploy(&["staging", "--commit", "feature/comment-url"])
        .success();
    assert_eq!(s.live_release().as_deref(), Some(second.as_str()));
    let models = std::fs::read_to_string(s.base_path.join("site/wptdash/models.py")).unwrap();
    assert!(models.contains("comment_url"));
    let back = s.wptdeploy(&["staging", "--commit", &first]).success();
    assert_eq!(
        s.live_release().as_deref(),
        Some(first.as_str()),
        "{}",
        back.stderr
    );
    let mut both = vec![first, second];
    both.sort();
    assert_eq!(s.releases(), both);
}

#[test]
fn force_rebuilds_a_deployed_commit() {
    let s = sandbox();
    let sha = s.sha("master");
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let marker = s.base_path.join(&sha).join("built-once");
    std::fs::write(&marker, "").unwrap();
    let run = s
        .wptdeploy(&["staging", "--commit", &sha, "--force"])
        .success();
    assert!(
        run.stderr.contains("changed publish release"),
        "{}",
        run.stderr
    );
    assert!(
        !marker.exists(),
        "--force rebuilt the release from a fresh clone"
    );
    assert_eq!(s.live_release(), Some(sha));
}

/// The live release rebuilt in place (`--force`) is swapped in one rename:
/// a file read through `site` all the while is never missing.
#[test]
fn force_on_the_live_release_swaps_it_with_no_missing_moment() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let s = sandbox();
    let sha = s.sha("master");
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let file = s.base_path.join("site/manage.py");
    let done = AtomicBool::new(false);
    let (reads, missing) = (AtomicU64::new(0), AtomicU64::new(0));
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                reads.fetch_add(1, Ordering::Relaxed);
                if std::fs::read(&file).is_err() {
                    missing.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let run = s
            .wptdeploy(&["staging", "--commit", &sha, "--force"])
            .success();
        done.store(true, Ordering::Relaxed);
        run
    });
    assert!(
        run.stderr
            .contains("swapped in place of the copy of the same commit"),
        "{}",
        run.stderr
    );
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads > 1000, "the reader ran ({reads} reads)");
    assert_eq!(
        missing.load(Ordering::Relaxed),
        0,
        "of {reads} reads through site, some found no file"
    );
    assert_eq!(s.live_release(), Some(sha));
    assert!(
        !s.base_path.join("temp").exists(),
        "the copy it replaced was removed"
    );
}

#[test]
fn pruning_keeps_the_newest_and_never_the_live_or_previous_release() {
    let s = sandbox();
    let shas: Vec<String> = ["one", "two", "three", "four"]
        .iter()
        .map(|b| s.new_branch(b))
        .collect();
    // Backups are named after their release, and go with it.
    let backups = s.base_path.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    for sha in &shas {
        std::fs::write(backups.join(format!("wptdash-{sha}-1700000000.dump")), "x").unwrap();
    }
    for branch in ["one", "two", "three", "four"] {
        s.wptdeploy(&["staging", "--commit", branch, "-e", "keep_n_most_recent=2"])
            .success();
    }
    let mut expected = vec![shas[2].clone(), shas[3].clone()];
    expected.sort();
    assert_eq!(s.releases(), expected, "two newest kept");
    let mut kept: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    let mut want = [2, 3]
        .map(|i| format!("wptdash-{}-1700000000.dump", shas[i]))
        .to_vec();
    want.sort();
    assert_eq!(kept, want, "backups pruned with their releases");
    // Back to `three`: live is now the older release; `four` is the previous one.
    s.wptdeploy(&[
        "staging",
        "--commit",
        &shas[2],
        "-e",
        "keep_n_most_recent=1",
    ])
    .success();
    assert_eq!(
        s.releases(),
        expected,
        "neither the live nor the previous release is pruned"
    );
    assert_eq!(s.live_release().as_deref(), Some(shas[2].as_str()));
}

#[test]
fn a_failing_build_leaves_the_live_release_untouched() {
    let s = sandbox();
    let live = s.sha("master");
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let run = s
        .wptdeploy(&["staging", "--commit", "broken-build"])
        .failure(1)
        .stderr_has("requirements file")
        .stderr_has("deploy to staging failed on 1 of 1 host(s)");
    assert_eq!(s.live_release(), Some(live.clone()), "{}", run.stderr);
    assert_eq!(
        s.releases(),
        vec![live],
        "the broken release was never published"
    );
    assert!(
        !s.base_path.join(".wptdeploy-lock").exists(),
        "the lock was released after the failure"
    );
}

#[test]
fn a_failing_health_check_switches_back_and_restarts_the_previous_release() {
    let s = crate::support::sandbox_checking_the_app();
    let restarts = s.dir.join("restarts.log");
    s.write_inventory(&[
        (
            "restart_command",
            crate::support::json(&format!(
                "readlink {{{{ site_path }}}} >> {}",
                restarts.display()
            ))
            .as_str(),
        ),
        ("healthcheck_retries", "2"),
        ("healthcheck_delay", "0"),
    ]);
    let live = s.sha("master");
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let run = s
        .wptdeploy(&["staging", "--commit", "broken-app"])
        .failure(1)
        .stderr_has("broken on purpose")
        .stderr_has("rolled back");
    assert_eq!(s.live_release(), Some(live.clone()), "{}", run.stderr);
    let log = std::fs::read_to_string(&restarts).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "restart, restart of the new release, restart after switching back: {log}"
    );
    assert!(lines[1].ends_with(&s.sha("broken-app")));
    assert!(lines[2].ends_with(&live));
    assert!(!s.base_path.join(".wptdeploy-lock").exists());
}

#[test]
fn check_shows_the_exact_commands_and_changes_nothing() {
    let s = sandbox();
    let tree = |s: &crate::support::Sandbox| {
        let out = std::process::Command::new("find")
            .arg(s.dir.join("srv"))
            .arg("-printf")
            .arg("%p %s %T@\n")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = tree(&s);
    // The exact commands are -v's; without it the plan reads as steps.
    let steps = s
        .wptdeploy(&["staging", "--commit", "feature/comment-url", "--check"])
        .success();
    assert!(
        steps
            .stderr
            .contains("planned check out feature/comment-url")
            && !steps.stderr.contains("git clone --quiet")
            && steps.stderr.contains("-v shows each step's exact command"),
        "{}",
        steps.stderr
    );
    let fresh = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "feature/comment-url",
            "--check",
            "-v",
        ])
        .success();
    assert_eq!(tree(&s), before, "--check on a fresh host changed nothing");
    assert!(
        fresh.stderr.contains("git clone --quiet --no-checkout"),
        "{}",
        fresh.stderr
    );
    assert!(fresh.stderr.contains("mv -Tf"), "{}", fresh.stderr);
    assert!(
        fresh.stderr.contains(&s.sha("feature/comment-url")),
        "the ref was resolved read-only: {}",
        fresh.stderr
    );
    assert!(
        !fresh.stderr.contains("sandbox-db-secret"),
        "templates' content is not shown"
    );

    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let before = tree(&s);
    let deployed = s
        .wptdeploy(&["staging", "--commit", "feature/comment-url", "--check"])
        .success();
    assert_eq!(
        tree(&s),
        before,
        "--check on a deployed host changed nothing"
    );
    assert!(deployed.stderr.contains("planned"), "{}", deployed.stderr);
}

#[test]
fn every_host_of_the_environment_is_deployed_with_its_own_variables() {
    let s = sandbox();
    let line = |name: &str| {
        format!(
            "{name} ansible_host=127.0.0.1 ansible_port={} ansible_user={} ansible_ssh_private_key_file={} base_path={}\n",
            s.ssh_port,
            s.user,
            s.key.display(),
            s.dir.join("srv").join(name).display()
        )
    };
    std::fs::write(
        s.inventory.join("staging"),
        format!("[staging]\n{}{}", line("web1"), line("web2")),
    )
    .unwrap();
    let run = s.wptdeploy(&["staging", "--commit", "master"]).success();
    for name in ["web1", "web2"] {
        let live = std::fs::read_link(s.dir.join("srv").join(name).join("site")).unwrap();
        assert!(live.ends_with(s.sha("master")), "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("\n{name} ")),
            "a summary row for {name}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_health_check_url_is_fetched_on_the_host() {
    let s = sandbox();
    let www = s.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("health"), "ok\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = std::process::Command::new(crate::support::sandbox::SYSTEM_PYTHON)
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(&www)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let url = |path: &str| crate::support::json(&format!("http://127.0.0.1:{port}/{path}"));
    s.write_inventory(&[
        ("healthcheck_command", "''"),
        ("healthcheck_url", &url("health")),
    ]);
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    s.write_inventory(&[
        ("healthcheck_command", "''"),
        ("healthcheck_url", &url("missing")),
        ("healthcheck_retries", "1"),
    ]);
    s.wptdeploy(&["staging", "--commit", "feature/comment-url"])
        .failure(1)
        .stderr_has("answered 404 (healthy: 2xx); its answer begins:\n")
        .stderr_has("rolled back");
    assert_eq!(s.live_release(), Some(s.sha("master")));
    // A redirect (the server's 301 from `/sub` to `/sub/`, as a login
    // page's 302) is not healthy unless the inventory says so.
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(www.join("sub/index.html"), "ok\n").unwrap();
    let redirecting = [
        ("healthcheck_command", "''".to_owned()),
        ("healthcheck_url", url("sub")),
        ("healthcheck_retries", "1".to_owned()),
    ];
    s.write_inventory(&redirecting);
    s.wptdeploy(&["staging", "--commit", "feature/comment-url"])
        .failure(1)
        .stderr_has("answered 301, a redirect to http://127.0.0.1:")
        .stderr_has("healthcheck_follow_redirects follows it");
    assert_eq!(s.live_release(), Some(s.sha("master")));
    for allowed in [
        ("healthcheck_follow_redirects", "true"),
        ("healthcheck_status", "\"2xx,301\""),
    ] {
        let mut vars: Vec<(&str, String)> = redirecting.to_vec();
        vars.push((allowed.0, allowed.1.to_owned()));
        s.write_inventory(&vars);
        s.wptdeploy(&["staging", "--commit", "feature/comment-url"])
            .success();
        assert_eq!(s.live_release(), Some(s.sha("feature/comment-url")));
        s.wptdeploy(&["staging", "--commit", "master"]).success();
    }
}

/// `virtualenv:` creates an environment that sees the system's packages
/// when asked (wptdash's did). Debian's six is older than the local
/// index's: pip keeps the system's, and uv, which does not count system
/// packages as installed, is not used for such an environment (the run
/// says why, once), so both installers give the same set. A package that
/// cannot be installed is named in one line by either.
#[test]
fn virtualenv_with_system_site_packages_keeps_the_system_s_versions_and_names_what_fails() {
    let system_six = std::process::Command::new(crate::support::sandbox::SYSTEM_PYTHON)
        .args(["-c", "import six; print(six.__version__)"])
        .output()
        .unwrap();
    assert!(
        system_six.status.success(),
        "this test needs Debian's python3-six (scripts/system-packages installs it)"
    );
    let system_six = String::from_utf8_lossy(&system_six.stdout)
        .trim()
        .to_owned();
    let s = sandbox();
    let index = s.dir.join("wheels");
    crate::support::wheels::publish(&index, &[("six", "99.0", &[])]);
    let dir = s.dir.join("my-playbooks");
    let release = s.dir.join("release");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&release).unwrap();
    std::fs::write(
        dir.join("venv.yml"),
        format!(
            "steps:\n  - name: build\n    virtualenv: {{path: {release}, release: {release}, store: {store}, link: {link}, live: {live}, requirements: requirements.txt, python: /usr/bin/python3, site_packages: \"{{{{ site | bool }}}}\", installer: \"{{{{ installer }}}}\", tools: \"{{{{ tools_path }}}}\", cache: \"{{{{ uv_cache_path }}}}\"}}\n",
            release = release.display(),
            store = s.dir.join("venvs").display(),
            link = s.dir.join("venv").display(),
            live = s.dir.join("site").display(),
        ),
    )
    .unwrap();
    let run = |installer: &str, site: bool| {
        crate::support::Run::from_command(
            s.command(crate::support::bin())
                .args(["--no-progress", "staging", "--playbook", "venv.yml", "-e"])
                .arg(format!("site={site}"))
                .arg("-e")
                .arg(format!("installer={installer}"))
                .arg("--playbooks")
                .arg(&dir),
        )
    };
    let six = format!("--find-links {}\nsix\n", index.display());
    let mut sets = Vec::new();
    for installer in ["pip", "uv", "auto"] {
        // Another input each time, so that each builds (with the system's
        // packages, every installer's environment is pip's, the same one).
        std::fs::write(
            release.join("requirements.txt"),
            format!("{six}# {installer}\n"),
        )
        .unwrap();
        // A new build each time, as a deploy's build directory is.
        let _ = std::fs::remove_file(release.join(".venv"));
        let built = run(installer, true).success();
        let config = std::fs::read_to_string(release.join(".venv/pyvenv.cfg")).unwrap();
        assert!(
            config.contains("include-system-site-packages = true"),
            "{installer}: {config}"
        );
        let imported = std::process::Command::new(release.join(".venv/bin/python"))
            .args([
                "-c",
                "import six; print(getattr(six, '__version__', None) or six.VERSION)",
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&imported.stdout).trim(),
            system_six,
            "{installer}"
        );
        let why = "with system site-packages the virtualenv is built with pip";
        let said = built.stderr.matches(why).count();
        assert_eq!(
            said,
            usize::from(installer != "pip"),
            "{installer}: {}",
            built.stderr
        );
        sets.push(std::fs::read_to_string(release.join(".venv/.wptdeploy-packages")).unwrap());
    }
    assert!(
        sets.iter()
            .all(|set| set == &sets[0] && !set.contains("six")),
        "{sets:?}"
    );
    // Without the system's packages, uv installs the index's newest.
    let _ = std::fs::remove_file(release.join(".venv"));
    run("uv", false).success();
    let set = std::fs::read_to_string(release.join(".venv/.wptdeploy-packages")).unwrap();
    assert!(set.contains("six==99.0"), "{set}");

    for (installer, site, said) in [
        (
            "pip",
            true,
            "no version of `nosuchpkg-wptdeploy-test-xyz` matches `nosuchpkg-wptdeploy-test-xyz==1.0`",
        ),
        (
            "uv",
            false,
            "no solution: nosuchpkg-wptdeploy-test-xyz was not found in the package registry",
        ),
    ] {
        std::fs::write(
            release.join("requirements.txt"),
            "nosuchpkg-wptdeploy-test-xyz==1.0\n",
        )
        .unwrap();
        let _ = std::fs::remove_file(release.join(".venv"));
        let failed = run(installer, site).failure(1);
        assert!(
            failed.stderr.contains(&format!(
                "step `build` building the virtualenv failed: {said}"
            )),
            "{installer}: {}",
            failed.stderr
        );
        assert!(
            failed
                .stderr
                .contains("hint: `-v` shows the installer's whole output"),
            "{}",
            failed.stderr
        );
    }
}

/// `wptdeploy config ENV`: the config file a deploy would write, rendered
/// for the host from the deploy's own template, the password masked, and
/// the host left as it was (not even `base_path` made).
#[test]
fn config_shows_what_a_deploy_writes_with_secrets_masked_and_changes_nothing() {
    let s = sandbox();
    s.write_inventory(&[
        (
            "db_password",
            crate::support::json("s3ntinel-Pa55").as_str(),
        ),
        ("site_fqdn", "\"dash.example.org\""),
    ]);
    let run = s.wptdeploy(&["config", "staging"]).success();
    assert!(
        run.stderr.contains("site_fqdn = dash.example.org")
            && run.stderr.contains("password = ********")
            && run.stderr.contains("[postgresql]"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3ntinel-Pa55") && !run.stdout.contains("s3ntinel-Pa55"));
    assert!(!s.base_path.exists(), "nothing was made on the host");
    // What a deploy then writes is what was shown.
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let written = std::fs::read_to_string(s.base_path.join("site/config.txt")).unwrap();
    assert!(
        written.contains("site_fqdn = dash.example.org")
            && written.contains("password = s3ntinel-Pa55"),
        "{written}"
    );
    // With no config file to write, it says so.
    s.write_inventory(&[("config_path", "\"\"")]);
    s.wptdeploy(&["config", "staging"])
        .success()
        .stderr_has("no config file on sandbox-host: `config_path` is not set there");
}

#[test]
fn a_missing_app_user_is_said_the_same_by_the_plan_and_the_deploy() {
    let s = crate::support::sandbox();
    s.write_inventory(&[("app_user", "\"nosuchuser\"")]);
    for args in [
        &["staging", "--commit", "master", "--check"][..],
        &["staging", "--commit", "master"][..],
    ] {
        let run = s.wptdeploy(args).failure(1);
        assert!(
            run.stderr
                .contains("there is no user `nosuchuser` on the host")
                && run.stderr.contains("`wptdeploy setup ENV` makes it")
                && run.stderr.contains(
                    "sudo useradd --system --user-group --shell /usr/sbin/nologin nosuchuser"
                ),
            "{args:?}:\n{}",
            run.stderr
        );
    }
    assert!(!s.base_path.join("site").exists(), "nothing went live");
}

#[test]
fn exec_and_logs_on_one_host_are_a_pipe_with_the_commands_own_status() {
    let s = sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    // Its stdout alone on stdout, its stderr on stderr, unprefixed; the
    // command's exit status is wptdeploy's.
    let run = s.wptdeploy(&[
        "exec",
        "staging",
        "--",
        "sh",
        "-c",
        "echo out-line; echo err-line >&2; exit 3",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stdout, "out-line\n");
    assert!(
        run.stderr.lines().any(|l| l == "err-line") && !run.stderr.contains("|"),
        "{}",
        run.stderr
    );
    // Through a real pipe, as a person writes it.
    let piped = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' --no-progress exec staging -- seq 1 500 | wc -l",
            crate::support::bin().display()
        ))
        .envs(
            s.command(crate::support::bin())
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .current_dir(&s.dir)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&piped.stdout).trim(), "500");
    // --prefix: each line with its host, on stderr.
    let prefixed = s
        .wptdeploy(&["exec", "staging", "--prefix", "--", "echo", "hi"])
        .success();
    assert!(prefixed.stdout.is_empty(), "{}", prefixed.stdout);
    assert!(
        prefixed.stderr.contains("[sandbox-host]   | hi"),
        "{}",
        prefixed.stderr
    );
    // logs too: the last line of the app's log, as it is, on stdout.
    std::fs::write(s.base_path.join("app.log"), "old\nnewest line\n").unwrap();
    s.write_inventory(&[(
        "logs_files",
        format!(
            "[{}]",
            crate::support::json(&s.base_path.join("app.log").display().to_string())
        ),
    )]);
    let logs = s.wptdeploy(&["logs", "staging", "-n", "1"]).success();
    assert_eq!(logs.stdout, "newest line\n", "{}", logs.stderr);
}
