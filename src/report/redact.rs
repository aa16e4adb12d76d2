//! Secrets never print: every event passes through here on its way out.

use super::{Event, HostSummary, Render, Reporter};
use crate::cancel::Cancel;

/// Masks known secret values in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// What a secret is replaced with.
pub const MASK: &str = "********";

impl Redactor {
    /// A redactor for these values (empty and very short ones are ignored,
    /// as masking them would garble ordinary text). A value is masked in
    /// every shape it may take on its way out: whole, line by line (output
    /// arrives a line at a time), shell-quoted (as a command shows it, up to three levels deep) and
    /// JSON-escaped (as `to_json` writes it).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .flat_map(|secret| {
                let mut shapes: Vec<String> = secret.lines().map(|l| l.trim().to_owned()).collect();
                // Quoted for the shell, and that quoted again (`sh -c '...'`).
                let mut quoted = secret.clone();
                for _ in 0..3 {
                    quoted = quoted.replace('\'', "'\\''");
                    shapes.push(quoted.clone());
                }
                let escaped = serde_json::to_string(&secret).expect("a string serializes");
                shapes.push(escaped[1..escaped.len() - 1].to_owned());
                shapes.push(secret);
                shapes
            })
            .filter(|s| s.len() >= 3)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` with every secret masked.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    fn apply_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.apply(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.apply_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.apply_json(v)),
            _ => {}
        }
    }

    /// A host's summary with every secret in its texts masked (the run's
    /// record of it, for `run_finished` and GitHub's annotations).
    pub fn summary(&self, summary: &HostSummary) -> HostSummary {
        self.masked(summary)
    }

    /// `value` with every secret in any of its texts masked, through its
    /// JSON form (which has every text it holds).
    fn masked<T: serde::Serialize + serde::de::DeserializeOwned>(&self, value: &T) -> T {
        let mut json = serde_json::to_value(value).expect("it serializes");
        self.apply_json(&mut json);
        serde_json::from_value(json).expect("masked, it has the same shape")
    }

    /// `event` with every secret in any of its texts masked.
    pub fn event(&self, event: &Event) -> Event {
        if self.secrets.is_empty() {
            return event.clone();
        }
        // The event that comes by the million: masked without a round trip.
        if let Event::StepOutput { host, stream, line } = event {
            return Event::StepOutput {
                host: self.apply(host),
                stream: *stream,
                line: self.apply(line),
            };
        }
        self.masked(event)
    }
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
        if self.inner.render(&self.redactor.event(event)).is_err() {
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
        let Event::StepOutput { line, .. } = redactor.event(&event) else {
            panic!("shape changed")
        };
        assert_eq!(line, "password=********; x stays");
    }

    #[test]
    fn a_secret_is_masked_shell_quoted_and_json_escaped_too() {
        let redactor = Redactor::new(["it's \"x\"".to_owned()]);
        assert_eq!(
            redactor.apply("echo 'it'\\''s \"x\"' and {\"p\": \"it's \\\"x\\\"\"}"),
            "echo '********' and {\"p\": \"********\"}"
        );
    }

    #[test]
    fn every_line_of_a_multi_line_secret_is_masked() {
        let redactor =
            Redactor::new(["-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----\n".to_owned()]);
        assert_eq!(
            redactor.apply("got AAAAsecretline here"),
            "got ******** here"
        );
    }
}
