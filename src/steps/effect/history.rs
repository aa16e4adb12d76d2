//! The run's history as the engine keeps it: the log file on the host, and
//! the record appended to it when a run that changed the host ends (the
//! `history:` kind, `src/steps/history.rs`, declares it and reads it back).

use crate::redact::Redactor;
use crate::steps::shell_fns::DIR_OF;
use crate::template::Templates;
use crate::transport::{RemoteCommand, quote};

/// The result of a run that started and never ended.
pub const NEVER_FINISHED: &str = "never_finished";

/// What such a run's record says.
pub const UNFINISHED: &str = "the run started and never finished (killed, or its machine or connection lost): what it did is unknown, and the live release was not checked; `wptdeploy ENV` deploys and checks it again";

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
    /// The process that ran it (kept while it runs, to tell a run still
    /// running from one that was killed).
    pub process: Option<&'a super::process::ProcessId>,
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
        if let Some(process) = facts.process {
            let fields: serde_json::Map<String, serde_json::Value> = process
                .note_lines()
                .iter()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.into()))
                .collect();
            put("process", fields.into());
        }
        for (name, template) in &self.record {
            let value = templates
                .data_lenient(template, ctx)
                .unwrap_or(serde_json::Value::Null);
            record.insert(name.clone(), value);
        }
        let value = serde_json::Value::Object(record);
        Redactor::new(secrets.iter().cloned())
            .masked(&value)
            .to_string()
    }

    /// The file that holds a run's record while it runs (`PATH.run`):
    /// a run killed before its end (`kill -9`, a lost machine) leaves it,
    /// and it reads as "never finished".
    pub fn marker(&self) -> String {
        format!("{}.run", self.path)
    }

    /// When the run starts, after `check` (the record step's own script,
    /// so both go in one round trip): the record a run before it left
    /// unfinished goes into the log, and `unfinished` (this run's record, as
    /// it would read if the run never ended) becomes the marker. A marker
    /// that cannot be written (a full disk) is no failure: the record still
    /// comes at the end.
    pub fn begin(&self, check: &RemoteCommand, unfinished: &str) -> RemoteCommand {
        RemoteCommand {
            script: check.script.clone()
                + &self.script(
                    unfinished,
                    "if [ -f \"$run\" ] && [ ! -L \"$run\" ]; then cat -- \"$run\" >&9; fi\n\
                     { printf '%s\\n' \"$line\" > \"$run.part\" && mv -f -- \"$run.part\" \"$run\"; } || rm -f -- \"$run.part\"\n",
                ),
            ..check.clone()
        }
    }

    /// When the run ends: appends `line` to the log, in one write, and
    /// removes the marker.
    pub fn append(&self, line: &str) -> RemoteCommand {
        self.command(line, "printf '%s\\n' \"$line\" >&9\nrm -f -- \"$run\"\n")
    }

    /// When a run that changed nothing ends: removes the marker only.
    pub fn end(&self) -> RemoteCommand {
        self.command("", "rm -f -- \"$run\"\n")
    }

    /// [`HistoryLog::script`] as the log's user.
    fn command(&self, line: &str, then: &str) -> RemoteCommand {
        RemoteCommand {
            become_user: self.become_user.clone(),
            ..RemoteCommand::new(self.script(line, then))
        }
    }

    /// `then`, with `$f`, `$run` and `$line` set and the log locked (fd 9).
    fn script(&self, line: &str, then: &str) -> String {
        format!(
            "f={} run={} line={}\n{DIR_OF}dir_of \"$f\"\n[ -d \"$dir\" ] || mkdir -p -- \"$dir\"\nexec 9>>\"$f\"\nflock 9\n{then}",
            quote(&self.path),
            quote(&self.marker()),
            quote(line)
        )
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
            process: None,
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
