//! The terminal side of `--step` and of the production confirmation.

use console::{Key, Term};
use dialoguer::Input;

use crate::engine::events::{AfterFailure, Asker, Decision, Gate, StepView};
use crate::redact::Redactor;

/// Prompts on the terminal, one step at a time.
pub struct TerminalGate {
    redactor: Redactor,
    spinners: Option<indicatif::MultiProgress>,
}

impl TerminalGate {
    /// A gate that masks secrets in what it shows, and hides `spinners`
    /// (if the run shows any) while it asks.
    pub fn new(redactor: Redactor, spinners: Option<indicatif::MultiProgress>) -> Self {
        TerminalGate { redactor, spinners }
    }

    /// Runs `ask` with the spinners out of the way.
    fn paused<T>(&self, ask: impl FnOnce() -> T) -> T {
        match &self.spinners {
            Some(spinners) => spinners.suspend(ask),
            None => ask(),
        }
    }
}

/// A menu answered by one key: each choice by its first letter, the
/// default (capitalised in the menu) by Enter.
struct Menu {
    choices: &'static [&'static str],
    default: usize,
}

impl Menu {
    /// `[R]un / [s]kip / [d]etails / [a]bort`.
    fn text(&self) -> String {
        self.choices
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let key = &c[..1];
                let key = if i == self.default {
                    key.to_ascii_uppercase()
                } else {
                    key.to_owned()
                };
                format!("[{key}]{}", &c[1..])
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// What a bad key is told: the keys there are.
    fn hint(&self) -> String {
        let keys: Vec<&str> = self.choices.iter().map(|c| &c[..1]).collect();
        let (last, rest) = keys.split_last().expect("a menu has choices");
        format!(
            "  press {} or {last} (Enter: {})",
            rest.join(", "),
            self.choices[self.default]
        )
    }

    /// Asks `prompt` until a key answers it; what cannot be read (no
    /// terminal, Ctrl-C, Escape) answers with the last choice, `abort`.
    fn ask(&self, prompt: &str) -> &'static str {
        let term = Term::stderr();
        let abort = self.choices[self.choices.len() - 1];
        if !term.is_term() {
            return abort;
        }
        loop {
            let _ = term.write_str(&format!("{prompt}  {} ", self.text()));
            let chosen = match term.read_key_raw() {
                Ok(Key::Enter) => Some(self.choices[self.default]),
                Ok(Key::Char(c)) => {
                    let c = c.to_ascii_lowercase();
                    self.choices.iter().find(|w| w.starts_with(c)).copied()
                }
                Ok(Key::CtrlC | Key::Escape) | Err(_) => Some(abort),
                Ok(_) => None,
            };
            if let Some(choice) = chosen {
                let _ = term.write_line(choice);
                return choice;
            }
            let _ = term.write_line("");
            let _ = term.write_line(&self.hint());
        }
    }
}

/// Before a step: run it (the default), skip it, see its command, or stop.
const BEFORE_STEP: Menu = Menu {
    choices: &["run", "skip", "details", "abort"],
    default: 0,
};

/// After a step failed: abort is the default.
const AFTER_FAILURE: Menu = Menu {
    choices: &["retry", "skip", "output", "abort"],
    default: 3,
};

impl Gate for TerminalGate {
    fn before(&self, step: &StepView<'_>) -> Decision {
        let prompt = self.redactor.apply(&format!(
            "[{}] {}/{} {}?",
            step.host, step.index, step.total, step.name
        ));
        self.paused(|| {
            loop {
                match BEFORE_STEP.ask(&prompt) {
                    "run" => return Decision::Run,
                    "skip" => return Decision::Skip,
                    "details" => super::tell(&self.redactor.apply(step.command)),
                    _ => return Decision::Abort,
                }
            }
        })
    }

    fn after_failure(&self, step: &StepView<'_>, failure: &str) -> AfterFailure {
        let failure = self.redactor.apply(failure);
        let prompt = self.redactor.apply(&format!(
            "[{}] {}/{} {} failed.",
            step.host, step.index, step.total, step.name
        ));
        self.paused(|| {
            super::tell(&self.redactor.apply(&format!(
                "[{}] {} failed: {}",
                step.host, step.name, failure
            )));
            loop {
                match AFTER_FAILURE.ask(&prompt) {
                    "retry" => return AfterFailure::Retry,
                    "skip" => return AfterFailure::Skip,
                    "output" => super::tell(&failure),
                    _ => return AfterFailure::Abort,
                }
            }
        })
    }
}

/// Tells the person what a change to `env` will do (`said`, a line each),
/// then asks them to type `env`; true if they did.
pub fn confirm_environment(env: &str, said: &[String]) -> bool {
    for line in said {
        super::tell(line);
    }
    let typed: String = Input::new()
        .with_prompt(format!("This changes {env}. Type `{env}` to go on"))
        .allow_empty(true)
        .interact_text()
        .unwrap_or_default();
    typed.trim() == env
}

/// Asks yes or no before each step that changes a host (`unlock`); steps
/// that only look run without asking. No is the default.
pub struct ConfirmGate {
    redactor: Redactor,
    spinners: Option<indicatif::MultiProgress>,
}

impl ConfirmGate {
    /// A gate that masks secrets in its questions and hides `spinners` while it asks.
    pub fn new(redactor: Redactor, spinners: Option<indicatif::MultiProgress>) -> Self {
        ConfirmGate { redactor, spinners }
    }
}

impl Gate for ConfirmGate {
    fn before(&self, step: &StepView<'_>) -> Decision {
        if step.read_only {
            return Decision::Run;
        }
        let question = self
            .redactor
            .apply(&format!("[{}] {}?", step.host, step.name));
        let ask = || {
            dialoguer::Confirm::new()
                .with_prompt(question)
                .default(false)
                .interact()
                .unwrap_or(false)
        };
        let yes = match &self.spinners {
            Some(spinners) => spinners.suspend(ask),
            None => ask(),
        };
        if yes { Decision::Run } else { Decision::Skip }
    }

    fn after_failure(&self, _step: &StepView<'_>, _failure: &str) -> AfterFailure {
        AfterFailure::Abort
    }
}

/// Answers `confirm:` steps at the terminal: the details, then yes or no
/// (no is the default).
pub struct TerminalAsker {
    redactor: Redactor,
    spinners: Option<indicatif::MultiProgress>,
}

impl TerminalAsker {
    /// An asker that masks secrets in what it shows and hides `spinners` while it asks.
    pub fn new(redactor: Redactor, spinners: Option<indicatif::MultiProgress>) -> Self {
        TerminalAsker { redactor, spinners }
    }
}

impl Asker for TerminalAsker {
    fn confirm(&self, host: &str, question: &str, details: &str) -> bool {
        let ask = || {
            super::tell(&self.redactor.apply(details));
            dialoguer::Confirm::new()
                .with_prompt(self.redactor.apply(&format!("[{host}] {question}")))
                .default(false)
                .interact()
                .unwrap_or(false)
        };
        match &self.spinners {
            Some(spinners) => spinners.suspend(ask),
            None => ask(),
        }
    }
}
