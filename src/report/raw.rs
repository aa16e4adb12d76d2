//! A command's own output, as `ssh host cmd` gives it (`exec` and `logs`
//! on one host, or `--raw`): its stdout lines to stdout and its stderr
//! lines to stderr, unprefixed, so `wptdeploy exec prod -- cmd > out`
//! captures what the command printed; every other event (wptdeploy's own
//! lines) is rendered by the inner renderer, on stderr.

use std::io::Write as _;

use super::{Event, Render};
use crate::transport::Stream;

/// Renders [`Event::StepOutput`] raw, the rest with `inner`.
pub struct RawOutput<R> {
    inner: R,
}

impl<R> RawOutput<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> RawOutput<R> {
        RawOutput { inner }
    }
}

impl<R: Render> Render for RawOutput<R> {
    fn render(&self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::StepOutput { stream, line, .. } => {
                if *stream == Stream::Stdout {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{line}")?;
                    out.flush()
                } else {
                    let mut err = std::io::stderr().lock();
                    writeln!(err, "{line}")?;
                    err.flush()
                }
            }
            _ => self.inner.render(event),
        }
    }
}
