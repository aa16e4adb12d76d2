//! Bad input and untrusted hosts: refused with a clear message, and
//! nothing executed or changed.

use std::time::Instant;

use crate::support::sandbox::keygen;
use crate::support::{json, sandbox};

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
    // The health check prints config.txt, which holds the database password.
    s.write_inventory(&[
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

/// The sentinels below, each a secret of another shape: a number, a list
/// under `vault_*`, a multi-line key, a value with a quote, and a secret
/// inside another variable. No sink may show any of them.
const SENTINELS: [&str; 6] = [
    "90817263",
    "S3NT-LIST-B",
    "S3NT-KEYLINE-2",
    "S3NT-QUOTED",
    "S3NT",
    "it's",
];

fn assert_masked(what: &str, text: &str) {
    for sentinel in SENTINELS {
        assert!(
            !text.contains(sentinel),
            "{what} shows `{sentinel}`:\n{text}"
        );
    }
}

/// A playbook that puts every secret in a step name, a command, its output
/// on both streams, and a failure's output.
fn secret_playbook(s: &crate::support::Sandbox) -> std::path::PathBuf {
    let dir = s.dir.join("secret-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = s.dir.join("secret-lock");
    std::fs::write(
        dir.join("secrets.yml"),
        format!(
            r#"steps:
  - name: take the deploy lock
    lock:
      path: {}
  - name: "greet {{{{ db_password }}}} {{{{ api_token }}}}"
    run: |
      echo {{{{ db_password }}}} {{{{ api_token }}}} {{{{ database_url }}}}
      echo {{{{ deploy_private_key }}}} >&2
      echo {{{{ vault_keys | join(' ') }}}}
  - name: fail with them
    run: "echo {{{{ api_token }}}}; echo {{{{ vault_keys[1] }}}} >&2; exit 3"
"#,
            lock.display()
        ),
    )
    .unwrap();
    dir
}

#[test]
fn secrets_of_every_shape_are_masked_in_every_sink() {
    let s = sandbox();
    s.write_inventory(&[
        ("db_password", "90817263"),
        ("vault_keys", "[S3NT-LIST-A, S3NT-LIST-B]"),
        (
            "deploy_private_key",
            &json("-----BEGIN KEY-----\nS3NT-KEYLINE-1\nS3NT-KEYLINE-2\n-----END KEY-----\n"),
        ),
        ("api_token", &json("it's-S3NT-QUOTED")),
        (
            "database_url",
            &json("postgresql://app:{{ db_password }}@db/x"),
        ),
    ]);
    let playbooks = secret_playbook(&s);
    let run = |extra: &[&str]| {
        let mut command = s.command(crate::support::bin());
        command
            .args([
                "staging",
                "--no-progress",
                "--playbook",
                "secrets.yml",
                "--playbooks",
            ])
            .arg(&playbooks)
            .args(extra);
        crate::support::Run::from_command(&mut command)
    };
    let mut sinks = Vec::new();
    for extra in [
        &[][..],
        &["-v"],
        &["-v", "--output", "json"],
        &["--check", "-v"],
        &["--check", "-v", "--output", "json"],
    ] {
        let done = run(extra);
        let code = if extra.contains(&"--check") { 0 } else { 1 };
        assert_eq!(done.code, code, "the last step fails: {}", done.stderr);
        sinks.push((format!("{extra:?}"), done));
    }
    let shown = &sinks[1].1.stderr;
    assert!(
        shown.contains("greet ******** ********") && shown.contains("| ******** ********"),
        "the secrets are there, masked: {shown}"
    );
    // An error found while reading the variables quotes the value.
    sinks.push((
        "a plan-time error".into(),
        run(&["-e", "ansible_port={{ db_password }}"]).failure(2),
    ));
    // A lock whose note holds a secret (another tool's command line).
    let lock = s.base_path.join(".wptdeploy-lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(
        lock.join("info"),
        "token=x\nwho=ci@build\ncommit=master\ncommand=deploy --password 90817263\nstarted=1\n",
    )
    .unwrap();
    sinks.push(("a held lock".into(), s.wptdeploy(&["staging"]).failure(1)));
    sinks.push((
        "unlock".into(),
        s.wptdeploy(&["unlock", "staging", "--yes"]).success(),
    ));
    for (what, done) in &sinks {
        assert_masked(what, &done.stdout);
        assert_masked(what, &done.stderr);
    }
    assert!(
        sinks
            .last()
            .unwrap()
            .1
            .stderr
            .contains("--password ********"),
        "{}",
        sinks.last().unwrap().1.stderr
    );
    // --step: the details of a step and the output of its failure.
    let mut command = s.command(crate::support::bin());
    command
        .args([
            "staging",
            "--step",
            "--playbook",
            "secrets.yml",
            "--playbooks",
        ])
        .arg(&playbooks);
    let mut terminal = crate::support::terminal::Terminal::start(&command);
    terminal.wait_for("take the deploy lock?", 1);
    terminal.press('r');
    terminal.wait_for("?", 2);
    terminal.press('d');
    terminal.wait_for("?", 3);
    terminal.press('r');
    terminal.wait_for("fail with them?", 1);
    terminal.press('r');
    terminal.wait_for("failed.", 1);
    terminal.press('o');
    terminal.wait_for("failed.", 2);
    terminal.press('a');
    let (ok, screen) = terminal.finish();
    assert!(!ok, "{screen}");
    assert!(screen.contains("echo ******** "), "details shown: {screen}");
    assert_masked("--step", &screen);
}

/// A host address that looks like an ssh option: nothing runs it, and the
/// hint's command, pasted into a shell as it is, cannot run it either.
#[test]
fn a_hint_to_paste_quotes_a_host_that_looks_like_an_option() {
    let s = sandbox();
    let pwned = s.dir.join("pwned");
    let hostile = format!("-oProxyCommand=touch {}", pwned.display());
    let extra = serde_json::json!({ "ansible_host": hostile }).to_string();
    let run = s.wptdeploy(&["staging", "-e", &extra, "--connect-timeout", "3s"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // russh: such a name does not resolve, `getent hosts -- 'NAME'`;
    // openssh: `ssh -- 'NAME' true`. Either is pasted as it is.
    let hint = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("hint:"))
        .filter(|l| l.contains(" -- '"))
        .find_map(|l| {
            let (before, _) = l.rsplit_once('`')?;
            before.rsplit_once('`').map(|(_, cmd)| cmd.to_owned())
        })
        .unwrap_or_else(|| panic!("a hint with a command: {}", run.stderr));
    assert!(hint.contains(" -- '-oProxyCommand="), "{hint}");
    let pasted = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("timeout 10 {hint}"))
        .output()
        .unwrap();
    assert!(!pasted.status.success());
    assert!(
        !pwned.exists(),
        "neither wptdeploy nor its hint ran the option: {hint}"
    );
}

/// A step that leaves a process behind (`cmd &`) cannot print into the
/// next step or what it registers; `background:` detaches one on purpose.
#[test]
fn steps_do_not_leak_into_each_other_and_background_detaches() {
    let s = sandbox();
    let dir = s.dir.join("my-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let log = s.dir.join("bg/server.log");
    std::fs::write(
        dir.join("leaky.yml"),
        format!(
            r#"steps:
  - name: leave a printer behind
    run: "(sleep 1; echo leaked-line) &"
  - name: wait and look
    run: "sleep 2; echo mine"
    register: look
  - name: show what was registered
    run: "echo registered={{{{ look }}}}"
  - name: start a server
    run: "sleep 1; echo from-background"
    background: {}
"#,
            log.display()
        ),
    )
    .unwrap();
    let run = crate::support::Run::from_command(
        s.command(crate::support::bin())
            .args([
                "staging",
                "-v",
                "--no-progress",
                "--playbook",
                "leaky.yml",
                "--playbooks",
            ])
            .arg(&dir),
    )
    .success();
    assert!(!run.stderr.contains("leaked-line"), "{}", run.stderr);
    assert!(run.stderr.contains("| registered=mine"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("its output goes to {}", log.display())),
        "{}",
        run.stderr
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("from-background"), "{written}");
}

/// The first two fields of a public key file: `TYPE BASE64`.
fn key_fields(public: &std::path::Path) -> String {
    std::fs::read_to_string(public)
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One known_hosts file, each way a person writes one, read by both
/// transports and by OpenSSH's own `ssh`: all three agree.
#[test]
fn known_hosts_is_read_as_openssh_reads_it_by_both_transports() {
    let s = sandbox();
    let host = key_fields(&s.dir.join("host_ed25519.pub"));
    let rotated = s.dir.join("rotated_host_key");
    keygen(&rotated);
    let old = key_fields(&rotated.with_extension("pub"));
    let name = format!("[127.0.0.1]:{}", s.ssh_port);
    let hashed = {
        let file = s.dir.join("known_hosts.hashed");
        std::fs::write(&file, format!("{name} {host}\n")).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-H", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("|1|"), "{text}");
        text
    };
    let cases = [
        ("plain", format!("{name} {host}\n"), true),
        (
            "tab-separated",
            format!("{name}\t{}\n", host.replace(' ', "\t")),
            true,
        ),
        (
            "a rotation, the old key first",
            format!("{name} {old}\n{name} {host}\n"),
            true,
        ),
        (
            "a wildcard",
            format!("[127.0.0.*]:{} {host}\n", s.ssh_port),
            true,
        ),
        (
            "a wildcard with this host negated",
            format!("[127.0.0.*]:{},!{name} {host}\n", s.ssh_port),
            false,
        ),
        ("a hashed name", hashed, true),
        (
            "the key revoked",
            format!("{name} {host}\n@revoked {name} {host}\n"),
            false,
        ),
        ("another key", format!("{name} {old}\n"), false),
    ];
    let mut disagree = Vec::new();
    for (label, text, connects) in &cases {
        std::fs::write(&s.known_hosts, text).unwrap();
        let ssh = std::process::Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", s.known_hosts.display()))
            .arg("-i")
            .arg(&s.key)
            .args(["-p", &s.ssh_port.to_string()])
            .arg(format!("{}@127.0.0.1", s.user))
            .arg("true")
            .output()
            .unwrap();
        let mut said = vec![("ssh", ssh.status.success())];
        for transport in ["russh", "openssh"] {
            let run = s
                .command(crate::support::bin())
                .args([
                    "--no-progress",
                    "--transport",
                    transport,
                    "status",
                    "staging",
                ])
                .output()
                .unwrap();
            said.push((transport, run.status.success()));

            if label == &"the key revoked" && transport == "russh" {
                assert!(
                    String::from_utf8_lossy(&run.stderr).contains("is REVOKED"),
                    "{}",
                    String::from_utf8_lossy(&run.stderr)
                );
            }
        }
        if said.iter().any(|(_, ok)| ok != connects) {
            disagree.push(format!("{label}: expected {connects}, got {said:?}"));
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}
