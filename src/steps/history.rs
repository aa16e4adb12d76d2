//! `history:` an append-only log, on the host, of the runs that change it.
//!
//! ```yaml
//! - name: keep a history of this run
//!   history:
//!     path: "{{ history_path }}"
//!     record:                         # rendered when the run ends, however it ends
//!       ref: "{{ commit }}"
//!       sha: "{{ release.sha }}"
//!       migrations: "{{ migrations.pending }}"
//!   become: "{{ app_user }}"
//! - name: read the history
//!   history: {path: "{{ history_path }}", action: read, last: 20}
//! ```
//!
//! `action: record` (the default) checks that the log's directory can be
//! written, and asks the engine to append one JSON line when the run ends,
//! if it changed the host: the time, the host, who ran it (local user and
//! git identity), the whole command, the result and its error, the
//! duration, and the `record:` fields (a single `{{ expression }}` keeps its
//! type; what a skipped step would have registered is `null`). Every secret
//! is masked. The line is appended under a `flock`, in one write.
//!
//! `action: read` (read-only) returns the last `last` records (all when 0)
//! for the command to show.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::kind::{
    Effect, Prepared, Render, StepKind, Tmpl, check_literal, check_number, choice_error,
};
use super::outcome::{Outcome, StepFailure};
use crate::template::{TemplateError, Templates};
use crate::transport::{RemoteCommand, quote};

/// The `history:` kind.
pub struct HistoryKind;

/// What it can do.
const ACTIONS: [&str; 2] = ["record", "read"];

/// `history:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryArgs {
    /// The log file (JSON lines).
    pub path: Tmpl,
    /// `record` (default) or `read`.
    #[serde(default)]
    pub action: Option<Tmpl>,
    /// `record`: fields of the record, rendered when the run ends.
    #[serde(default)]
    pub record: BTreeMap<String, Tmpl>,
    /// `read`: how many of the newest records (0: all).
    #[serde(default)]
    pub last: Option<Tmpl>,
}

impl StepKind for HistoryKind {
    const KEY: &'static str = "history";
    const SUMMARY: &'static str = "append a record of the run to a log on the host when the run ends (`record`), or read it (`read`)";
    type Args = HistoryArgs;

    fn check(a: &HistoryArgs) -> Result<(), String> {
        check_literal(a.action.as_ref(), |v| action(v).map(|_| ()))?;
        check_number::<usize>(a.last.as_ref(), "history: last")
    }

    fn templates(a: &HistoryArgs) -> Vec<&str> {
        [&a.path]
            .into_iter()
            .chain(&a.action)
            .chain(a.record.values())
            .chain(&a.last)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &HistoryArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let path = render.text(&a.path)?;
        let action = action(&render.optional(a.action.as_ref())?).map_err(TemplateError::new)?;
        if action == "read" {
            let last: usize = render.number(a.last.as_ref(), 0, "history: last")?;
            let script = format!(
                "f={}\n[ -f \"$f\" ] || exit 0\n{}\n",
                quote(&path),
                if last == 0 {
                    "cat -- \"$f\"".to_owned()
                } else {
                    format!("tail -n {last} -- \"$f\"")
                }
            );
            return Ok(Prepared::new(render.command(script), read)
                .looking_only()
                .data_on_stdout());
        }
        let log = HistoryLog {
            path: path.clone(),
            record: a
                .record
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            become_user: render.become_user().map(str::to_owned),
        };
        let script = format!(
            "f={}\nd=$(dirname -- \"$f\")\nmkdir -p -- \"$d\" && [ -w \"$d\" ] && {{ [ ! -e \"$f\" ] || [ -w \"$f\" ]; }} || {{ echo \"wptdeploy: $(id -un) cannot write $f\" >&2; exit 3; }}\n",
            quote(&path)
        );
        Ok(Prepared::new(render.command(script), |ran| {
            ran.succeeded()?;
            Ok(Outcome::default())
        })
        .with_effect(Effect::Records(log)))
    }
}

/// `record` (also when empty) or `read`.
fn action(given: &str) -> Result<&'static str, String> {
    let given = given.trim();
    if given.is_empty() {
        return Ok("record");
    }
    ACTIONS
        .into_iter()
        .find(|a| *a == given)
        .ok_or_else(|| choice_error("history: action", &ACTIONS, given))
}

/// The records read, as `{"history": [...]}`; a line that is not JSON is
/// skipped with a warning.
fn read(ran: &super::kind::Ran<'_>) -> Result<Outcome, StepFailure> {
    ran.succeeded()?;
    let mut records = Vec::new();
    let mut bad = 0;
    for line in ran.output.stdout.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(record) if record.is_object() => records.push(record),
            _ => bad += 1,
        }
    }
    Ok(Outcome {
        data: Some(serde_json::json!({ "history": records })),
        warnings: if bad > 0 {
            vec![format!(
                "skipped {bad} line(s) of the history that are not records"
            )]
        } else {
            Vec::new()
        },
        ..Outcome::default()
    })
}

