//! The run's history as the engine keeps it: the log file on the host, and
//! the record appended to it when a run that changed the host ends (the
//! `history:` kind, `src/steps/history.rs`, declares it and reads it back).

use crate::redact::Redactor;
use crate::template::Templates;
use crate::transport::{RemoteCommand, quote};

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
        let value = serde_json::Value::Object(record);
        Redactor::new(secrets.iter().cloned())
            .masked(&value)
            .to_string()
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
