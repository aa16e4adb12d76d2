//! `run:` a shell command on the host.
//!
//! ```yaml
//! - name: collect static files
//!   run: "{{ venv_path }}/bin/python manage.py collectstatic --noinput"
//!   cwd: "{{ release.path }}"
//!   register: collected
//! ```
//!
//! Every value in the command is shell-quoted. `changes: false` says it
//! only looks, so it also runs under `--check`; its standard output
//! (trimmed) is what `register:` stores.

use minijinja::Value;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::Outcome;
use crate::template::TemplateError;

/// The `run:` kind.
pub struct Run;

impl StepKind for Run {
    const KEY: &'static str = "run";
    const SUMMARY: &'static str =
        "a shell command on the host (values quoted); `changes: false` for one that only looks";
    const BACKGROUND: bool = true;
    const CHANGES_KEY: bool = true;
    type Args = Tmpl;

    fn templates(args: &Tmpl) -> Vec<&str> {
        vec![&args.0]
    }

    fn prepare(args: &Tmpl, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let command = render.command(render.shell(args)?);
        Ok(Prepared::new(command, |ran| {
            ran.succeeded()?;
            Ok(Outcome {
                changed: true,
                register: Some(Value::from(ran.output.stdout.trim().to_owned())),
                ..Outcome::default()
            })
        }))
    }
}
