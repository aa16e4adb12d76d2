//! `restart:` the command that restarts the app.
//!
//! ```yaml
//! - name: restart the app
//!   restart: "{{ restart_command }}"
//!   become: root
//! ```
//!
//! Like `run:`, but remembered: when a later step fails and the release is
//! switched back, it runs again so that the previous release is served.
//! Its output, trimmed, is what `register:` stores.

use super::kind::{Effect, Prepared, Render, StepKind, Tmpl};
use super::run::Run;
use crate::template::TemplateError;

/// The `restart:` kind.
pub struct Restart;

impl StepKind for Restart {
    const KEY: &'static str = "restart";
    const SUMMARY: &'static str =
        "the command that restarts the app; run again after a switch back";
    const BACKGROUND: bool = true;
    type Args = Tmpl;

    fn templates(args: &Tmpl) -> Vec<&str> {
        vec![&args.0]
    }

    fn prepare(args: &Tmpl, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        Ok(Run::prepare(args, render)?.with_effect(Effect::Restarts))
    }
}
