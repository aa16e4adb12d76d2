//! `say:` text shown to the person; nothing runs.
//!
//! ```yaml
//! - name: open a pull request
//!   say: "push {{ commit }} and open a PR with the migration file"
//! ```

use super::kind::{Effect, Place, Prepared, Render, StepKind, Tmpl};
use super::outcome::Outcome;
use crate::template::TemplateError;
use crate::transport::RemoteCommand;

/// The `say:` kind.
pub struct Say;

impl StepKind for Say {
    const KEY: &'static str = "say";
    const SUMMARY: &'static str = "text shown to the person; nothing runs";
    const PLACE: Place = Place::ThisMachine;
    type Args = Tmpl;

    fn templates(args: &Tmpl) -> Vec<&str> {
        vec![&args.0]
    }

    fn prepare(args: &Tmpl, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let text = render.text(args)?.trim_end().to_owned();
        let note = text.clone();
        Ok(Prepared::new(RemoteCommand::new(String::new()), move |_| {
            Ok(Outcome {
                note: Some(note.clone()),
                ..Outcome::default()
            })
        })
        .with_effect(Effect::Says { text })
        .showing(String::new()))
    }
}
