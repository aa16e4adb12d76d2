//! What a user or CI sees: JSON events, quiet runs, error lines.

use crate::support::sandbox;

#[test]
fn json_output_is_one_event_per_line_with_the_host_on_step_events() {
    let s = sandbox();
    let run = s
        .wptdeploy(&["staging", "--commit", "master", "--output", "json"])
        .success();
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    assert!(events.last().unwrap()["ok"].as_bool().unwrap());
    let finished: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .collect();
    assert!(
        finished.len() >= 10,
        "a deploy reports each of its steps: {kinds:?}"
    );
    for event in finished {
        assert_eq!(event["host"], "sandbox-host");
        assert!(event["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
    let summary = events
        .iter()
        .find(|e| e["event"] == "host_finished")
        .unwrap();
    assert_eq!(summary["summary"]["result"], "deployed");
    assert_eq!(summary["summary"]["release"], s.sha("master").as_str());
    assert!(
        run.stderr.is_empty(),
        "stderr stays quiet with --output json: {}",
        run.stderr
    );
}

#[test]
fn quiet_prints_nothing_on_success_and_the_error_on_failure() {
    let s = sandbox();
    let ok = s
        .wptdeploy(&["staging", "--commit", "master", "-q"])
        .success();
    assert_eq!((ok.stdout.as_str(), ok.stderr.as_str()), ("", ""));
    let failed = s
        .wptdeploy(&["staging", "--commit", "broken-build", "-q"])
        .failure(1);
    let errors: Vec<&str> = failed
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {}", failed.stderr);
    assert!(errors[0].starts_with("error: deploy to staging failed on 1 of 1 host(s): sandbox-host: step `build the release's virtualenv"), "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("FAILED  build the release's virtualenv"),
        "the failed step still shows: {}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("requirements file"),
        "with its output: {}",
        failed.stderr
    );
    assert!(
        !failed.stderr.contains("changed"),
        "no other step lines when quiet: {}",
        failed.stderr
    );
}

/// `--list-steps | head` is how people look at a playbook: a reader that
/// stops early (here at once) ends the listing quietly, never in a panic.
#[test]
fn a_closed_stdout_ends_the_step_list_quietly() {
    let s = crate::support::sandbox();
    let run =
        crate::support::Run::from_command(s.command(std::path::Path::new("bash")).arg("-c").arg(
            format!(
                "'{}' staging --list-steps | true; echo \"exit=${{PIPESTATUS[0]}}\"",
                crate::support::bin().display()
            ),
        ));
    assert!(
        run.stdout.contains("exit=0"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// Runs `wptdeploy ARGS` against `s` with its standard output a pipe whose
/// reader has already gone (`| head` after `head` exited).
fn with_stdout_closed(s: &crate::support::Sandbox, args: &[&str]) -> crate::support::Run {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    crate::support::Run::from_command(
        s.command(crate::support::bin())
            .args(args)
            .arg("--no-progress")
            .stdout(writer),
    )
}

/// The suite's main commands with their standard output closed: none
/// panics; one that writes its result or events there stops as Ctrl-C would
/// (exit 141, as a shell reports SIGPIPE), switching nothing and keeping no
/// lock; one that writes only to stderr runs to the end.
#[test]
fn main_commands_with_stdout_closed_never_panic_and_never_leave_a_half_deploy() {
    let (s, _pg) = crate::support::sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let lock = s.base_path.join(".wptdeploy-lock");
    let cases: &[(&[&str], i32)] = &[
        (&["staging", "--list-steps"], 0),
        (&["staging", "--commit", "master", "--check"], 0),
        (&["staging", "--commit", "master"], 0),
        (&["migration", "status", "staging"], 0),
        (&["unlock", "staging"], 0),
        (&["verify", "staging", "--table", "pull_request"], 141),
        (
            &[
                "staging",
                "--commit",
                "feature/with-migration",
                "--output",
                "json",
            ],
            141,
        ),
        (
            &[
                "staging",
                "--commit",
                "feature/with-migration",
                "--migrate",
                "--output",
                "json",
            ],
            141,
        ),
        (
            &[
                "staging", "--commit", "master", "--check", "--output", "json",
            ],
            141,
        ),
    ];
    for (args, code) in cases {
        let run = with_stdout_closed(&s, args);
        let shown = format!(
            "wptdeploy {}: exit {}\n{}",
            args.join(" "),
            run.code,
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{shown}");
        assert_eq!(run.code, *code, "{shown}");
        if *code == 141 {
            assert!(
                run.stderr.contains("the output was closed"),
                "says why it stopped: {shown}"
            );
        }
        assert!(!lock.exists(), "no lock left: {shown}");
        assert_eq!(s.live_release(), Some(s.sha("master")), "{shown}");
    }
}

/// Remote output may carry terminal control sequences (colours, a title, a
/// screen clear): they are shown as escapes, in the output and in the error.
#[test]
fn control_sequences_in_remote_output_are_shown_not_obeyed() {
    let s = sandbox();
    let dir = s.dir.join("my-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ansi.yml"),
        "steps:\n  - name: paint\n    run: printf '\\033]0;retitled\\007\\033[2Jcleared\\n' >&2; exit 1\n",
    )
    .unwrap();
    let shown = r"\x1b]0;retitled\x07\x1b[2Jcleared";
    for verbose in [true, false] {
        let run = crate::support::Run::from_command(
            s.command(crate::support::bin())
                .args(["staging", "--no-progress", "--playbook", "ansi.yml"])
                .args(if verbose { &["-v"][..] } else { &[] })
                .arg("--playbooks")
                .arg(&dir),
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'),
            "no control character reaches the terminal: {:?}",
            run.stderr
        );
        // With -v the output line shows it; without, the failure's tail does.
        assert!(run.stderr.contains(shown), "{}", run.stderr);
    }
}

/// Every line `--output json` prints is valid against docs/json-schema.json:
/// a deploy that succeeds, one that fails on its host, one that fails on
/// its input before contacting anything; each is framed by `run_started`
/// and `run_finished`, which carries the hosts' results and the error.
#[test]
fn json_events_follow_the_documented_schema_in_success_failure_and_input_error() {
    // A release whose app does not load is found by the health check that loads it.
    let s = crate::support::sandbox_checking_the_app();
    let runs = [
        s.wptdeploy(&["staging", "--commit", "master", "--output", "json", "-v"])
            .success(),
        s.wptdeploy(&["staging", "--commit", "broken-build", "--output", "json"])
            .failure(1),
        s.wptdeploy(&["stagin", "--output", "json"]).failure(2),
    ];
    for run in &runs {
        let events = crate::support::events(run);
        let problems = crate::support::sandbox::schema_problems(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-schema.json"),
            &run.stdout,
        );
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(events.first().unwrap()["event"], "run_started");
        assert_eq!(events.first().unwrap()["command"], "deploy");
        assert_eq!(events.last().unwrap()["event"], "run_finished");
    }
    let ok = crate::support::events(&runs[0]);
    let end = ok.last().unwrap();
    assert_eq!(end["exit_code"], 0);
    assert_eq!(end["hosts"][0]["result"], "deployed");
    assert_eq!(end["hosts"][0]["release"], s.sha("master").as_str());
    assert!(
        ok.iter().any(|e| e["event"] == "step_output"),
        "-v streams output"
    );
    let host_finished = ok.iter().find(|e| e["event"] == "host_finished").unwrap();
    assert_eq!(host_finished["host"], "sandbox-host");

    let failed = crate::support::events(&runs[1]);
    let end = failed.last().unwrap();
    assert_eq!(
        (end["ok"].as_bool(), end["exit_code"].as_i64()),
        (Some(false), Some(1))
    );
    assert_eq!(end["hosts"][0]["result"], "failed");
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .starts_with("deploy to staging failed on 1 of 1 host(s)"),
        "{end}"
    );
    assert!(
        !end["hosts"][0]["hints"].as_array().unwrap().is_empty()
            || !end["hints"].as_array().unwrap().is_empty()
    );
    // Nothing is "shown above" in JSON: a failure's last lines are in the
    // host's event, and the hint says so.
    let unhealthy = s
        .wptdeploy(&["staging", "--commit", "broken-app", "--output", "json"])
        .failure(1);
    let end = crate::support::events(&unhealthy).pop().unwrap();
    let hints = end["hints"].to_string();
    assert!(
        !hints.contains("shown above") && hints.contains("`host_finished` event"),
        "{end}"
    );

    let input = crate::support::events(&runs[2]);
    assert_eq!(input.len(), 2, "nothing but the frame: {input:?}");
    let end = &input[1];
    assert_eq!(end["exit_code"], 2);
    assert_eq!(end["hosts"], serde_json::json!([]));
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .contains("environment `stagin`"),
        "{end}"
    );
    assert!(
        end["hints"][0]
            .as_str()
            .unwrap()
            .contains("did you mean `staging`?"),
        "{end}"
    );
}

/// In GitHub Actions (`GITHUB_ACTIONS=true`), a failure is also an `::error`
/// annotation per failed host, and the outcome is appended to the step
/// summary as Markdown; without it, neither appears.
#[test]
fn github_actions_get_annotations_and_a_step_summary() {
    let s = sandbox();
    let summary = s.dir.join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let failed = crate::support::Run::from_command(
        s.command(crate::support::bin())
            .args(["staging", "--commit", "broken-build", "--output", "json"])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary),
    );
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let annotation = failed
        .stderr
        .lines()
        .find(|l| l.starts_with("::error title=wptdeploy deploy on sandbox-host::"))
        .unwrap_or_else(|| panic!("no annotation: {}", failed.stderr));
    assert!(
        annotation.contains("build the release's virtualenv"),
        "{annotation}"
    );
    assert!(!annotation.contains('\r'));
    assert!(
        crate::support::events(&failed)
            .iter()
            .all(|e| e["event"].is_string()),
        "stdout stays JSON"
    );
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(
        markdown.starts_with("earlier step\n### wptdeploy deploy: failed"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| sandbox-host | **FAILED** |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("**error:** deploy to staging failed"),
        "{markdown}"
    );

    let plain = crate::support::Run::from_command(
        s.command(crate::support::bin())
            .args(["staging", "--commit", "broken-build"])
            .env_remove("GITHUB_ACTIONS"),
    );
    assert_eq!(plain.code, 1);
    assert!(!plain.stderr.contains("::error"), "{}", plain.stderr);
}

/// Colour: on a terminal by default, off under `NO_COLOR`; off in a pipe
/// unless `--color always` or `CLICOLOR_FORCE`; `--color never` wins on a
/// terminal. Only wptdeploy's words are painted.
#[test]
fn colour_follows_the_terminal_no_color_clicolor_force_and_the_flag() {
    use crate::support::terminal::Terminal;
    let s = sandbox();
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let green_ok = "\u{1b}[32mok\u{1b}[0m";
    let on_terminal = |env: &[(&str, &str)], flags: &[&str]| {
        let mut command = s.command(crate::support::bin());
        command
            .args(["staging", "--commit", "master", "--no-progress"])
            .args(flags)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env("TERM", "xterm");
        for (k, v) in env {
            command.env(k, v);
        }
        let (ok, screen) = Terminal::start(&command).finish();
        assert!(ok, "{screen}");
        screen
    };
    let coloured = on_terminal(&[], &[]);
    assert!(coloured.contains(green_ok), "{coloured:?}");
    assert!(coloured.contains("\u{1b}[32mdeployed"), "{coloured:?}");
    for plain in [
        on_terminal(&[("NO_COLOR", "1")], &[]),
        on_terminal(&[], &["--color", "never"]),
    ] {
        assert!(!plain.contains('\u{1b}'), "{plain:?}");
        assert!(plain.contains("ok      look at what"), "{plain:?}");
    }
    let piped = |env: &[(&str, &str)], flags: &[&str]| {
        let mut command = s.command(crate::support::bin());
        command
            .args(["staging", "--commit", "master"])
            .args(flags)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            command.env(k, v);
        }
        let run = crate::support::Run::from_command(&mut command);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stderr
    };
    assert!(!piped(&[], &[]).contains('\u{1b}'));
    assert!(piped(&[], &["--color", "always"]).contains(green_ok));
    assert!(piped(&[("CLICOLOR_FORCE", "1")], &[]).contains(green_ok));
    assert!(!piped(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], &[]).contains('\u{1b}'));
}
