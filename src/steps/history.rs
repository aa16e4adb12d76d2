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
//! When the run starts, its record as it would read if the run never
//! ended (`never_finished`, with the process that runs it) is kept beside
//! the log (`PATH.run`), replaced by the real record when the run ends: a
//! run killed (`kill -9`, a lost machine) leaves it, and the next run
//! moves it into the log.
//!
//! `action: read` (read-only) returns the last `last` records (all when 0)
//! for the command to show, then the record of a run under way or killed
//! (`"unfinished": true`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::effect::history::HistoryLog;
use super::kind::{
    Effect, Prepared, Render, StepKind, Tmpl, check_literal, check_number, choice_error,
};
use super::outcome::{Outcome, StepFailure};
use super::shell_fns::DIR_OF;
use crate::template::TemplateError;
use crate::transport::quote;

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
            // Then the record of a run under way, or killed (`PATH.run`).
            let script = format!(
                "f={}\nif [ -f \"$f\" ]; then {}; fi\nif [ -f \"$f.run\" ]; then sed 's/^/@run /' -- \"$f.run\"; fi\n",
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
            "f={}\n{DIR_OF}dir_of \"$f\"\n{{ [ -d \"$dir\" ] || mkdir -p -- \"$dir\"; }} && [ -w \"$dir\" ] && {{ [ ! -e \"$f\" ] || [ -w \"$f\" ]; }} || {{ echo \"wptdeploy: $(id -un) cannot write $f\" >&2; exit 3; }}\n",
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
        let (line, unfinished) = match line.strip_prefix("@run ") {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(mut record) if record.is_object() => {
                if unfinished {
                    record["unfinished"] = true.into();
                }
                records.push(record);
            }
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
