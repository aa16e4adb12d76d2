//! Plain lines on stderr: for pipes, CI logs and `--no-progress`; the
//! columns a `verify` reads, on stdout.

use std::io::Write as _;

use super::style::{Palette, Tone};
use super::{Event, Render, StepStatus, Verbosity, format_ms, summary_table};
use crate::transport::Stream;

/// Writes one line per event to stderr.
pub struct PlainReporter {
    verbosity: Verbosity,
    palette: Palette,
    summaries: std::sync::Mutex<Vec<super::HostSummary>>,
    /// Whether the run deploys (its success is "deployed", else "ok").
    deploys: std::sync::atomic::AtomicBool,
    stderr: std::sync::Mutex<Batched>,
}

/// Stderr, written a batch of remote output lines at a time (at most
/// [`BATCH_DELAY`] late) and every other line at once: a step printing a
/// million lines costs a few hundred writes, not a million.
struct Batched {
    out: std::io::BufWriter<std::io::Stderr>,
    flushed: std::time::Instant,
}

/// How long a line of remote output may wait in the batch.
const BATCH_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

impl PlainReporter {
    /// A reporter showing what `verbosity` asks for, in `palette`'s colours.
    pub fn new(verbosity: Verbosity, palette: Palette) -> Self {
        PlainReporter {
            verbosity,
            palette,
            summaries: std::sync::Mutex::default(),
            deploys: std::sync::atomic::AtomicBool::new(true),
            stderr: std::sync::Mutex::new(Batched {
                out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()),
                flushed: std::time::Instant::now(),
            }),
        }
    }

    /// The colours it paints in.
    pub(super) fn palette(&self) -> Palette {
        self.palette
    }

    /// Collects host summaries and, at the end, returns the table to print.
    pub(super) fn collect(&self, event: &Event) -> Option<String> {
        let mut summaries = self.summaries.lock().expect("summaries lock");
        match event {
            Event::PlayStarted { deploys, .. } => {
                // A new run (after `--step`'s preview): a new table.
                summaries.clear();
                self.deploys
                    .store(*deploys, std::sync::atomic::Ordering::Relaxed);
                None
            }
            Event::HostFinished { summary, .. } => {
                summaries.push(summary.clone());
                None
            }
            Event::PlayFinished { .. } if self.verbosity > Verbosity::Quiet => {
                summaries.sort_by(|a, b| a.host.cmp(&b.host));
                Some(summary_table(
                    &summaries,
                    self.deploys.load(std::sync::atomic::Ordering::Relaxed),
                    self.palette,
                ))
            }
            _ => None,
        }
    }
}

/// The text of an event at `verbosity`, if it shows at all, with any
/// control character in it (a remote program's colours, cursor moves, a
/// terminal title) made visible rather than obeyed.
pub(super) fn line_for(event: &Event, verbosity: Verbosity, palette: Palette) -> Option<String> {
    text_for(event, verbosity).map(|text| {
        let shown = match super::visible(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(shown) => shown,
        };
        match tone_of(event) {
            Some((anchor, word, tone)) => palette.paint_after(&shown, &anchor, word, tone),
            None => shown,
        }
    })
}

/// The word of an event's line that is painted, the text just before it,
/// and its tone.
fn tone_of(event: &Event) -> Option<(String, &'static str, Tone)> {
    Some(match event {
        Event::StepFinished { total, status, .. } => {
            let (word, tone) = match status {
                StepStatus::Ok => ("ok", Tone::Good),
                StepStatus::Changed => ("changed", Tone::Changed),
                StepStatus::Skipped | StepStatus::Planned => ("skipped", Tone::Quiet),
                StepStatus::Failed => ("FAILED", Tone::Bad),
            };
            (format!("/{total} "), word, tone)
        }
        Event::RolledBack { .. } => ("] ".to_owned(), "rolled back", Tone::Caution),
        Event::Warning { host: Some(_), .. } => ("] ".to_owned(), "warning:", Tone::Caution),
        Event::Warning { host: None, .. } => (String::new(), "warning:", Tone::Caution),
        _ => return None,
    })
}

