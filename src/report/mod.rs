//! What the engine tells the user: events, and the renderers for them.
//!
//! The engine never prints; it calls a [`Reporter`]. The CLI picks one:
//! progress spinners on a terminal, plain lines otherwise, or JSON lines
//! for CI. Every renderer is wrapped in [`Redacted`], so secrets are masked
//! in one place whatever the renderer, and an output that can no longer be
//! written stops the run as Ctrl-C would.

mod json;
mod plain;
mod progress;
mod prompt;
mod redact;

use serde::{Deserialize, Serialize};

use crate::transport::Stream;

pub use json::JsonReporter;
pub use plain::PlainReporter;
pub use progress::ProgressReporter;
pub use prompt::{TerminalGate, confirm_environment};
pub use redact::{Redacted, Redactor};

/// How much the user wants to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Steps and the summary.
    Normal,
    /// Also every line of remote output.
    Verbose,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Ran and changed nothing.
    Ok,
    /// Ran and changed the host.
    Changed,
    /// Its `when:` was false.
    Skipped,
    /// Ran and failed.
    Failed,
    /// Shown, not run (`--check`).
    Planned,
}

/// How a host's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostResult {
    /// Every step succeeded.
    Deployed,
    /// `--check`: the plan was shown.
    Planned,
    /// A step failed; the live release was not touched.
    Failed,
    /// A step failed after the switch, and the previous release is live again.
    RolledBack,
    /// Stopped by Ctrl-C.
    Interrupted,
    /// The host could not be reached, or stopped answering.
    Unreachable,
    /// Not started: an earlier batch failed (or the run was interrupted).
    NotStarted,
}

/// The end of one host's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSummary {
    /// Inventory name.
    pub host: String,
    /// How it ended.
    pub result: HostResult,
    /// The commit asked for.
    pub commit: String,
    /// The release (full SHA) deployed or planned, when known.
    pub release: Option<String>,
    /// Steps that ran and changed nothing.
    pub ok: usize,
    /// Steps that changed the host.
    pub changed: usize,
    /// Steps skipped by `when:`.
    pub skipped: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Wall time, milliseconds.
    pub ms: u64,
    /// The failure, if any.
    pub error: Option<String>,
    /// What to do about it.
    pub hints: Vec<String>,
}

impl HostSummary {
    /// A host about to run, nothing done yet.
    pub fn new(host: &str, commit: String) -> Self {
        HostSummary {
            host: host.to_owned(),
            result: HostResult::Failed,
            commit,
            release: None,
            ok: 0,
            changed: 0,
            skipped: 0,
            failed: 0,
            ms: 0,
            error: None,
            hints: Vec::new(),
        }
    }

    /// A host that was never started, and why.
    pub fn not_started(host: &crate::plan::HostPlan, reason: &str) -> Self {
        HostSummary {
            result: HostResult::NotStarted,
            error: Some(format!("not started: {reason}")),
            ..HostSummary::new(&host.name, host.commit.clone())
        }
    }

    /// Whether the host ended as asked (deployed, or planned under `--check`).
    pub fn succeeded(&self) -> bool {
        matches!(self.result, HostResult::Deployed | HostResult::Planned)
    }
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run begins.
    RunStarted {
        /// Environment.
        env: String,
        /// Hosts, in order.
        hosts: Vec<String>,
        /// Commit asked for.
        commit: String,
        /// The playbook run.
        playbook: String,
        /// `--check`.
        check: bool,
    },
    /// A connection is being opened.
    Connecting {
        /// Inventory name.
        host: String,
        /// `user@address:port`.
        target: String,
    },
    /// Connected and logged in.
    Connected {
        /// Inventory name.
        host: String,
        /// Handshake and login time.
        ms: u64,
    },
    /// A step begins.
    StepStarted {
        /// Inventory name.
        host: String,
        /// 1-based.
        index: usize,
        /// Steps in the playbook.
        total: usize,
        /// Rendered name.
        name: String,
    },
    /// A `local:` step's command has the terminal (`true`) or gave it back:
    /// nothing else may draw on the terminal meanwhile.
    TerminalHandedOver {
        /// Inventory name.
        host: String,
        /// Whether the command is running now.
        running: bool,
    },
    /// A line of remote output.
    StepOutput {
        /// Inventory name.
        host: String,
        /// stdout or stderr.
        stream: Stream,
        /// The line.
        line: String,
    },
    /// `--check`: what a step would run.
    StepPlanned {
        /// Inventory name.
        host: String,
        /// 1-based.
        index: usize,
        /// Steps in the playbook.
        total: usize,
        /// Rendered name.
        name: String,
        /// The exact command.
        command: String,
        /// What a read-only probe found out (e.g. the resolved release).
        note: Option<String>,
        /// For a file it would write: a unified diff against the host's file.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        diff: Option<String>,
    },
    /// A step ended.
    StepFinished {
        /// Inventory name.
        host: String,
        /// 1-based.
        index: usize,
        /// Steps in the playbook.
        total: usize,
        /// Rendered name.
        name: String,
        /// How it ended.
        status: StepStatus,
        /// Duration.
        ms: u64,
        /// A short note or the failure.
        note: Option<String>,
    },
    /// The deploy lock is held by someone else; waiting.
    LockWaiting {
        /// Inventory name.
        host: String,
        /// Who holds it.
        holder: String,
    },
    /// The previous release was switched back after a failure.
    RolledBack {
        /// Inventory name.
        host: String,
        /// The release live again.
        to: String,
        /// Whether the restart steps ran again for it.
        restarted: bool,
    },
    /// Columns read from the database (`verify`, `columns:` steps).
    Columns {
        /// Inventory name.
        host: String,
        /// The tables asked about.
        tables: Vec<String>,
        /// Their columns.
        columns: Vec<crate::migrations::columns::Column>,
        /// Differences from what was expected.
        problems: Vec<String>,
    },
    /// Something the user should know.
    Warning {
        /// The host concerned, if one.
        host: Option<String>,
        /// The warning.
        message: String,
    },
    /// A batch of a rolling deploy (`serial`) begins.
    BatchStarted {
        /// 1-based.
        batch: usize,
        /// How many batches.
        batches: usize,
        /// Its hosts.
        hosts: Vec<String>,
    },
    /// A host is done.
    HostFinished {
        /// How it went.
        summary: HostSummary,
    },
    /// Every host is done.
    RunFinished {
        /// All hosts succeeded.
        ok: bool,
        /// Wall time.
        ms: u64,
    },
}

