//! The record each host keeps of the runs that changed it, and the
//! commands that read what the hosts have: `history`, `releases`, `status`.

use crate::support::{Sandbox, events, sandbox_checking_the_app_with_database};

/// The records of the sandbox host's history file, oldest first.
fn records(s: &Sandbox) -> Vec<serde_json::Value> {
    let path = s.base_path.join(".wptdeploy/history.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn every_run_that_changes_the_host_is_recorded_with_its_fields_and_no_secret() {
    let (s, pg) = sandbox_checking_the_app_with_database(&[
        ("healthcheck_retries", "1"),
        ("healthcheck_delay", "0"),
    ]);
    let master = s.sha("master");
    let migration = s.sha("feature/with-migration");
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    s.wptdeploy(&[
        "staging",
        "--commit",
        "feature/with-migration",
        "--migrate",
        "-e",
        "db_password=s3ntinel-Pa55",
    ])
    .success();
    // Nothing changes: no record.
    s.wptdeploy(&["staging", "--commit", "master", "--check"])
        .success();
    // The broken app fails its health check after the switch: rolled back.
    s.wptdeploy(&["staging", "--commit", "broken-app", "--no-migrate"])
        .failure(1);
    let all = records(&s);
    assert_eq!(all.len(), 3, "{all:#?}");
    let (first, migrated, bad) = (&all[0], &all[1], &all[2]);
    assert_eq!(first["result"], "deployed");
    assert_eq!(first["sha"], master.as_str());
    assert_eq!(first["ref"], "master");
    assert_eq!(first["host"], "sandbox-host");
    assert_eq!(first["env"], "staging");
    assert_eq!(first["db_before"], "", "an empty database: {first}");
    assert_eq!(first["db_after"], "735093c03092", "{first}");
    assert_eq!(
        first["migrations_applied"],
        serde_json::json!(["735093c03092"])
    );
    assert_eq!(first["schema"], "735093c03092", "{first}");
    assert_eq!(first["new_release"], true);
    assert!(first["by"].as_str().unwrap().contains('@'), "{first}");
    assert!(first["venv"].as_str().unwrap().len() == 16, "{first}");

    assert_eq!(migrated["result"], "deployed");
    assert_eq!(migrated["sha"], migration.as_str());
    assert_eq!(migrated["from"], master.as_str(), "{migrated}");
    assert_eq!(migrated["db_before"], "735093c03092");
    assert_eq!(migrated["db_after"], "4dafe3eac60e");
    assert_eq!(
        migrated["migrations_applied"],
        serde_json::json!(["4dafe3eac60e"])
    );
    let command = migrated["command"].as_str().unwrap();
    assert!(
        command.starts_with("wptdeploy staging --commit feature/with-migration --migrate"),
        "{command}"
    );
    assert!(command.contains("db_password=********"), "{command}");
    assert_eq!(migrated["healthy"], true);
    assert!(migrated["ms"].as_u64().unwrap() > 0);
    assert_eq!(pg.revision().as_deref(), Some("4dafe3eac60e"));

    assert_eq!(bad["result"], "rolled_back");
    assert_eq!(bad["healthy"], false, "{bad}");
    assert!(bad["error"].as_str().unwrap().contains("health"), "{bad}");
    let text = std::fs::read_to_string(s.base_path.join(".wptdeploy/history.jsonl")).unwrap();
    assert!(!text.contains("s3ntinel-Pa55"));
    assert!(!text.contains("sandbox-db-secret"));
}

#[test]
fn history_releases_and_status_show_what_the_host_has() {
    let (s, _pg) = sandbox_checking_the_app_with_database(&[
        ("healthcheck_retries", "1"),
        ("healthcheck_delay", "0"),
    ]);
    let master = s.sha("master");
    let migration = s.sha("feature/with-migration");
    let broken = s.sha("broken-app");
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    s.wptdeploy(&["staging", "--commit", "feature/with-migration", "--migrate"])
        .success();
    s.wptdeploy(&["staging", "--commit", "broken-app", "--no-migrate"])
        .failure(1);

    let history = s.wptdeploy(&["history", "staging"]).success();
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "a header and three runs:\n{}",
        history.stdout
    );
    assert!(lines[0].starts_with("when (UTC)"), "{}", history.stdout);
    assert!(
        lines[1].contains("rolled back"),
        "newest first:\n{}",
        history.stdout
    );
    assert!(
        lines[2].contains(&format!("{} -> {}", &master[..12], &migration[..12]))
            && lines[2].contains("735093c03092 -> 4dafe3eac60e"),
        "{}",
        history.stdout
    );
    assert!(
        history.stderr.is_empty(),
        "the steps are not shown: {}",
        history.stderr
    );
    let one = s.wptdeploy(&["history", "staging", "-n", "1"]).success();
    assert_eq!(one.stdout.lines().count(), 2, "{}", one.stdout);
    let json = s
        .wptdeploy(&["history", "staging", "--output", "json"])
        .success();
    let table = events(&json)
        .into_iter()
        .find(|e| e["event"] == "table")
        .unwrap();
    assert_eq!(table["data"]["history"].as_array().unwrap().len(), 3);

    let releases = s.wptdeploy(&["releases", "staging"]).success();
    let row = |sha: &str| {
        releases
            .stdout
            .lines()
            .find(|l| l.starts_with(&sha[..12]))
            .unwrap_or_else(|| panic!("no row for {sha}:\n{}", releases.stdout))
            .to_owned()
    };
    assert!(row(&migration).contains("live"), "{}", releases.stdout);
    assert!(
        row(&migration).contains("4dafe3eac60e"),
        "{}",
        releases.stdout
    );
    assert!(
        row(&migration).contains("feature/with-migration"),
        "{}",
        releases.stdout
    );
    assert!(row(&broken).contains("bad"), "{}", releases.stdout);
    assert!(row(&master).contains("735093c03092"), "{}", releases.stdout);

    let status = s.wptdeploy(&["status", "staging"]).success();
    assert!(
        status.stdout.contains("4dafe3eac60e (as the live release)"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("free"), "{}", status.stdout);
    // The code of master goes live without a downgrade: the database has drifted from it.
    s.wptdeploy(&["staging", "--commit", "master", "--no-migrate"])
        .success();
    let drifted = s.wptdeploy(&["status", "staging"]).success();
    assert!(
        drifted
            .stdout
            .contains("DRIFT: at 4dafe3eac60e, the live release expects 735093c03092"),
        "{}",
        drifted.stdout
    );
    // Its three reads go to the host in one write, and each result still
    // lands where it belongs: the releases, the history, the database.
    let json = s
        .wptdeploy(&["status", "staging", "--output", "json"])
        .success();
    let events = events(&json);
    let sent: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "sent_ahead")
        .collect();
    assert_eq!(sent.len(), 1, "{}", json.stdout);
    assert_eq!(sent[0]["with"], 1, "{}", json.stdout);
    assert_eq!(
        sent[0]["steps"],
        serde_json::json!([2, 3]),
        "{}",
        json.stdout
    );
    // A read says it read: `ok`, not `deployed`.
    let finished = events
        .iter()
        .find(|e| e["event"] == "host_finished")
        .unwrap();
    assert_eq!(finished["summary"]["result"], "ok", "{}", json.stdout);
    let table = events.iter().find(|e| e["event"] == "table").unwrap();
    let host = &table["data"]["status"][0];
    assert_eq!(host["live"], master.as_str(), "{}", json.stdout);
    assert_eq!(host["previous"], migration.as_str(), "{}", json.stdout);
    assert_eq!(host["lock"], "free", "{}", json.stdout);
    assert_eq!(host["drift"], true, "{}", json.stdout);
    assert!(
        host["free_kb"].as_u64().is_some_and(|kb| kb > 0),
        "{}",
        json.stdout
    );
}

