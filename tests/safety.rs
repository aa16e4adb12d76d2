//! Bad input and untrusted hosts: refused with a clear message, and
//! nothing executed or changed.

use std::time::Instant;

use crate::support::sandbox::keygen;
use crate::support::{json, sandbox, shared_venv};

#[test]
fn hostile_refs_are_refused_before_any_connection() {
    let s = sandbox();
    // Point the inventory at a closed port: a connection attempt would say so.
    std::fs::write(
        s.inventory.join("staging"),
        "[staging]\nnowhere ansible_host=127.0.0.1 ansible_port=1\n",
    )
    .unwrap();
    let pwned = s.dir.join("pwned");
    for hostile in [
        format!("x;touch {}", pwned.display()),
        format!("$(touch {})", pwned.display()),
        "a\nb".to_owned(),
        "it's".to_owned(),
        "x; rm -rf /".to_owned(),
    ] {
        let run = s.wptdeploy(&["staging", "--commit", &hostile]).failure(2);
        assert!(
            run.stderr.contains("is not a valid git ref"),
            "{hostile:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("cannot connect"),
            "{hostile:?} got as far as connecting"
        );
        // The same through -e (typed JSON, so any value gets through), which
        // reaches the plan by another road.
        let typed = serde_json::json!({ "commit": hostile }).to_string();
        let run = s.wptdeploy(&["staging", "-e", &typed]).failure(2);
        assert!(
            run.stderr.contains("is not a valid git ref"),
            "-e {hostile:?}: {}",
            run.stderr
        );
    }
    assert!(!pwned.exists());
}

#[test]
fn hostile_variable_values_are_quoted_and_never_executed() {
    let s = sandbox();
    let pwned = s.dir.join("pwned");
    let hostile = format!(
        "$(touch {p}); `touch {p}` ' \" \n;touch {p}",
        p = pwned.display()
    );
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "master",
            "-e",
            &serde_json::json!({ "env": hostile }).to_string(),
        ])
        .success();
    assert!(!pwned.exists(), "a variable was executed: {}", run.stderr);
    let build = std::fs::read_to_string(s.base_path.join("site/wptdash/static/build.txt")).unwrap();
    assert!(
        build.contains(&hostile),
        "the value arrived intact: {build:?}"
    );
}

#[test]
fn an_unknown_host_key_is_refused_with_its_fingerprint_then_accepted_on_request() {
    let s = sandbox();
    std::fs::write(&s.known_hosts, "").unwrap();
    let run = s
        .wptdeploy(&["staging"])
        .failure(1)
        .stderr_has("is not known (SHA256:")
        .stderr_has("hint: if it matches, re-run with `--accept-new-host-keys`");
    assert!(s.live_release().is_none(), "{}", run.stderr);
    s.wptdeploy(&["staging", "--accept-new-host-keys"])
        .success();
    // Recorded for this host and port (hashed or not, as ssh's config says).
    let found = std::process::Command::new("ssh-keygen")
        .arg("-F")
        .arg(format!("[127.0.0.1]:{}", s.ssh_port))
        .arg("-f")
        .arg(&s.known_hosts)
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{}",
        std::fs::read_to_string(&s.known_hosts).unwrap()
    );
    // Recorded once, trusted from now on.
    s.wptdeploy(&["staging"]).success();
}

#[test]
fn a_changed_host_key_is_always_refused() {
    let s = sandbox();
    let other = s.dir.join("other_host_key");
    keygen(&other);
    let fields: Vec<String> = std::fs::read_to_string(other.with_extension("pub"))
        .unwrap()
        .split_whitespace()
        .take(2)
        .map(str::to_owned)
        .collect();
    std::fs::write(
        &s.known_hosts,
        format!("[127.0.0.1]:{} {}\n", s.ssh_port, fields.join(" ")),
    )
    .unwrap();
    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let mut args = vec!["staging"];
        args.extend_from_slice(extra);
        s.wptdeploy(&args)
            .failure(1)
            .stderr_has("has CHANGED")
            .stderr_has("line 1 of")
            .stderr_has("someone may be intercepting");
    }
    assert!(s.live_release().is_none());
}

#[test]
fn a_key_the_host_does_not_accept_fails_with_what_was_tried() {
    let s = sandbox();
    let stranger = s.dir.join("stranger_key");
    keygen(&stranger);
    s.write_host(&s.user, &stranger);
    s.wptdeploy(&["staging"])
        .failure(1)
        .stderr_has("refused every key offered")
        .stderr_has(&stranger.display().to_string())
        .stderr_has("hint: check that your public key is in");
}

#[test]
fn an_unreachable_host_fails_fast_with_a_clear_message() {
    let s = sandbox();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        s.inventory.join("staging"),
        format!("[staging]\ngone ansible_host=127.0.0.1 ansible_port={port}\n"),
    )
    .unwrap();
    let started = Instant::now();
    s.wptdeploy(&["staging"])
        .failure(1)
        .stderr_has(&format!("cannot connect to 127.0.0.1:{port}"))
        .stderr_has("hint: check that sshd runs on 127.0.0.1");
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn secrets_never_print_not_even_with_verbose_or_json() {
    let s = sandbox();
    let venv = shared_venv();
    // The health check prints config.txt, which holds the database password.
    s.write_inventory(&[
        ("venv_path", &json(&venv.display().to_string())),
        ("db_password", &json("s3ntinel-Pa55")),
        ("healthcheck_command", &json("cat config.txt")),
    ]);
    let verbose = s.wptdeploy(&["staging", "-v"]).success();
    assert!(
        verbose.stderr.contains("password = ********"),
        "{}",
        verbose.stderr
    );
    let json_run = s
        .wptdeploy(&["staging", "-v", "--output", "json"])
        .success();
    let failing = s.wptdeploy(&[
        "staging",
        "--commit",
        "broken-build",
        "-e",
        "healthcheck_command='echo s3ntinel-Pa55; false'",
    ]);
    let check = s.wptdeploy(&["staging", "--check", "-v"]).success();
    for run in [&verbose, &json_run, &failing, &check] {
        assert!(!run.stdout.contains("s3ntinel-Pa55") && !run.stderr.contains("s3ntinel-Pa55"));
    }
    let config = std::fs::read_to_string(s.base_path.join("site/config.txt")).unwrap();
    assert!(
        config.contains("password = s3ntinel-Pa55"),
        "the real value reached the host"
    );
}

#[test]
fn a_step_that_outlives_its_timeout_is_stopped_with_a_clear_error() {
    let s = sandbox();
    let dir = s.dir.join("my-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("slow.yml"),
        "steps:\n  - name: too slow\n    run: sleep 60\n    timeout: 1s\n",
    )
    .unwrap();
    let started = Instant::now();
    let run = crate::support::Run::from_command(
        s.command(crate::support::bin())
            .args([
                "--no-progress",
                "staging",
                "--playbook",
                "slow.yml",
                "--playbooks",
            ])
            .arg(&dir),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("step `too slow` timed out after 1s and was stopped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: raise the step's `timeout:`"),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed().as_secs() < 15,
        "took {:?}",
        started.elapsed()
    );
}