/// Receives events. Implementations must not block the engine for long.
pub trait Reporter: Send + Sync {
    /// Handles one event.
    fn report(&self, event: &Event);
}

/// Draws events for a person or a program: the terminal, plain lines, JSON.
/// An error means the output is gone (a closed pipe); [`Redacted`] then
/// stops the run.
pub trait Render: Send + Sync {
    /// Writes one event.
    fn render(&self, event: &Event) -> std::io::Result<()>;
}

/// The final table: one line per host. A successful host reads
/// `deployed` when the run deploys, else `ok`.
pub fn summary_table(summaries: &[HostSummary], deploys: bool) -> String {
    let width = |column: &dyn Fn(&HostSummary) -> usize, title: &str| {
        summaries
            .iter()
            .map(column)
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let host_width = width(&|s| s.host.len(), "host");
    let commit_width = width(&|s| s.commit.len(), "commit");
    let mut out = format!(
        "{:host_width$}  {:11}  {:commit_width$}  {:12}  {:>3} {:>7} {:>7} {:>6}  {:>7}\n",
        "host", "result", "commit", "release", "ok", "changed", "skipped", "failed", "time"
    );
    for s in summaries {
        let result = match s.result {
            HostResult::Deployed if deploys => "deployed",
            HostResult::Deployed => "ok",
            HostResult::Planned => "planned",
            HostResult::Failed => "FAILED",
            HostResult::RolledBack => "ROLLED BACK",
            HostResult::Interrupted => "INTERRUPTED",
            HostResult::NotStarted => "not started",
            HostResult::Unreachable => "UNREACHABLE",
        };
        let release = s.release.as_deref().map_or("-", |r| &r[..r.len().min(12)]);
        out.push_str(&format!(
            "{:host_width$}  {:11}  {:commit_width$}  {:12}  {:>3} {:>7} {:>7} {:>6}  {:>6.1}s\n",
            s.host,
            result,
            s.commit,
            release,
            s.ok,
            s.changed,
            s.skipped,
            s.failed,
            s.ms as f64 / 1000.0
        ));
    }
    out
}

/// A table's columns as the seed's query shows them: name and type.
pub fn columns_table(
    host: &str,
    tables: &[String],
    columns: &[crate::migrations::columns::Column],
) -> String {
    let mut out = String::new();
    for table in tables {
        let rows: Vec<_> = columns.iter().filter(|c| &c.table == table).collect();
        let width = rows
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0)
            .max("column".len());
        out.push_str(&format!("{host}: {table}\n  {:width$}  type\n", "column"));
        if rows.is_empty() {
            out.push_str("  (no such table)\n");
        }
        for column in rows {
            out.push_str(&format!("  {:width$}  {}\n", column.name, column.data_type));
        }
    }
    out
}

/// `text` with every control character but newline and tab shown as an
/// escape (`\x1b`, `\u{9b}`), so remote output cannot move the cursor,
/// recolour the terminal or retitle it.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hidden(c) {
            if (c as u32) < 0x100 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Writes a line to stderr, control characters made visible; a stderr that
/// is gone (a closed terminal) shows nothing, and the run goes on.
pub fn tell(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{}", visible(text));
}

/// `1.2s` or `340ms`.
pub fn format_ms(ms: u64) -> String {
    if ms >= 1000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn control_sequences_are_shown_not_obeyed() {
        assert_eq!(
            visible("\u{1b}[31mred\u{1b}]0;title\u{7}\r\tok\u{9b}2J\nnext"),
            "\\x1b[31mred\\x1b]0;title\\x07\\x0d\tok\\x9b2J\nnext"
        );
    }
}
