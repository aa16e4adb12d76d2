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

/// How a failure whose command just exited non-zero starts.
const EXITED: &str = "exited with status ";

/// The exit status a failure's message says its command exited with.
pub fn exit_status(message: &str) -> Option<i32> {
    let rest = &message[message.find(EXITED)? + EXITED.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// "there is no user `USER` on the host", with the commands that make it:
/// one wording whichever tool found the user missing (sudo, `id`, `chown`).
fn no_such_user(user: &str, said: &str) -> StepFailure {
    StepFailure {
        message: format!("there is no user `{user}` on the host{said}"),
        hints: vec![
            format!(
                "create it: `wptdeploy setup ENV` makes it with the rest of what a deploy needs, or by hand: `sudo useradd --system --user-group --shell /usr/sbin/nologin {user}`"
            ),
            "or set `app_user` to a user that exists".into(),
        ],
    }
}

/// The user `id` or `chown` said does not exist (`id: 'www': no such
/// user`, `chown: invalid user: 'www:www'`), in either kind of quotes.
fn missing_user(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|line| {
        let named = line
            .strip_suffix(": no such user")
            .and_then(|l| l.strip_prefix("id: "))
            .or_else(|| line.split_once("invalid user: ").map(|(_, rest)| rest))?;
        let name = named.trim_matches(|c| matches!(c, '\'' | '‘' | '’' | '"'));
        let user = name.split(':').next().unwrap_or(name);
        (!user.is_empty()).then(|| user.to_owned())
    })
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
            return no_such_user(user, &said);
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
    if let Some(user) = missing_user(stderr) {
        return no_such_user(&user, "");
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
        None => format!("{EXITED}{}", output.exit_code),
    };
    StepFailure {
        message: format!("{what}{said}"),
        hints: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{exit_status, missing_user};

    #[test]
    fn the_exit_status_is_read_back_from_the_message() {
        assert_eq!(
            exit_status("step `x` exited with status 3:\n  err"),
            Some(3)
        );
        assert_eq!(exit_status("exited with status 127"), Some(127));
        assert_eq!(exit_status("failed: the lock is held"), None);
    }

    #[test]
    fn a_missing_user_is_read_from_id_and_chown_in_either_quotes() {
        assert_eq!(
            missing_user("id: 'www': no such user").as_deref(),
            Some("www")
        );
        assert_eq!(
            missing_user("x\nid: ‘notes’: no such user\n").as_deref(),
            Some("notes")
        );
        assert_eq!(
            missing_user("chown: invalid user: ‘www:www’").as_deref(),
            Some("www")
        );
        assert_eq!(missing_user("id: 'www': something else"), None);
    }
}
