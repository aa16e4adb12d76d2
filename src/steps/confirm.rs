//! `confirm:` a yes-or-no question for the person running wptdeploy, its
//! details shown first. No, or no terminal to ask at, fails the step (so
//! nothing after it runs), saying what was asked and what to do; `yes:`
//! true answers it beforehand (a flag for scripts).
//!
//! ```yaml
//! - name: confirm applying {{ pulled.file }}
//!   confirm:
//!     question: "apply {{ pulled.file }} to {{ db_name }}?"
//!     details: "{{ lint.blocking | join('\n') }}"
//!     yes: "{{ allow_destructive }}"
//!     unattended: "`--allow-destructive` applies it without asking"
//!     refused: "{{ pulled.local }} stays for editing"
//! ```

use serde::Deserialize;

use super::kind::{Effect, Place, Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, StepFailure};
use crate::template::TemplateError;
use crate::transport::RemoteCommand;

/// The `confirm:` kind.
pub struct ConfirmKind;

/// `confirm:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmArgs {
    /// The question.
    pub question: Tmpl,
    /// What to read before answering.
    #[serde(default)]
    pub details: Option<Tmpl>,
    /// Answered yes beforehand (true/false).
    #[serde(default)]
    pub yes: Option<Tmpl>,
    /// The hint when nobody can be asked.
    #[serde(default)]
    pub unattended: Option<Tmpl>,
    /// The hint after a no.
    #[serde(default)]
    pub refused: Option<Tmpl>,
}

impl StepKind for ConfirmKind {
    const KEY: &'static str = "confirm";
    const SUMMARY: &'static str =
        "a yes-or-no question for the person, its details shown first; no fails the step";
    const PLACE: Place = Place::ThisMachine;
    type Args = ConfirmArgs;

    fn templates(a: &ConfirmArgs) -> Vec<&str> {
        std::iter::once(&a.question)
            .chain(&a.details)
            .chain(&a.yes)
            .chain(&a.unattended)
            .chain(&a.refused)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &ConfirmArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let question = render.text(&a.question)?.trim().to_owned();
        let details = render.optional(a.details.as_ref())?.trim_end().to_owned();
        if render.flag(a.yes.as_ref())? {
            let text = format!("yes, given beforehand: {question}");
            let note = text.clone();
            return Ok(Prepared::new(RemoteCommand::new(String::new()), move |_| {
                Ok(Outcome {
                    note: Some(note.clone()),
                    ..Outcome::default()
                })
            })
            .with_effect(Effect::Says { text })
            .showing(String::new()));
        }
        let unattended = render.optional(a.unattended.as_ref())?;
        let refused = render.optional(a.refused.as_ref())?;
        let asked = question.clone();
        let shown = details.clone();
        Ok(
            Prepared::new(RemoteCommand::new(String::new()), move |ran| {
                let hints = |hint: &str| {
                    std::iter::once(hint)
                        .filter(|h| !h.is_empty())
                        .map(str::to_owned)
                        .collect()
                };
                match ran.output.exit_code {
                    0 => Ok(Outcome {
                        note: Some("yes, by you".into()),
                        ..Outcome::default()
                    }),
                    1 => Err(StepFailure {
                        message: format!("you answered no to \"{asked}\""),
                        hints: hints(&refused),
                    }),
                    _ => Err(StepFailure {
                        message: format!(
                            "\"{asked}\" needs a person's yes, and there is no terminal to ask at:\n  {}",
                            shown.lines().collect::<Vec<_>>().join("\n  ")
                        ),
                        hints: hints(&unattended),
                    }),
                }
            })
            .with_effect(Effect::Asks {
                question: question.clone(),
                details,
            })
            .showing(format!("ask: {question}")),
        )
    }
}