/// A log the engine appends a record to when the run ends.
#[derive(Debug, Clone)]
pub struct HistoryLog {
    /// The file.
    pub path: String,
    /// Field name and template, rendered when the run ends.
    pub record: Vec<(String, String)>,
    /// Who writes it.
    pub become_user: Option<String>,
}

/// What the engine knows of a run, for its record.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    /// When it started (RFC 3339).
    pub time: &'a str,
    /// The inventory host.
    pub host: &'a str,
    /// The environment.
    pub env: &'a str,
    /// `user@machine`.
    pub by: &'a str,
    /// The local git identity (`Name <email>`), if any.
    pub git: &'a str,
    /// The whole command line, secrets masked.
    pub command: &'a str,
    /// `deployed`, `rolled back`, `failed`, `interrupted`, ...
    pub result: &'a str,
    /// The failure, if any.
    pub error: Option<&'a str>,
    /// How long it took.
    pub ms: u64,
}

impl HistoryLog {
    /// The record, one line of JSON: the facts, then the fields, with
    /// every secret masked.
    pub fn line(
        &self,
        templates: &Templates,
        ctx: &minijinja::Value,
        facts: &RunFacts<'_>,
        secrets: &[String],
    ) -> String {
        let mut record = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            record.insert(k.to_owned(), v);
        };
        put("v", 1.into());
        put("time", facts.time.into());
        put("host", facts.host.into());
        put("env", facts.env.into());
        put("by", facts.by.into());
        put(
            "git",
            if facts.git.is_empty() {
                serde_json::Value::Null
            } else {
                facts.git.into()
            },
        );
        put("command", facts.command.into());
        put("result", facts.result.into());
        put(
            "error",
            facts.error.map_or(serde_json::Value::Null, Into::into),
        );
        put("ms", facts.ms.into());
        for (name, template) in &self.record {
            let value = templates
                .data_lenient(template, ctx)
                .unwrap_or(serde_json::Value::Null);
            record.insert(name.clone(), value);
        }
        let mut value = serde_json::Value::Object(record);
        mask(&mut value, secrets);
        value.to_string()
    }

    /// Appends `line` to the log, in one write under a `flock`.
    pub fn append(&self, line: &str) -> RemoteCommand {
        RemoteCommand {
            become_user: self.become_user.clone(),
            ..RemoteCommand::new(format!(
                "f={} line={}\nmkdir -p -- \"$(dirname -- \"$f\")\"\nexec 9>>\"$f\"\nflock 9\nprintf '%s\\n' \"$line\" >&9\n",
                quote(&self.path),
                quote(line)
            ))
        }
    }
}

/// Replaces every secret in the strings of `value` with `********`.
fn mask(value: &mut serde_json::Value, secrets: &[String]) {
    match value {
        serde_json::Value::String(text) => {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), "********");
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| mask(v, secrets)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| mask(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_types_leaves_out_what_did_not_run_and_masks_secrets() {
        let log = HistoryLog {
            path: "/srv/app/.wptdeploy/history.jsonl".into(),
            record: vec![
                ("sha".into(), "{{ release.sha }}".into()),
                ("migrations".into(), "{{ migrations.pending }}".into()),
                ("backup".into(), "{{ backup.file }}".into()),
                ("note".into(), "deployed with {{ password }}".into()),
            ],
            become_user: None,
        };
        let ctx = minijinja::context! {
            release => minijinja::context! { sha => "abc123" },
            migrations => minijinja::context! { pending => vec!["r1", "r2"] },
            password => "hunter2",
        };
        let facts = RunFacts {
            time: "2026-12-02T10:00:00Z",
            host: "web1",
            env: "staging",
            by: "ana@laptop",
            git: "Ana <ana@example.org>",
            command: "wptdeploy staging -e password=hunter2",
            result: "deployed",
            error: None,
            ms: 1234,
        };
        let line = log.line(&Templates::new(), &ctx, &facts, &["hunter2".into()]);
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(record["sha"], "abc123");
        assert_eq!(record["migrations"], serde_json::json!(["r1", "r2"]));
        assert_eq!(record["backup"], serde_json::Value::Null);
        assert_eq!(record["note"], "deployed with ********");
        assert_eq!(record["command"], "wptdeploy staging -e password=********");
        assert_eq!(record["ms"], 1234);
        assert!(!line.contains("hunter2"));
        assert!(!line.contains('\n'));
    }
}
