//! One JSON object per line on stdout, for CI (`--output json`).

use std::io::Write as _;

use super::{Event, Reporter, Verbosity};

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

impl Reporter for JsonReporter {
    fn report(&self, event: &Event) {
        if matches!(event, Event::StepOutput { .. }) && self.verbosity < Verbosity::Verbose {
            return;
        }
        let line = serde_json::to_string(event).expect("events serialize");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
