//! The one place that decides what reaches stdout and stderr: which
//! reporter draws a run's events (spinners, plain lines, JSON), the
//! command's own notes (quiet under `-q` and `--output json`), data on
//! stdout, and the final error with its hints. Stdout carries data only.

use std::io::Write as _;
use std::sync::Arc;

use crate::cancel::Cancel;
use crate::redact::Redactor;
use crate::report::style::{Palette, Tone};
use crate::report::{
    JsonReporter, PlainReporter, ProgressReporter, RawOutput, Redacted, Reporter, Verbosity, tell,
    visible,
};
use crate::settings::Settings;

/// The reporter `settings` ask for, showing `verbosity`, masking what
/// `redactor` knows; with it, the spinners' screen when it draws any
/// (prompts hide them while asking). An output that closes cancels `cancel`.
pub fn reporter(
    settings: &Settings,
    verbosity: Verbosity,
    redactor: Redactor,
    cancel: &Cancel,
    raw_output: bool,
) -> (Arc<dyn Reporter>, Option<indicatif::MultiProgress>) {
    let cancel = cancel.clone();
    if settings.json {
        let json = JsonReporter::new(verbosity);
        return (Arc::new(Redacted::new(json, redactor, cancel)), None);
    }
    if raw_output {
        // The command's own output as it printed it; no spinner draws
        // between its lines.
        let plain = RawOutput::new(PlainReporter::new(verbosity, settings.palette));
        return (Arc::new(Redacted::new(plain, redactor, cancel)), None);
    }
    if verbosity != Verbosity::Quiet && settings.spinners {
        let progress = ProgressReporter::new(verbosity, settings.palette);
        let screen = progress.screen();
        (
            Arc::new(Redacted::new(progress, redactor, cancel)),
            Some(screen),
        )
    } else {
        let plain = PlainReporter::new(verbosity, settings.palette);
        (Arc::new(Redacted::new(plain, redactor, cancel)), None)
    }
}

/// A note from the command to the person (what to do next), on stderr;
/// nothing under `-q` or `--output json`.
pub fn note(settings: &Settings, text: &str) {
    if settings.verbosity != Verbosity::Quiet && !settings.json {
        tell(text);
    }
}

/// In GitHub Actions: the run's failures as `::error` annotations (on
/// stderr, which the runner reads as well as stdout, so `--output json`
/// stays pure), and its outcome appended to `$GITHUB_STEP_SUMMARY`. Neither
/// can fail the run.
pub fn github_actions(command: &str, ending: &crate::report::run::Ending) {
    for line in crate::report::run::github_annotations(command, ending) {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let appended = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| {
                file.write_all(crate::report::run::github_summary(command, ending).as_bytes())
            });
        if let Err(e) = appended {
            tell(&format!("warning: cannot write the step summary: {e}"));
        }
    }
}

/// One JSON event on stdout (`--output json`'s `run_started` and
/// `run_finished`, which frame every run).
pub fn json(event: &serde_json::Value) {
    data([crate::report::json_text(event)]);
}

/// Lines of data on stdout (`--list-steps`, the tables of `status`,
/// `history` and `releases`, whose text comes from files the app user
/// can write): control characters shown, not obeyed. A reader that
/// stopped (`| head`) has what it wanted: the rest is dropped quietly.
pub fn data(lines: impl IntoIterator<Item = String>) {
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        if writeln!(stdout, "{}", visible(&line)).is_err() {
            return;
        }
    }
}

/// `rows` (the first a header) as lines of left-aligned columns, two
/// spaces apart; the last column is not padded.
pub fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i + 1 == row.len() {
                        cell.clone()
                    } else {
                        format!("{cell:<width$}", width = widths[i])
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

/// A warning after the run's plays ended (a notification not delivered),
/// secrets already masked: a `warning` event with `--output json`.
pub fn warning(palette: Palette, json: bool, message: &str) {
    if json {
        self::json(&serde_json::json!({ "event": "warning", "host": null, "message": message }));
    } else {
        labelled(palette, "warning", Tone::Caution, message);
    }
}

/// `label: text` on stderr, the label in its tone, the text's control
/// characters shown rather than obeyed.
fn labelled(palette: Palette, label: &str, tone: Tone, text: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "{}: {}",
        palette.paint(tone, label),
        visible(text)
    );
}

/// The error a command ended with, and its hints, secrets already masked.
/// It may end with a remote program's output: control characters in it
/// are shown, not obeyed.
pub fn error(palette: Palette, message: &str, hints: &[String]) {
    labelled(palette, "error", Tone::Bad, message);
    for hint in hints {
        labelled(palette, "hint", Tone::Hint, hint);
    }
}
