//! Spinners on a terminal: one line per host (host, step, elapsed), with
//! finished steps printed above them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::plain::{PlainReporter, line_for};
use super::{Event, Render, Verbosity};

/// Progress spinners for a terminal.
pub struct ProgressReporter {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    table: PlainReporter,
    verbosity: Verbosity,
}

impl ProgressReporter {
    /// Spinners drawn on stderr; finished steps (and, when `verbosity` is
    /// verbose, remote output) printed above them.
    pub fn new(verbosity: Verbosity, palette: super::style::Palette) -> Self {
        ProgressReporter {
            multi: MultiProgress::new(),
            bars: Mutex::default(),
            table: PlainReporter::new(Verbosity::Normal, palette),
            verbosity,
        }
    }

    /// A handle that hides the spinners while a prompt asks (`MultiProgress::suspend`).
    pub fn screen(&self) -> MultiProgress {
        self.multi.clone()
    }

    fn bar(&self, host: &str) -> ProgressBar {
        let mut bars = self.bars.lock().expect("bars lock");
        bars.entry(host.to_owned())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} {elapsed:.dim}")
                        .expect("valid template"),
                );
                bar.set_prefix(host.to_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            })
            .clone()
    }
}

impl Render for ProgressReporter {
    fn render(&self, event: &Event) -> std::io::Result<()> {
        match event {
            // A `local:` command (an editor) has the terminal: draw nothing.
            Event::TerminalHandedOver { running, .. } => {
                self.multi.set_draw_target(if *running {
                    ProgressDrawTarget::hidden()
                } else {
                    ProgressDrawTarget::stderr()
                });
            }
            Event::Connecting { host, .. } => self.bar(host).set_message("connecting"),
            Event::StepStarted {
                host,
                index,
                total,
                name,
            } => self
                .bar(host)
                .set_message(format!("[{index}/{total}] {name}")),
            Event::HostFinished { summary, .. } => {
                self.bar(&summary.host).finish_and_clear();
            }
            Event::Columns {
                host,
                tables,
                columns,
                ..
            } => {
                self.multi.suspend(|| {
                    use std::io::Write as _;
                    let mut out = std::io::stdout().lock();
                    write!(
                        out,
                        "{}",
                        super::visible(&super::columns_table(host, tables, columns))
                    )?;
                    out.flush()
                })?;
            }
            _ => {}
        }
        if let Some(line) = line_for(event, self.verbosity, self.table.palette()) {
            self.multi.println(line)?;
        }
        if let Some(table) = self.table.collect(event) {
            self.multi.println(format!("\n{table}"))?;
        }
        Ok(())
    }
}
