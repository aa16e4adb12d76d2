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
mod raw;
mod redact;
pub mod run;
pub mod style;

pub use crate::engine::events::{Event, HostResult, HostSummary, Reporter, StepStatus};

pub use json::JsonReporter;
pub use plain::PlainReporter;
pub use progress::ProgressReporter;
pub use prompt::{ConfirmGate, TerminalAsker, TerminalGate, confirm_environment};
pub use raw::RawOutput;
pub use redact::Redacted;

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

/// Draws events for a person or a program: the terminal, plain lines, JSON.
/// An error means the output is gone (a closed pipe); [`Redacted`] then
/// stops the run.
pub trait Render: Send + Sync {
    /// Writes one event.
    fn render(&self, event: &Event) -> std::io::Result<()>;
}

/// The plan `--step` and the checklist show before the first question:
/// each step with what it found (the steps that only look run) or that it
/// is planned, and what it would write, but not its command (`d` at the
/// step shows that).
pub struct Outline(pub std::sync::Arc<dyn Reporter>);

impl Reporter for Outline {
    fn report(&self, event: &Event) {
        match event {
            Event::StepPlanned {
                host,
                index,
                total,
                name,
                note,
                diff,
                ..
            } => self.0.report(&Event::StepPlanned {
                host: host.clone(),
                index: *index,
                total: *total,
                name: name.clone(),
                command: String::new(),
                note: note.clone(),
                diff: diff.clone(),
            }),
            other => self.0.report(other),
        }
    }
}

/// The final table: one line per host. A successful host reads
/// `deployed` when the run deploys, else `ok`; the commit and release
/// columns are shown only for a run that deploys.
pub fn summary_table(summaries: &[HostSummary], deploys: bool, palette: style::Palette) -> String {
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
    let release_columns = |commit: &str, release: &str| {
        if deploys {
            format!("  {commit:commit_width$}  {release:12}")
        } else {
            String::new()
        }
    };
    let word = |s: &HostSummary| match s.result {
        HostResult::Deployed if deploys => "deployed",
        HostResult::DeployedUnchecked if deploys => "deployed (unchecked)",
        HostResult::Deployed | HostResult::DeployedUnchecked | HostResult::Done => "ok",
        HostResult::Planned => "planned",
        HostResult::Failed => "FAILED",
        HostResult::RolledBack => "ROLLED BACK",
        HostResult::Interrupted => "INTERRUPTED",
        HostResult::NotStarted => "not started",
        HostResult::Unreachable => "UNREACHABLE",
    };
    let result_width = width(&|s| word(s).len(), "result").max(11);
    let mut out = format!(
        "{:host_width$}  {:result_width$}{}  {:>3} {:>7} {:>7} {:>6}  {:>7}\n",
        "host",
        "result",
        release_columns("commit", "release"),
        "ok",
        "changed",
        "skipped",
        "failed",
        "time"
    );
    for s in summaries {
        let result = word(s);
        let tone = match s.result {
            HostResult::Deployed | HostResult::Done => style::Tone::Good,
            HostResult::Planned | HostResult::NotStarted => style::Tone::Quiet,
            HostResult::DeployedUnchecked | HostResult::RolledBack | HostResult::Interrupted => {
                style::Tone::Caution
            }
            HostResult::Failed | HostResult::Unreachable => style::Tone::Bad,
        };
        let result = palette.paint(tone, &format!("{result:result_width$}"));
        let release = s.release.as_deref().map_or("-", |r| &r[..r.len().min(12)]);
        out.push_str(&format!(
            "{:host_width$}  {}{}  {:>3} {:>7} {:>7} {:>6}  {:>6.1}s\n",
            s.host,
            result,
            release_columns(&s.commit, release),
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

/// `value` as one line of JSON in which no character a terminal obeys is
/// raw: serde_json escapes U+0000-U+001F; DEL and the C1 controls
/// (U+007F-U+009F, `\u{9b}` being a CSI) are escaped here, as `\u00XX`.
pub fn json_text(value: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(value).expect("values serialize");
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .fold(String::with_capacity(text.len() + 16), |mut out, c| {
            if c.is_control() {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push(c);
            }
            out
        })
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
    fn json_keeps_its_value_and_shows_no_control_raw() {
        let value = serde_json::json!({"note": "\u{1b}[2J\u{9b}31m\u{7f}ok"});
        let text = super::json_text(&value);
        assert!(!text.chars().any(char::is_control), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn control_sequences_are_shown_not_obeyed() {
        assert_eq!(
            visible("\u{1b}[31mred\u{1b}]0;title\u{7}\r\tok\u{9b}2J\nnext"),
            "\\x1b[31mred\\x1b]0;title\\x07\\x0d\tok\\x9b2J\nnext"
        );
    }
}
