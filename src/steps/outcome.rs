//! What a step did, or why it failed: read from its command's output.
//!
//! Builtin kinds report through lines of the form `wptdeploy.KEY=VALUE`
//! on standard output; a failure quotes the last lines of the rest.

use std::collections::BTreeMap;

use minijinja::Value;

use crate::transport::{Output, RemoteCommand};

/// What a step did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Whether the host changed.
    pub changed: bool,
    /// The value stored by `register:`.
    pub register: Option<Value>,
    /// A short note for the user (e.g. `removed 2 releases`).
    pub note: Option<String>,
    /// Columns read from the database, for the user to see.
    pub columns: Option<crate::migrations::columns::ColumnReport>,
    /// Things the user must look at (e.g. a migration's review).
    pub warnings: Vec<String>,
    /// The step saw the app work: a health check passed, or the new
    /// release answered (a run where no step did ends `deployed
    /// (unchecked)`).
    pub checked_app: bool,
    /// What a read step found, for the command to show (see
    /// [`crate::engine::HostSummary::data`]).
    pub data: Option<serde_json::Value>,
    /// Its probe found nothing to do (`ensure:` in place): `--check`
    /// reports it done, not planned.
    pub in_place: bool,
}

/// A step ran and failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StepFailure {
    /// What happened.
    pub message: String,
    /// What to do about it.
    pub hints: Vec<String>,
}

/// The `wptdeploy.KEY=VALUE` lines of a builtin step's output.
pub fn markers(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("wptdeploy."))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The last `n` lines of `text`, in order: what a failure message quotes.
pub(super) fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Whether what ran the command failed rather than the command: sudo
/// refused, or the step's timeout stopped it. [`failure`] explains those.
pub fn wrapper_failed(command: &RemoteCommand, output: &Output) -> bool {
    let sudo = command.become_user.is_some()
        && [
            "a password is required",
            "a terminal is required",
            "incorrect password",
            "unknown user",
            "sudo: not found",
        ]
        .iter()
        .any(|s| output.stderr.contains(s));
    output.exit_code != 0 && (sudo || (output.exit_code == 124 && command.timeout.is_some()))
}

/// Explains a non-zero exit, recognising sudo's and the timeout's own.
pub fn failure(command: &RemoteCommand, output: &Output) -> StepFailure {
    let stderr = output.stderr.trim();
    // What wptdeploy's own scripts say of a failure is the message; the
    // rest of the output is quoted after it.
    let ours: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("wptdeploy: "))
        .collect();
    let others: String = stderr
        .lines()
        .filter(|l| !l.starts_with("wptdeploy: "))
        .collect::<Vec<_>>()
        .join("\n");
    let tail = last_lines(if ours.is_empty() { stderr } else { &others }, 12);
    let said = if tail.is_empty() {
        String::new()
    } else {
        format!(":\n  {}", tail.join("\n  "))
    };
    if let Some(user) = &command.become_user {
        if stderr.contains("a password is required") || stderr.contains("a terminal is required") {
            return StepFailure {
                message: format!("sudo needs a password to run commands as `{user}`"),
                hints: vec![
                    "pass `-K` (`--ask-become-pass`) to type it once, or `--become-password-file FILE`".into(),
                    format!("or allow it without a password in sudoers: `LOGIN ALL=({user}) NOPASSWD: ALL`"),
                ],
            };
        }
        if stderr.contains("incorrect password")
            || stderr.contains("Sorry, try again")
            || stderr.contains("no password was provided")
        {
            return StepFailure {
                message: format!("sudo rejected the password given for becoming `{user}`"),
                hints: vec!["check the password; it is the login user's own sudo password".into()],
            };
        }
        if stderr.contains("unknown user") {
            return StepFailure {
                message: format!("there is no user `{user}` on the host{said}"),
                hints: vec!["set `app_user` to a user that exists, or create it".into()],
            };
        }
        if stderr.contains("sudo: not found") || stderr.contains("sudo: command not found") {
            return StepFailure {
                message: "sudo is not installed on the host".into(),
                hints: vec![format!(
                    "install sudo, or log in as `{user}` (`--user {user}`)"
                )],
            };
        }
    }
    if output.exit_code == 124 && command.timeout.is_some() {
        let secs = command.timeout.map_or(0, |t| t.as_secs());
        return StepFailure {
            message: format!("timed out after {secs}s and was stopped{said}"),
            hints: vec!["raise the step's `timeout:` in the playbook if it needs longer".into()],
        };
    }
    let what = match ours.last() {
        Some(line) => format!("failed: {line}"),
        None => format!("exited with status {}", output.exit_code),
    };
    StepFailure {
        message: format!("{what}{said}"),
        hints: Vec::new(),
    }
}
