//! The two transports: chosen per host, each following its own reading of
//! the ssh config (the system ssh's for openssh; the common keys, and a
//! one-hop ProxyJump, for russh). The rest of the suite runs over both
//! (`WPTDEPLOY_TRANSPORT=openssh` in scripts/test).

use std::path::Path;

use crate::support::fleet::Fleet;
use crate::support::ssh::{run_with_path, ssh_calls, ssh_wrapper, write_ssh_config};
use crate::support::{Sandbox, events, sandbox};

#[test]
fn each_host_can_choose_its_transport() {
    let fleet = Fleet::start(2);
    let s = &fleet.sandbox;
    fleet.write_inventory(&|h| {
        if h.name == "host02" {
            "ansible_connection=openssh".into()
        } else {
            String::new()
        }
    });
    let path = ssh_wrapper(s, "");
    let run = run_with_path(
        s,
        &path,
        &["staging", "--transport", "russh", "--output", "json"],
    )
    .success();
    let calls = ssh_calls(s);
    assert!(calls.contains(&fleet.hosts[1].address), "{calls}");
    assert!(!calls.contains(&fleet.hosts[0].address), "{calls}");
    let targets: Vec<String> = events(&run)
        .iter()
        .filter(|e| e["event"] == "connecting")
        .map(|e| format!("{} {}", e["host"], e["target"]))
        .collect();
    assert!(
        targets
            .iter()
            .any(|t| t.contains("host01") && t.ends_with("(russh)\"")),
        "{targets:?}"
    );
    assert!(
        targets
            .iter()
            .any(|t| t.contains("host02") && t.ends_with("(openssh)\"")),
        "{targets:?}"
    );
    let sha = s.sha("master");
    assert_eq!(fleet.live(0).as_deref(), Some(sha.as_str()));
    assert_eq!(fleet.live(1).as_deref(), Some(sha.as_str()));
}

/// An inventory that names the host only by an ssh config alias.
fn alias_only_inventory(s: &Sandbox, alias: &str) {
    std::fs::write(s.inventory.join("staging"), format!("[staging]\n{alias}\n")).unwrap();
}

#[test]
fn both_transports_follow_the_ssh_config_for_an_alias() {
    let s = sandbox();
    alias_only_inventory(&s, "wptd-alias");
    let config = write_ssh_config(
        &s,
        &format!(
            "Host wptd-alias\n    HostName 127.0.0.1\n    Port {}\n    User {}\n    IdentityFile {}\n",
            s.ssh_port,
            s.user,
            s.key.display()
        ),
    );
    // russh reads $HOME/.ssh/config (HOME is the sandbox).
    s.wptdeploy(&["staging", "--transport", "russh"]).success();
    assert_eq!(s.live_release(), Some(s.sha("master")));
    // The system ssh reads the passwd home's config; the wrapper points it at ours.
    let path = ssh_wrapper(&s, &format!("-F {}", config.display()));
    let run = run_with_path(&s, &path, &["staging", "--transport", "openssh", "--force"]).success();
    assert!(ssh_calls(&s).contains("wptd-alias"), "{}", run.stderr);
    // Without the config, the alias reaches nothing: the config did the work.
    std::fs::remove_file(&config).unwrap();
    let unreachable = s
        .wptdeploy(&["staging", "--transport", "russh", "--connect-timeout", "3s"])
        .failure(1);
    assert!(
        unreachable
            .stderr
            .contains("cannot resolve the host name wptd-alias: "),
        "the failure must be the alias not resolving, not anything else: {}",
        unreachable.stderr
    );
}

fn accepted_logins(sshd_log: &Path) -> usize {
    std::fs::read_to_string(sshd_log)
        .unwrap_or_default()
        .matches("Accepted publickey")
        .count()
}

