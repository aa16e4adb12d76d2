//! Every event passes through here on its way out: secrets masked, and a
//! closed output turned into the run's end.

use super::{Event, Render, Reporter};
use crate::cancel::Cancel;
use crate::redact::Redactor;

/// `event` with every secret `redactor` knows masked in any of its texts.
pub fn masked_event(redactor: &Redactor, event: &Event) -> Event {
    if redactor.is_empty() {
        return event.clone();
    }
    // The event that comes by the million: masked without a round trip.
    if let Event::StepOutput { host, stream, line } = event {
        return Event::StepOutput {
            host: redactor.apply(host),
            stream: *stream,
            line: redactor.apply(line),
        };
    }
    redactor.masked(event)
}

/// The reporter the engine gets: masks secrets before a renderer sees an
/// event, and stops the run (`cancel`) when the renderer can no longer
/// write, so a closed pipe ends the run as Ctrl-C would, never a panic.
pub struct Redacted<R> {
    inner: R,
    redactor: Redactor,
    cancel: Cancel,
}

impl<R: Render> Redacted<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, redactor: Redactor, cancel: Cancel) -> Self {
        Redacted {
            inner,
            redactor,
            cancel,
        }
    }
}

impl<R: Render> Reporter for Redacted<R> {
    fn report(&self, event: &Event) {
        if self
            .inner
            .render(&masked_event(&self.redactor, event))
            .is_err()
        {
            self.cancel.output_lost();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Stream;

    #[test]
    fn secrets_are_masked_in_every_field() {
        let redactor = Redactor::new(["hunter22".to_owned(), "x".to_owned()]);
        let event = Event::StepOutput {
            host: "web".into(),
            stream: Stream::Stderr,
            line: "password=hunter22; x stays".into(),
        };
        let Event::StepOutput { line, .. } = masked_event(&redactor, &event) else {
            panic!("shape changed")
        };
        assert_eq!(line, "password=********; x stays");
    }
}
