//! `local:` a command run on this machine, with the terminal attached.
//!
//! ```yaml
//! - name: edit the migration
//!   local: "{{ editor }} {{ pulled.local }}"
//! ```
//!
//! An editor or git can talk to the person meanwhile; values are quoted
//! as in `run:`. `become` does not apply.

use super::kind::{Effect, Place, Prepared, Render, StepKind, Tmpl};
use crate::template::TemplateError;

/// The `local:` kind.
pub struct Local;

impl StepKind for Local {
    const KEY: &'static str = "local";
    const SUMMARY: &'static str =
        "a command on this machine, with the terminal attached (an editor, git)";
    const PLACE: Place = Place::ThisMachine;
    type Args = Tmpl;

    fn templates(args: &Tmpl) -> Vec<&str> {
        vec![&args.0]
    }

    fn prepare(args: &Tmpl, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let command = render.command(render.shell(args)?);
        let place = match &command.cwd {
            Some(dir) => format!("on this machine, in {dir}"),
            None => "on this machine".into(),
        };
        let shown = format!("{place}: {}", command.script);
        Ok(Prepared::new(
            command,
            // A closure: `Ran::changed` as a path is not general over the lifetime.
            #[allow(clippy::redundant_closure_for_method_calls)]
            |ran| ran.changed(),
        )
        .with_effect(Effect::RunsHere)
        .showing(shown))
    }
}
