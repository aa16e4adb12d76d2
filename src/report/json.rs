//! One JSON object per line on stdout, for CI (`--output json`).

use std::io::Write as _;

use super::{Event, Render, Verbosity};

/// Writes every event as a JSON line; remote output only with `-v`.
pub struct JsonReporter {
    verbosity: Verbosity,
}

impl JsonReporter {
    /// A reporter for `verbosity`.
    pub fn new(verbosity: Verbosity) -> Self {
        JsonReporter { verbosity }
    }
}

impl Render for JsonReporter {
    fn render(&self, event: &Event) -> std::io::Result<()> {
        if matches!(event, Event::StepOutput { .. }) && self.verbosity < Verbosity::Verbose {
            return Ok(());
        }
        let line = super::json_text(event);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }
}
