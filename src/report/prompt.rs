//! The terminal side of `--step` and of the production confirmation.

use dialoguer::Input;

use super::Redactor;
use crate::engine::events::{AfterFailure, Decision, Gate, StepView};

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

    /// Asks until one of `choices` (first letters or whole words) is typed.
    fn ask(prompt: &str, choices: &[&'static str]) -> &'static str {
        let menu = choices
            .iter()
            .map(|c| format!("[{}]{}", &c[..1], &c[1..]))
            .collect::<Vec<_>>()
            .join(" / ");
        loop {
            let answer: String = Input::new()
                .with_prompt(format!("{prompt}  {menu}"))
                .allow_empty(true)
                .interact_text()
                .unwrap_or_else(|_| "abort".into());
            let answer = answer.trim().to_ascii_lowercase();
            if let Some(choice) = choices
                .iter()
                .find(|c| !answer.is_empty() && (c.starts_with(&answer) || answer == c[..1]))
            {
                return choice;
            }
        }
    }
}

impl Gate for TerminalGate {
    fn before(&self, step: &StepView<'_>) -> Decision {
        let prompt = self.redactor.apply(&format!(
            "[{}] {}/{} {}?",
            step.host, step.index, step.total, step.name
        ));
        self.paused(|| {
            loop {
                match Self::ask(&prompt, &["run", "skip", "details", "abort"]) {
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
                match Self::ask(&prompt, &["retry", "skip", "output", "abort"]) {
                    "retry" => return AfterFailure::Retry,
                    "skip" => return AfterFailure::Skip,
                    "output" => super::tell(&failure),
                    _ => return AfterFailure::Abort,
                }
            }
        })
    }
}

/// Asks the person to type `env` before a change to it; true if they did.
pub fn confirm_environment(env: &str) -> bool {
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
