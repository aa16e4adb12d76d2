//! What a person reads: the plain reporter's whole output for a deploy, its
//! plan, a rollback and an unlock, as snapshots (insta) with what changes
//! from run to run (paths, SHAs, times, ports) filtered out. A change to
//! any line of the output shows up as a snapshot diff to review.

use crate::support::{Sandbox, faithful_sandbox as sandbox};

/// Runs insta's assertion with the run-to-run details of `s` replaced.
fn assert_output(name: &str, s: &Sandbox, text: &str) {
    let dir = s.dir.display().to_string();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(r"\b[0-9a-f]{16}\b", "[ENV]");
    settings.add_filter(&regex_escape(&dir), "[DIR]");
    let target = crate::support::sandbox::target_dir().display().to_string();
    settings.add_filter(&regex_escape(&target), "[TARGET]");
    settings.add_filter(&format!(r"\b{}\b", regex_escape(&s.user)), "[USER]");
    settings.add_filter(r"token=[a-z0-9]{24}", "token=[TOKEN]");
    settings.add_filter(r"pending\.[a-z0-9]{24}", "pending.[TOKEN]");
    settings.add_filter(r"who=[^ ]+", "who=[WHO]");
    settings.add_filter(
        r"pid=[0-9]+ machine=[^ ]+ boot=[^ ]+ pstart=[0-9]+",
        "[PROCESS]",
    );
    settings.add_filter(r"since .+? ago", "since [AGE] ago");
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[SHA]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[SHA12]");
    // A right-aligned time column: its padding depends on the time's width.
    settings.add_filter(r" {2,}\d+(\.\d+)?(ms|s)\b", "  [TIME]");
    settings.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[TIME]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[NOW]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn a_deploy_its_plan_and_a_redeploy_read_so() {
    let s = sandbox();
    let plan = s
        .wptdeploy(&["staging", "--commit", "master", "--check"])
        .success();
    assert_output("plan_of_a_first_deploy", &s, &plan.stderr);
    let deploy = s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert_output("first_deploy", &s, &deploy.stderr);
    let again = s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert_output("redeploy_of_the_live_release", &s, &again.stderr);
}

#[test]
fn a_rollback_reads_so() {
    let s = sandbox();
    s.write_inventory(&[("healthcheck_retries", "1"), ("healthcheck_delay", "0")]);
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let run = s
        .wptdeploy(&["staging", "--commit", "broken-app"])
        .failure(1);
    assert_output("failed_health_check_rolls_back", &s, &run.stderr);
}

#[test]
fn an_unlock_reads_so() {
    let s = sandbox();
    let lock = crate::support::stale_lock(&s);
    let run = s.wptdeploy(&["unlock", "staging", "--yes"]).success();
    assert_output("unlock_of_a_stale_lock", &s, &run.stderr);
    assert!(!lock.exists());
    let again = s.wptdeploy(&["unlock", "staging", "--yes"]).success();
    assert_output("unlock_of_an_unlocked_host", &s, &again.stderr);
}
