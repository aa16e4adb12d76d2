//! What a whole run (one wptdeploy process) ended with, across its plays:
//! each host's last result, the frame of `--output json` (`run_started`,
//! `run_finished`), and, in GitHub Actions, annotations and a step summary.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{HostResult, HostSummary};

/// The version of the events' shape (docs/json.md, docs/json-schema.json):
/// in `run_started`, raised when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// The first line of every run: `{"event": "run_started", "schema": 1,
/// "version": ..., "command": "deploy"}`.
pub fn run_started(command: &str) -> Value {
    json!({
        "event": "run_started",
        "schema": SCHEMA_VERSION,
        "version": env!("CARGO_PKG_VERSION"),
        "command": command,
    })
}

/// How a run ended, its error and hints already masked.
pub struct Ending {
    /// The process's exit status.
    pub exit_code: i32,
    /// Its wall time.
    pub ms: u64,
    /// The error, as `error:` prints it.
    pub error: Option<String>,
    /// Its hints.
    pub hints: Vec<String>,
    /// Each host's last summary across the run's plays, secrets masked.
    pub hosts: Vec<HostSummary>,
}

/// The last line of every run, an input error's too: how it ended, each
/// host's last result, and the error with its hints.
pub fn run_finished(ending: &Ending) -> Value {
    let hosts: Vec<Value> = ending
        .hosts
        .iter()
        .map(|s| {
            json!({
                "host": s.host,
                "result": s.result,
                "commit": s.commit,
                "release": s.release,
                "error": s.error,
                "hints": s.hints,
            })
        })
        .collect();
    json!({
        "event": "run_finished",
        "ok": ending.exit_code == 0,
        "exit_code": ending.exit_code,
        "ms": ending.ms,
        "hosts": hosts,
        "error": ending.error,
        "hints": ending.hints,
    })
}

/// GitHub Actions' `::error` lines for a failed run (one per failed host,
/// else one for the run), for stderr, which the runner reads too.
pub fn github_annotations(command: &str, ending: &Ending) -> Vec<String> {
    let failed: Vec<HostSummary> = ending
        .hosts
        .iter()
        .filter(|s| !s.succeeded())
        .cloned()
        .collect();
    if ending.exit_code == 0 {
        return Vec::new();
    }
    if failed.is_empty() {
        let error = ending.error.clone().unwrap_or_default();
        return vec![format!(
            "::error title=wptdeploy {}::{}",
            escape_property(command),
            escape_data(&with_hints(&error, &ending.hints))
        )];
    }
    failed
        .iter()
        .map(|s| {
            format!(
                "::error title=wptdeploy {} on {}::{}",
                escape_property(command),
                escape_property(&s.host),
                escape_data(&with_hints(
                    s.error.as_deref().unwrap_or("failed"),
                    &s.hints
                ))
            )
        })
        .collect()
}

/// The Markdown for `$GITHUB_STEP_SUMMARY`: the outcome, a row per host,
/// the error and its hints.
pub fn github_summary(command: &str, ending: &Ending) -> String {
    let mut text = format!(
        "### wptdeploy {command}: {}\n\n",
        if ending.exit_code == 0 {
            "succeeded"
        } else {
            "failed"
        }
    );
    let hosts = &ending.hosts;
    if !hosts.is_empty() {
        text.push_str("| host | result | release | error |\n|---|---|---|---|\n");
        for s in hosts {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} |",
                cell(&s.host),
                result_word(s.result),
                s.release.as_deref().map_or("-", |r| &r[..r.len().min(12)]),
                cell(s.error.as_deref().unwrap_or(""))
            );
        }
        text.push('\n');
    }
    if let Some(error) = &ending.error {
        let _ = writeln!(text, "**error:** {}\n", cell(error));
        for hint in &ending.hints {
            let _ = writeln!(text, "- {}", cell(hint));
        }
    }
    let _ = writeln!(
        text,
        "\n{:.1}s, exit status {}",
        ending.ms as f64 / 1000.0,
        ending.exit_code
    );
    text
}

fn result_word(result: HostResult) -> &'static str {
    match result {
        HostResult::Deployed => "deployed",
        HostResult::Done => "ok",
        HostResult::DeployedUnchecked => "deployed (unchecked)",
        HostResult::Planned => "planned",
        HostResult::Failed => "**FAILED**",
        HostResult::RolledBack => "**ROLLED BACK**",
        HostResult::Interrupted => "interrupted",
        HostResult::Unreachable => "**UNREACHABLE**",
        HostResult::NotStarted => "not started",
    }
}

fn with_hints(error: &str, hints: &[String]) -> String {
    std::iter::once(error.to_owned())
        .chain(hints.iter().map(|h| format!("hint: {h}")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table cell: one line, no `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A workflow command's message (`%`, CR and LF escaped).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property (also `:` and `,`).
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(escape_data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
