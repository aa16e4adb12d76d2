//! Telling others about a run that changes an environment: `notify_webhook`
//! (a JSON POST) and `notify_command` (a command on this machine, given the
//! same JSON on its standard input), once when the run starts changing hosts
//! and once when it ends. A notification that fails is a warning, never the
//! run's failure; the webhook's address (often a token) is never printed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::report::run::Ending;
use crate::report::{HostResult, HostSummary};

/// How long a webhook or a command may take before it is given up on.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where a run's notifications go, and what every one of them says.
#[derive(Debug, Clone)]
pub struct Notifier {
    webhook: Option<String>,
    command: Option<String>,
    /// The fields every notification carries: environment, command, commit, who.
    about: Value,
    started: Instant,
}

/// Who runs a change, as notifications and the history say.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// The environment.
    pub env: &'a str,
    /// The command line, secrets masked.
    pub command: &'a str,
    /// The ref asked for.
    pub commit: &'a str,
    /// The commit it names, when known before the hosts are asked.
    pub sha: Option<&'a str>,
    /// The hosts, in inventory order.
    pub hosts: Vec<&'a str>,
    /// `user@machine`.
    pub by: &'a str,
    /// The git identity (`Name <email>`), if set.
    pub git: &'a str,
}

impl Notifier {
    /// A notifier for `run`, if either `webhook` or `command` is set.
    pub fn new(webhook: String, command: String, run: &Run<'_>) -> Option<Self> {
        let given = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let (webhook, command) = (given(webhook), given(command));
        if webhook.is_none() && command.is_none() {
            return None;
        }
        Some(Notifier {
            webhook,
            command,
            about: json!({
                "env": run.env,
                "command": run.command,
                "commit": run.commit,
                "sha": run.sha,
                "hosts": run.hosts,
                "by": run.by,
                "git": run.git,
            }),
            started: Instant::now(),
        })
    }

    /// Says the run started changing hosts; what failed to be told, as warnings.
    pub async fn started(&self) -> Vec<String> {
        self.send(self.message("started", &json!({}))).await
    }

    /// Says how the run ended (`succeeded`, `rolled_back` when a host went
    /// back to its previous release, or `failed`), with each host's result
    /// and the error; what failed to be told, as warnings.
    pub async fn finished(&self, ending: &Ending, hosts: &[HostSummary]) -> Vec<String> {
        let event = if ending.exit_code == 0 {
            "succeeded"
        } else if hosts
            .iter()
            .any(|h| matches!(h.result, HostResult::RolledBack))
        {
            "rolled_back"
        } else {
            "failed"
        };
        let hosts: Vec<Value> = hosts
            .iter()
            .map(|h| json!({ "host": h.host, "result": h.result, "release": h.release }))
            .collect();
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.send(self.message(
            event,
            &json!({
                "ms": ms,
                "results": hosts,
                "error": ending.error,
                "hints": ending.hints,
            }),
        ))
        .await
    }

    /// `{"event": ..., "env": ..., ...}`: the common fields and `more`.
    fn message(&self, event: &str, more: &Value) -> Value {
        let mut message = json!({ "event": event, "tool": "wptdeploy" });
        for fields in [&self.about, more] {
            if let (Some(message), Some(fields)) = (message.as_object_mut(), fields.as_object()) {
                message.extend(fields.clone());
            }
        }
        message
    }

    async fn send(&self, message: Value) -> Vec<String> {
        let body = message.to_string();
        let mut warnings = Vec::new();
        if let Some(url) = &self.webhook
            && let Err(why) = post(url, body.clone()).await
        {
            warnings.push(format!(
                "notify_webhook ({}) was not told the run {}: {why}",
                site(url),
                message["event"].as_str().unwrap_or_default()
            ));
        }
        if let Some(command) = &self.command
            && let Err(why) = run_command(command, &body).await
        {
            warnings.push(format!(
                "notify_command was not told the run {}: {why}",
                message["event"].as_str().unwrap_or_default()
            ));
        }
        warnings
    }
}

/// The scheme and host of `url`, all that is said of it (its path and
/// query often hold a token).
fn site(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if scheme.is_empty() {
        "an address with no scheme".to_owned()
    } else {
        format!("{scheme}://{host}")
    }
}

/// POSTs `body` as JSON to `url`; any answer but 2xx is a failure.
async fn post(url: &str, body: String) -> Result<(), String> {
    let url = url.to_owned();
    let sent = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("wptdeploy/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
            .map(drop)
    })
    .await;
    match sent {
        Ok(Ok(())) => Ok(()),
        Ok(Err(ureq::Error::StatusCode(code))) => Err(format!("it answered HTTP {code}")),
        Ok(Err(ureq::Error::Timeout(_))) => Err(format!("no answer in {}s", TIMEOUT.as_secs())),
        // The error's text may quote the address: only its kind is said.
        Ok(Err(error)) => Err(describe(&error)),
        Err(_) => Err("the request was abandoned".into()),
    }
}

/// What went wrong with a request, without the address it went to.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(io) => format!("could not reach it ({})", io.kind()),
        ureq::Error::HostNotFound => "its host name does not resolve".into(),
        ureq::Error::ConnectionFailed => "could not connect to it".into(),
        ureq::Error::BadUri(_) => "it is not a valid URL".into(),
        ureq::Error::Tls(_) => "the TLS handshake failed".into(),
        _ => "the request failed".into(),
    }
}

/// Runs `command` with `sh -c` here, `body` on its standard input; a
/// non-zero exit, or no end within the timeout, is a failure.
async fn run_command(command: &str, body: &str) -> Result<(), String> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", command])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start `sh` ({e})"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is fine.
        let _ = stdin.write_all(body.as_bytes()).await;
    }
    match tokio::time::timeout(TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("it exited with {status}")),
        Ok(Err(e)) => Err(format!("it could not be waited for ({e})")),
        Err(_) => Err(format!("it did not end in {}s", TIMEOUT.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_scheme_and_host_of_a_webhook_are_said() {
        assert_eq!(
            site("https://hooks.slack.com/services/T000/B000/XXXX?token=s3cret"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            site("http://user:pass@127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(site("hooks.example/x"), "an address with no scheme");
    }

    #[tokio::test]
    async fn a_command_gets_the_message_on_its_input_and_its_failure_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("told.json");
        let run = Run {
            env: "staging",
            command: "wptdeploy staging",
            commit: "main",
            sha: None,
            hosts: vec!["web1"],
            by: "me@here",
            git: "",
        };
        let told = Notifier::new(String::new(), format!("cat > {}", out.display()), &run).unwrap();
        assert!(told.started().await.is_empty());
        let message: Value = serde_json::from_str(&fs_err::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(message["event"], "started");
        assert_eq!(message["env"], "staging");
        assert_eq!(message["hosts"][0], "web1");
        let failing = Notifier::new(String::new(), "exit 3".into(), &run).unwrap();
        let warnings = failing.started().await;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("exit status: 3"), "{warnings:?}");
        assert!(Notifier::new(" ".into(), String::new(), &run).is_none());
    }
}