/// `kill -9` of wptdeploy after the switch, while the new release's health
/// check runs: the host keeps the record of a run that never finished,
/// `status` and `history` say so, and the lock it left is named stale.
#[test]
fn a_run_killed_after_the_switch_is_said_never_finished_and_its_lock_stale() {
    let s = crate::support::sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let next = s.new_branch("slow-check");
    let mut child = s
        .command(crate::support::bin())
        .args(["staging", "--commit", "slow-check", "--no-progress"])
        .args(["-e", r#"{"healthcheck_command": "sleep 60"}"#])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while s.live_release().as_deref() != Some(next.as_str()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the new release never went live"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();

    let status = s.wptdeploy(&["status", "staging"]).success();
    assert!(
        status.stdout.contains("STALE: its holder, wptdeploy (pid"),
        "{}",
        status.stdout
    );
    assert!(
        status.stderr.contains(
            "never finished (killed, or its machine or connection lost): what it did is unknown and the live release was not checked"
        ),
        "{}",
        status.stderr
    );
    let history = s.wptdeploy(&["history", "staging"]).success();
    assert!(
        history
            .stdout
            .lines()
            .any(|l| l.contains("never finished") && l.contains("slow-check")),
        "{}",
        history.stdout
    );

    // Once unlocked, the next run moves that record into the log.
    s.wptdeploy(&["unlock", "staging", "--yes"]).success();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let results: Vec<String> = records(&s)
        .iter()
        .map(|r| r["result"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(results, ["deployed", "never_finished", "deployed"]);
    assert!(
        !s.base_path.join(".wptdeploy/history.jsonl.run").exists(),
        "a run that ended leaves no marker"
    );
}

/// Credentials inside URLs are secrets by their shape, whatever the
/// variable is called: never in the host's history, nor in any output.
#[test]
fn credentials_inside_urls_are_never_stored_or_shown() {
    let s = crate::support::sandbox();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let secrets = ["Tok3nInQuery99", "WebhookPath77", "pa55InUserinfo"];
    let extra = serde_json::json!({
        "notify_webhook": format!("http://{address}/services/T01/B02/WebhookPath77"),
        "status_page": format!("https://deploy:pa55InUserinfo@status.example.test/p?token=Tok3nInQuery99"),
    })
    .to_string();
    let runs = [
        s.wptdeploy(&["staging", "--commit", "master", "-v", "-e", &extra])
            .success(),
        s.wptdeploy(&[
            "staging", "--commit", "master", "--output", "json", "-e", &extra,
        ])
        .success(),
        s.wptdeploy(&["history", "staging"]).success(),
        s.wptdeploy(&["history", "staging", "--output", "json"])
            .success(),
    ];
    let stored = std::fs::read_to_string(s.base_path.join(".wptdeploy/history.jsonl")).unwrap();
    assert!(stored.contains("********"), "{stored}");
    for secret in secrets {
        assert!(
            !stored.contains(secret),
            "{secret} stored in the history: {stored}"
        );
        for run in &runs {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{secret} shown:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
}
