//! Many hosts: parallel deploys, `--forks`, rolling batches (`--serial`,
//! `max_fail_percentage`) and `--limit`, on one real sshd per host.

use serde_json::Value;

use crate::support::events;
use crate::support::fleet::Fleet;

/// The host an event is about (a host summary's host for `host_finished`).
fn host_of(event: &Value) -> Option<&str> {
    event["host"].as_str()
}

/// Position of the first event of `kind` for `host`.
fn first(events: &[Value], kind: &str, host: &str) -> usize {
    events
        .iter()
        .position(|e| e["event"] == kind && host_of(e) == Some(host))
        .unwrap_or_else(|| panic!("no {kind} event for {host}"))
}

/// Each host's result, from its `host_finished` event.
fn results(events: &[Value]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "host_finished")
        .map(|e| {
            (
                e["summary"]["host"].as_str().unwrap().to_owned(),
                e["summary"]["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn twenty_hosts_deploy_in_parallel() {
    let fleet = Fleet::start(20);
    let s = &fleet.sandbox;
    // A barrier before the deploy: each host waits until all twenty have
    // reached it, so the run can only finish if they all run at once.
    let barrier = s.dir.join("barrier");
    std::fs::create_dir_all(&barrier).unwrap();
    std::fs::create_dir_all(s.dir.join("playbooks")).unwrap();
    std::fs::write(
        s.dir.join("playbooks/parallel.yml"),
        format!(
            "steps:\n  - name: wait for all twenty\n    run: touch {dir}/{{{{ inventory_hostname }}}}; until [ $(ls {dir} | wc -l) -ge 20 ]; do sleep 0.05; done\n    timeout: 60s\n  - import: deploy.yml\n",
            dir = barrier.display()
        ),
    )
    .unwrap();
    // One tools_path for all twenty (they share this machine), with no uv
    // in it yet, and every environment built afresh (`--force`): twenty
    // hosts need uv at once, and one installs it while the others wait.
    let tools = s.dir.join("shared-tools/tools");
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "master",
            "--forks",
            "20",
            "--playbook",
            "parallel.yml",
            "--output",
            "json",
            "-e",
            &format!("tools_path={}", tools.display()),
            "--force",
        ])
        .success();
    assert!(
        !run.stdout.contains("uv could not be installed"),
        "{}",
        run.stdout
    );
    assert!(
        tools.join("bin/uv").is_file(),
        "{}",
        run.stdout
            .lines()
            .filter(|l| l.contains("step_finished") && l.contains("\"index\":7"))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let events = events(&run);
    let sha = s.sha("master");
    for (index, host) in fleet.hosts.iter().enumerate() {
        assert_eq!(
            fleet.live(index).as_deref(),
            Some(sha.as_str()),
            "{}",
            host.name
        );
    }
    assert!(
        events.iter().all(|e| [
            "run_started",
            "run_finished",
            "play_started",
            "play_finished"
        ]
        .contains(&e["event"].as_str().unwrap_or_default())
            || host_of(e).is_some()),
        "every host event names its host"
    );
    assert_eq!(results(&events).len(), 20);
    assert!(results(&events).iter().all(|(_, r)| r == "deployed"));
}

#[test]
fn forks_one_runs_the_hosts_one_after_another() {
    let fleet = Fleet::start(3);
    let run = fleet
        .sandbox
        .wptdeploy(&[
            "staging", "--commit", "master", "--forks", "1", "--output", "json",
        ])
        .success();
    let events = events(&run);
    let names: Vec<&str> = fleet.hosts.iter().map(|h| h.name.as_str()).collect();
    // Each host's events form one block: no other host's event inside it.
    let order: Vec<&str> = events.iter().filter_map(host_of).collect();
    let mut blocks: Vec<&str> = order.clone();
    blocks.dedup();
    assert_eq!(blocks.len(), 3, "hosts interleaved: {order:?}");
    let mut sorted = blocks.clone();
    sorted.sort();
    assert_eq!(sorted, names);
}

#[test]
fn serial_runs_batches_in_order() {
    let fleet = Fleet::start(5);
    let run = fleet
        .sandbox
        .wptdeploy(&[
            "staging", "--commit", "master", "--serial", "2", "--output", "json",
        ])
        .success();
    let events = events(&run);
    let batches: Vec<(u64, Vec<String>)> = events
        .iter()
        .filter(|e| e["event"] == "batch_started")
        .map(|e| {
            assert_eq!(e["batches"], 3);
            let hosts = e["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_owned())
                .collect();
            (e["batch"].as_u64().unwrap(), hosts)
        })
        .collect();
    assert_eq!(
        batches,
        [
            (1, vec!["host01".to_owned(), "host02".to_owned()]),
            (2, vec!["host03".to_owned(), "host04".to_owned()]),
            (3, vec!["host05".to_owned()]),
        ]
    );
    for (earlier, later) in [
        (["host01", "host02"], "host03"),
        (["host03", "host04"], "host05"),
    ] {
        for host in earlier {
            assert!(
                first(&events, "host_finished", host) < first(&events, "connecting", later),
                "{host} finished before {later} started"
            );
        }
    }
    assert!(results(&events).iter().all(|(_, r)| r == "deployed"));
}

#[test]
fn a_failed_batch_stops_the_next_and_leaves_no_host_half_switched() {
    let fleet = Fleet::start(4);
    let s = &fleet.sandbox;
    let master = s.sha("master");
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let branch = s.new_branch("rolling");
    // host02's health check fails: it switches, fails, and switches back.
    fleet.write_inventory(&|h| {
        if h.name == "host02" {
            "healthcheck_command=/bin/false healthcheck_retries=1 healthcheck_delay=0".into()
        } else {
            String::new()
        }
    });
    let run = s
        .wptdeploy(&["staging", "--commit", "rolling", "--serial", "2"])
        .failure(1)
        .stderr_has("2 host(s) not started: batch 1 of 2 failed on host02")
        .stderr_has("finish the rollout with `--limit host02,host03,host04`");
    let live: Vec<Option<String>> = (0..4).map(|i| fleet.live(i)).collect();
    assert_eq!(live[0].as_deref(), Some(branch.as_str()), "{}", run.stderr);
    assert_eq!(live[1].as_deref(), Some(master.as_str()), "rolled back");
    assert_eq!(live[2].as_deref(), Some(master.as_str()), "not started");
    assert_eq!(live[3].as_deref(), Some(master.as_str()), "not started");
    for host in &fleet.hosts {
        assert!(
            !host.base_path.join(".wptdeploy-lock").exists(),
            "{}: lock released",
            host.name
        );
    }

    // A playbook allowing half a batch to fail goes on to the next batch.
    std::fs::create_dir_all(s.dir.join("playbooks")).unwrap();
    std::fs::write(
        s.dir.join("playbooks/rolling.yml"),
        "serial: 2\nmax_fail_percentage: 50\nsteps:\n  - import: deploy.yml\n",
    )
    .unwrap();
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "rolling",
            "--playbook",
            "rolling.yml",
            "--output",
            "json",
        ])
        .failure(1);
    let results = results(&events(&run));
    assert_eq!(
        results,
        [
            ("host01".to_owned(), "deployed".to_owned()),
            ("host02".to_owned(), "rolled_back".to_owned()),
            ("host03".to_owned(), "deployed".to_owned()),
            ("host04".to_owned(), "deployed".to_owned()),
        ]
    );
    assert_eq!(fleet.live(3).as_deref(), Some(branch.as_str()));
    assert_eq!(fleet.live(1).as_deref(), Some(master.as_str()));
}

#[test]
fn limit_selects_hosts_groups_and_globs() {
    let fleet = Fleet::start(4);
    let s = &fleet.sandbox;
    let planned = |pattern: &str| -> Vec<String> {
        let run = s
            .wptdeploy(&["staging", "--check", "--limit", pattern, "--output", "json"])
            .success();
        let started = events(&run)
            .into_iter()
            .find(|e| e["event"] == "play_started")
            .unwrap();
        started["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(planned("host03"), ["host03"]);
    assert_eq!(planned("canary"), ["host01", "host02"]);
    assert_eq!(planned("canary,!host01"), ["host02"]);
    assert_eq!(planned("web:!canary"), ["host03", "host04"]);
    assert_eq!(planned("*3,host04"), ["host03", "host04"]);
    assert_eq!(planned("web,&canary,!host02"), ["host01"]);
    s.wptdeploy(&["staging", "--limit", "db*"])
        .failure(2)
        .stderr_has("--limit `db*` selects no host of staging")
        .stderr_has("its hosts: host01, host02, host03, host04");
    assert!(fleet.live(0).is_none(), "nothing was deployed");
}

#[test]
fn a_host_cut_off_mid_step_is_unreachable_and_the_others_finish() {
    let fleet = Fleet::start(1);
    let s = &fleet.sandbox;
    let cut = crate::support::netns::NetnsHost::start(s, "cut01");
    let up = &fleet.hosts[0];
    let line = |name: &str, address: &str, port: u16, nap: u32| {
        format!(
            "{name} ansible_host={address} ansible_port={port} ansible_user={} ansible_ssh_private_key_file={} nap={nap}\n",
            s.user,
            s.key.display()
        )
    };
    std::fs::write(
        s.inventory.join("staging"),
        format!(
            "[staging]\n{}{}",
            line(&up.name, &up.address, up.port, 2),
            line(&cut.name, &cut.address, cut.port, 30)
        ),
    )
    .unwrap();
    let markers = s.dir.join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    std::fs::create_dir_all(s.dir.join("playbooks")).unwrap();
    std::fs::write(
        s.dir.join("playbooks/cut.yml"),
        format!(
            "steps:\n  - name: prepare\n    run: \"true\"\n  - name: long step\n    run: touch {}/{{{{ inventory_hostname }}}}; sleep {{{{ nap }}}}\n  - name: after\n    run: \"true\"\n",
            markers.display()
        ),
    )
    .unwrap();
    let mut child = s
        .command(crate::support::bin())
        .args([
            // No --transport: the suite's second pass runs this over openssh.
            "staging",
            "--playbook",
            "cut.yml",
            "--connect-timeout",
            "3s",
            "--output",
            "json",
            "--no-progress",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !markers.join(&cut.name).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the long step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cut.cut();
    // Never a hang: the host stops answering keepalives within seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("wptdeploy still waiting for the cut-off host after 60s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let run = crate::support::Run::from(child.wait_with_output().unwrap()).failure(1);
    let events = events(&run);
    let stderr = &run.stderr;
    assert_eq!(
        results(&events),
        [
            ("cut01".to_owned(), "unreachable".to_owned()),
            ("host01".to_owned(), "deployed".to_owned()),
        ],
        "{stderr}"
    );
    let failed = events
        .iter()
        .find(|e| e["event"] == "host_finished" && e["summary"]["host"] == "cut01")
        .unwrap();
    let error = failed["summary"]["error"].as_str().unwrap();
    assert!(
        error.contains("unreachable during step `long step`"),
        "{error}"
    );
}

#[test]
fn exec_runs_in_the_live_release_with_the_virtualenv_on_every_host() {
    let fleet = Fleet::start(2);
    let s = &fleet.sandbox;
    // The app's environment, per host.
    s.write_inventory(&[("app_env", "{\"APP_MODE\": \"on-{{ inventory_hostname }}\"}")]);
    fleet.write_inventory(&|_| String::new());
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    // Options before `--`: what follows it is the command, words as given.
    let exec = |words: &[&str]| {
        crate::support::Run::from_command(
            s.command(crate::support::bin())
                .args(["--no-progress", "exec", "staging", "--"])
                .args(words),
        )
    };
    let run = exec(&[
        "sh",
        "-c",
        "echo \"in $(pwd -P) with ${VIRTUAL_ENV:-no venv} as ${APP_MODE:-nothing}\"; echo '{{ not a template }}'",
    ])
    .success();
    for (index, host) in fleet.hosts.iter().enumerate() {
        let release = host.base_path.join(fleet.live(index).unwrap());
        // The live release's own environment, in the store.
        let venv = std::fs::read_link(release.join(".venv")).unwrap();
        assert!(
            venv.starts_with(host.environment_store()),
            "{}",
            venv.display()
        );
        let said = format!(
            "[{}]   | in {} with {} as on-{}",
            host.name,
            release.display(),
            // Where the environment was built (a link in the store may lead there).
            std::fs::canonicalize(&venv).unwrap().display(),
            host.name
        );
        assert!(run.stderr.contains(&said), "{said}\n{}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("[{}]   | {{{{ not a template }}}}", host.name)),
            "the command's words are data, never templates: {}",
            run.stderr
        );
    }
    // A command that fails on one host fails that host, and the run.
    let first = &fleet.hosts[0].name;
    let failed = exec(&[
        "sh",
        "-c",
        &format!("pwd -P | grep -q {}", fleet.hosts[1].name),
    ])
    .failure(1);
    assert!(
        failed
            .stderr
            .contains(&format!("failed on 1 of 2 host(s): {first}: step `sh -c")),
        "{}",
        failed.stderr
    );
}

/// `status` and `releases` read every host in one run each, merge what the
/// hosts agree on and say where they differ.
#[test]
fn status_and_releases_say_where_hosts_disagree_on_the_live_release() {
    let fleet = Fleet::start(2);
    let s = &fleet.sandbox;
    let master = s.sha("master");
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let next = s.new_branch("next");
    s.wptdeploy(&["staging", "--commit", "next", "--limit", "host01"])
        .success();

    let status = s.wptdeploy(&["status", "staging"]).success();
    assert!(
        status.stderr.contains(&format!(
            "the hosts disagree on the live release: {} on host02; {} on host01",
            &master[..12],
            &next[..12]
        )) || status.stderr.contains(&format!(
            "the hosts disagree on the live release: {} on host01; {} on host02",
            &next[..12],
            &master[..12]
        )),
        "{}\n{}",
        status.stdout,
        status.stderr
    );
    let rows: Vec<&str> = status.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{}", status.stdout);
    assert!(
        rows[1].starts_with("host01") && rows[1].contains(&next[..12]),
        "{}",
        status.stdout
    );
    assert!(
        rows[2].starts_with("host02") && rows[2].contains(&master[..12]),
        "{}",
        status.stdout
    );

    let releases = s.wptdeploy(&["releases", "staging"]).success();
    let row = |sha: &str| {
        releases
            .stdout
            .lines()
            .find(|l| l.starts_with(&sha[..12]))
            .unwrap_or_else(|| panic!("no row for {sha}:\n{}", releases.stdout))
            .to_owned()
    };
    assert!(
        row(&next).contains("live (not on host02)"),
        "{}",
        releases.stdout
    );
    assert!(
        row(&master).contains("live on host02; previous on host01")
            || row(&master).contains("previous on host01; live on host02"),
        "{}",
        releases.stdout
    );
}

/// `logs` prints each host's log lines prefixed by the host; `-f` follows
/// them (a line written later shows up) until Ctrl-C.
#[test]
fn logs_come_from_every_host_prefixed_and_follow_until_interrupted() {
    let fleet = Fleet::start(2);
    let s = &fleet.sandbox;
    s.write_inventory(&[("logs_files", "[\"{{ base_path }}/app.log\"]")]);
    fleet.write_inventory(&|_| String::new());
    for host in &fleet.hosts {
        std::fs::create_dir_all(&host.base_path).unwrap();
        std::fs::write(
            host.base_path.join("app.log"),
            format!("old line of {}\nlast line of {}\n", host.name, host.name),
        )
        .unwrap();
    }
    let run = s.wptdeploy(&["logs", "staging", "-n", "1"]).success();
    for host in &fleet.hosts {
        let said = format!("[{}]   | last line of {}", host.name, host.name);
        assert!(run.stderr.contains(&said), "{said}\n{}", run.stderr);
        assert!(
            !run.stderr.contains(&format!("old line of {}", host.name)),
            "{}",
            run.stderr
        );
    }

    let mut follow = s
        .command(crate::support::bin())
        .args(["--no-progress", "logs", "staging", "-f", "-n", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(fleet.hosts[0].base_path.join("app.log"))
        .unwrap();
    std::io::Write::write_all(&mut log, b"a new line\n").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &follow.id().to_string()])
        .status();
    let started = std::time::Instant::now();
    while follow.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "logs -f did not end on Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = follow.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("[{}]   | a new line", fleet.hosts[0].name)),
        "{stderr}"
    );
    // Ctrl-C is how a person stops following: it ends well, quietly.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("error:")
            && !stderr.contains("locks were released")
            && !stderr.contains("INTERRUPTED"),
        "{stderr}"
    );
}

#[test]
fn a_fleet_that_meets_the_same_thing_hears_it_once() {
    // Nothing checks the new release on any host: each ends `deployed
    // (unchecked)`, and the why is said once for the run, not per host.
    let fleet = Fleet::start(3);
    let run = fleet
        .sandbox
        .wptdeploy(&[
            "staging",
            "--commit",
            "master",
            "-e",
            "healthcheck_command=",
            "-e",
            "wsgi_app=",
        ])
        .success();
    let said = &run.stderr;
    assert_eq!(
        said.matches("nothing saw the new release work").count(),
        1,
        "{said}"
    );
    assert_eq!(said.matches("set `wsgi_app`").count(), 1, "{said}");
    let unchecked_rows = said
        .lines()
        .filter(|l| l.starts_with("host") && l.contains("deployed (unchecked)"))
        .count();
    assert_eq!(unchecked_rows, 3, "{said}");
}