#[test]
fn russh_jumps_through_a_proxyjump_host_and_refuses_what_it_cannot_follow() {
    let fleet = Fleet::start(1);
    let s = &fleet.sandbox;
    let target = &fleet.hosts[0];
    std::fs::write(
        s.inventory.join("staging"),
        format!(
            "[staging]\ntarget base_path={}\n",
            target.base_path.display()
        ),
    )
    .unwrap();
    write_ssh_config(
        s,
        &format!(
            "Host target\n    HostName {}\n    Port {}\n    ProxyJump gate\nHost gate\n    HostName 127.0.0.1\n    Port {}\nHost *\n    User {}\n    IdentityFile {}\n",
            target.address,
            target.port,
            s.ssh_port,
            s.user,
            s.key.display()
        ),
    );
    let gate_log = s.dir.join("sshd.log");
    let before = accepted_logins(&gate_log);
    s.wptdeploy(&["staging", "--transport", "russh"]).success();
    assert_eq!(fleet.live(0), Some(s.sha("master")));
    assert_eq!(
        accepted_logins(&gate_log),
        before + 1,
        "logged in at the gate once"
    );

    write_ssh_config(s, "Host target\n    ProxyCommand nc %h %p\n");
    s.wptdeploy(&["staging", "--transport", "russh"])
        .failure(1)
        .stderr_has("uses what only the openssh transport follows")
        .stderr_has(".ssh/config:2: ProxyCommand")
        .stderr_has("hint: run with `--transport openssh`");
}

/// Steps that only look go to the host in one write with the one before
/// them; each result still belongs to its own step, however the bytes
/// fall (a large output), and a step whose command came out differently
/// once the step before it had registered its result is run again, its
/// early result dropped.
#[test]
fn looking_steps_are_sent_ahead_and_each_result_stays_its_own() {
    let s = sandbox();
    let dir = s.dir.join("ahead-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ahead.yml"),
        r#"steps:
  - name: first look
    run: "echo first-$(id -un)"
    changes: false
    register: first
  - name: second look
    run: "echo second-{{ first | default('unknown') }}"
    changes: false
  - name: third look
    run: "head -c 300000 /dev/zero | tr '\\0' x; echo; echo third-done >&2"
    changes: false
  - name: a change
    run: "echo changed"
"#,
    )
    .unwrap();
    let run = crate::support::Run::from_command(
        s.command(crate::support::bin())
            .args([
                "staging",
                "-v",
                "--output",
                "json",
                "--playbook",
                "ahead.yml",
            ])
            .arg("--playbooks")
            .arg(&dir),
    )
    .success();
    let events = events(&run);
    let sent: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "sent_ahead")
        .collect();
    assert_eq!(sent.len(), 1, "{}", run.stdout);
    assert_eq!(
        sent[0]["steps"],
        serde_json::json!([2, 3]),
        "{}",
        run.stdout
    );
    let lines: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "step_output")
        .map(|e| {
            (
                e["stream"].as_str().unwrap().to_owned(),
                e["line"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let user = lines[0].1.trim_start_matches("first-").to_owned();
    assert!(
        !user.is_empty() && lines[0].1.starts_with("first-"),
        "{lines:?}"
    );
    let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        texts.contains(&format!("second-first-{user}").as_str()),
        "the second step ran with what the first registered: {texts:?}"
    );
    assert!(
        !texts.iter().any(|l| l.contains("second-unknown")),
        "the early result of the second step is dropped: {texts:?}"
    );
    let xs: usize = texts
        .iter()
        .filter(|l| l.starts_with('x'))
        .map(|l| l.len())
        .sum();
    assert_eq!(xs, 300_000, "the third step's output, whole");
    assert!(
        lines.contains(&("stderr".into(), "third-done".into())),
        "{lines:?}"
    );
    assert_eq!(texts.last(), Some(&"changed"), "{texts:?}");
    let finished = events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["status"] != "skipped")
        .count();
    assert_eq!(finished, 4, "{}", run.stdout);
}
