//! The one place that decides what reaches stdout and stderr: which
//! reporter draws a run's events (spinners, plain lines, JSON), the
//! command's own notes (quiet under `-q` and `--output json`), data on
//! stdout, and the final error with its hints. Stdout carries data only.

use std::io::IsTerminal as _;
use std::io::Write as _;
use std::sync::Arc;

use crate::cancel::Cancel;
use crate::cli::{CommonArgs, OutputFormat};
use crate::error::Error;
use crate::report::{
    JsonReporter, PlainReporter, ProgressReporter, Redacted, Redactor, Reporter, Verbosity, tell,
};

/// How much `common` asks to see.
pub fn verbosity(common: &CommonArgs) -> Verbosity {
    if common.quiet {
        Verbosity::Quiet
    } else if common.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    }
}

/// The reporter `common` asks for, showing `verbosity`, masking what
/// `redactor` knows; with it, the spinners' screen when it draws any
/// (prompts hide them while asking). An output that closes cancels `cancel`.
pub fn reporter(
    common: &CommonArgs,
    verbosity: Verbosity,
    redactor: Redactor,
    cancel: &Cancel,
) -> (Arc<dyn Reporter>, Option<indicatif::MultiProgress>) {
    let cancel = cancel.clone();
    if common.output == OutputFormat::Json {
        let json = JsonReporter::new(verbosity);
        return (Arc::new(Redacted::new(json, redactor, cancel)), None);
    }
    let spinners =
        verbosity != Verbosity::Quiet && !common.no_progress && std::io::stderr().is_terminal();
    if spinners {
        let progress = ProgressReporter::new(verbosity);
        let screen = progress.screen();
        (
            Arc::new(Redacted::new(progress, redactor, cancel)),
            Some(screen),
        )
    } else {
        let plain = PlainReporter::new(verbosity);
        (Arc::new(Redacted::new(plain, redactor, cancel)), None)
    }
}

/// A note from the command to the person (what to do next), on stderr;
/// nothing under `-q` or `--output json`.
pub fn note(common: &CommonArgs, text: &str) {
    if !common.quiet && common.output != OutputFormat::Json {
        tell(text);
    }
}

/// Lines of data on stdout (`--list-steps`). A reader that stopped
/// (`| head`) has what it wanted: the rest is dropped quietly.
pub fn data(lines: impl IntoIterator<Item = String>) {
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        if writeln!(stdout, "{line}").is_err() {
            return;
        }
    }
}

/// The error a command ended with, and its hints, masked by `redactor`.
/// It may end with a remote program's output: control characters in it
/// are shown, not obeyed.
pub fn error(error: &Error, redactor: &Redactor) {
    tell(&format!("error: {}", redactor.apply(&error.to_string())));
    for hint in error.hints() {
        tell(&format!("hint: {}", redactor.apply(&hint)));
    }
}