fn text_for(event: &Event, verbosity: Verbosity) -> Option<String> {
    // Quiet still shows what went wrong: failed steps, rollbacks, warnings.
    let problem = matches!(
        event,
        Event::StepFinished {
            status: StepStatus::Failed,
            ..
        } | Event::RolledBack { .. }
            | Event::Warning { .. }
    );
    if verbosity == Verbosity::Quiet && !problem {
        return None;
    }
    // A step its `when:` skipped is the summary's count; `-v` lists it. One
    // skipped with a reason (by you, at `--step`) is shown.
    if verbosity != Verbosity::Verbose
        && matches!(
            event,
            Event::StepFinished {
                status: StepStatus::Skipped,
                note: None,
                ..
            }
        )
    {
        return None;
    }
    Some(match event {
        Event::PlayStarted {
            title,
            hosts,
            check,
            ..
        } => {
            let what = title;
            let plural = if hosts.len() == 1 { "" } else { "s" };
            let plan = if *check { "plan: " } else { "" };
            let commands = if *check && verbosity != Verbosity::Verbose {
                "; -v shows each step's exact command"
            } else {
                ""
            };
            format!("{plan}{what} ({} host{plural}{commands})", hosts.len())
        }
        Event::BatchStarted {
            batch,
            batches,
            hosts,
        } => format!("batch {batch}/{batches}: {}", hosts.join(", ")),
        Event::Connecting { host, target } if verbosity == Verbosity::Verbose => {
            format!("[{host}] connecting to {target}")
        }
        Event::Connected { host, ms } => format!("[{host}] connected in {}", format_ms(*ms)),
        Event::StepOutput { host, stream, line } if verbosity == Verbosity::Verbose => {
            let mark = if *stream == Stream::Stderr { "!" } else { "|" };
            format!("[{host}]   {mark} {line}")
        }
        Event::StepPlanned {
            host,
            index,
            total,
            name,
            command,
            note,
            diff,
        } => {
            let note = note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
            // The exact command only with -v: the plan reads as steps.
            let shown = if verbosity == Verbosity::Verbose {
                command.as_str()
            } else {
                ""
            };
            let body: Vec<String> = shown
                .lines()
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 {
                        format!("         $ {l}")
                    } else {
                        format!("           {l}")
                    }
                })
                .collect();
            let mut line = format!("[{host}] {index:>2}/{total} planned {name}{note}");
            for command_line in body {
                line.push('\n');
                line.push_str(&command_line);
            }
            for diff_line in diff.iter().flat_map(|d| d.lines()) {
                line.push_str("\n           ");
                line.push_str(diff_line);
            }
            line
        }
        Event::StepFinished {
            host,
            index,
            total,
            name,
            status,
            ms,
            note,
        } => {
            let word = match status {
                StepStatus::Ok => "ok     ",
                StepStatus::Changed => "changed",
                StepStatus::Skipped => "skipped",
                StepStatus::Failed => "FAILED ",
                StepStatus::Planned => "planned",
            };
            let note = note.as_ref().map(|n| format!(": {n}")).unwrap_or_default();
            format!(
                "[{host}] {index:>2}/{total} {word} {name} ({}){note}",
                format_ms(*ms)
            )
        }
        Event::SentAhead { host, with, steps } if verbosity == Verbosity::Verbose => {
            let steps: Vec<String> = steps.iter().map(ToString::to_string).collect();
            format!(
                "[{host}] steps {} sent with step {with}, in one round trip (they only look)",
                steps.join(", ")
            )
        }
        Event::LockWaiting { host, holder } => {
            format!("[{host}] waiting for the deploy lock, held by {holder}")
        }
        Event::RolledBack {
            host,
            to,
            restarted,
        } => format!(
            "[{host}] rolled back: {to} is live again{}",
            if *restarted { " and was restarted" } else { "" }
        ),
        Event::Warning { host, message } => match host {
            Some(host) => format!("[{host}] warning: {message}"),
            None => format!("warning: {message}"),
        },
        _ => return None,
    })
}

impl Render for PlainReporter {
    fn render(&self, event: &Event) -> std::io::Result<()> {
        if let Event::Columns {
            host,
            tables,
            columns,
            ..
        } = event
        {
            // The command's result: data, on stdout.
            let mut out = std::io::stdout().lock();
            write!(
                out,
                "{}",
                super::visible(&super::columns_table(host, tables, columns))
            )?;
            return out.flush();
        }
        let mut err = self.stderr.lock().expect("stderr lock");
        if let Some(line) = line_for(event, self.verbosity, self.palette) {
            writeln!(err.out, "{line}")?;
        }
        if let Some(table) = self.collect(event) {
            write!(err.out, "\n{table}")?;
        }
        let batched = matches!(event, Event::StepOutput { .. });
        if !batched || err.flushed.elapsed() >= BATCH_DELAY {
            err.out.flush()?;
            err.flushed = std::time::Instant::now();
        }
        Ok(())
    }
}
