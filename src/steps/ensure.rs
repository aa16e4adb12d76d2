//! `ensure:` something is in place on the host: a command that checks it,
//! and one that puts it there when the check fails, after which the check
//! must pass. `wptdeploy setup`'s parts are made of it.
//!
//! ```yaml
//! - name: the app user {{ app_user }}
//!   ensure:
//!     what: "the user {{ app_user }}"
//!     check: "id -u {{ app_user }}"
//!     fix: "useradd --system --user-group --home-dir {{ base_path }} --shell /usr/sbin/nologin {{ app_user }}"
//!   become: root
//! ```
//!
//! The check runs first: when it passes, nothing changes (`in place`).
//! Otherwise the fix runs (under `set -e`: its first failing command
//! fails the step, with that command's own error), then the check again:
//! a fix after which the check still fails fails the step (what `ensure`
//! says happened is what the host has). Under `--check`, only the check runs, and the step says
//! `missing: WHAT` (planned) or `in place` (done: nothing to do), so a
//! half-set-up host shows exactly what is missing. Values in both commands are shell-quoted.

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, StepFailure};
use crate::template::TemplateError;

/// The `ensure:` kind.
pub struct EnsureKind;

/// `ensure:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsureArgs {
    /// What is ensured, in words (`the user www-data`).
    pub what: Tmpl,
    /// A command that exits 0 when it is in place; it changes nothing.
    pub check: Tmpl,
    /// A command that puts it in place.
    pub fix: Tmpl,
}

impl StepKind for EnsureKind {
    const KEY: &'static str = "ensure";
    const SUMMARY: &'static str = "make something so on the host: a check, and a fix run only when the check fails (then checked again)";
    type Args = EnsureArgs;

    fn templates(a: &EnsureArgs) -> Vec<&str> {
        vec![&a.what.0, &a.check.0, &a.fix.0]
    }

    fn prepare(a: &EnsureArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let what = render.text(&a.what)?;
        let check = render.shell(&a.check)?;
        let fix = render.shell(&a.fix)?;
        let checked = format!("( {check}\n) >/dev/null 2>&1");
        let script = format!(
            "if {checked}; then echo wptdeploy.was=in-place; exit 0; fi\n( set -e\n{fix}\n)\nfixed=$?; if [ \"$fixed\" -ne 0 ]; then exit \"$fixed\"; fi\nif {checked}; then echo wptdeploy.was=fixed; else echo wptdeploy.was=still-missing; fi\n"
        );
        let probe = format!(
            "if {checked}; then echo wptdeploy.was=in-place; else echo wptdeploy.was=missing; fi\n"
        );
        let probe = render.command(probe);
        Ok(Prepared::new(render.command(script), move |ran| {
            let marks = ran.succeeded()?;
            outcome(marks.get("was").map(String::as_str), &what)
        })
        .with_probe(probe)
        // Its check may run as a user, or in a database, a step before it makes.
        .probe_may_wait())
    }
}

/// What the check said, before and after the fix.
fn outcome(was: Option<&str>, what: &str) -> Result<Outcome, StepFailure> {
    let (changed, note) = match was {
        Some("in-place") => {
            return Ok(Outcome {
                note: Some("in place".to_owned()),
                in_place: true,
                ..Outcome::default()
            });
        }
        Some("fixed") => (true, format!("made: {what}")),
        Some("missing") => (false, format!("missing: {what}")),
        _ => {
            return Err(StepFailure {
                message: format!("the fix ran, and the check still fails: {what} is not in place"),
                hints: vec!["`-v` shows both commands' output".into()],
            });
        }
    };
    Ok(Outcome {
        changed,
        note: Some(note),
        ..Outcome::default()
    })
}

#[cfg(test)]
mod tests {
    use crate::playbook::Step;
    use crate::template::Templates;

    fn run(dir: &std::path::Path, fix: &str) -> (Result<crate::steps::Outcome, String>, String) {
        let marker = dir.join("made");
        let yaml = format!(
            "name: make it\nensure: {{what: the marker, check: \"test -f {m}\", fix: \"{fix}\"}}\n",
            m = marker.display()
        );
        let crate::playbook::Item::Step(step) = serde_yaml::from_str(&yaml).unwrap() else {
            panic!("a step")
        };
        let step: Step = *step;
        let ctx = minijinja::Value::from(());
        let prepared = crate::steps::prepare(&step, &Templates::new(), &ctx, "me", &[]).unwrap();
        let exec = |script: &str| {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            crate::transport::Output {
                exit_code: output.status.code().unwrap(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        };
        let probed = prepared
            .outcome(&exec(&prepared.probe.as_ref().unwrap().script))
            .unwrap();
        let ran = prepared
            .outcome(&exec(&prepared.command.script))
            .map_err(|f| f.message);
        (ran, probed.note.unwrap_or_default())
    }

    /// Missing, made (and the check passes after), then in place; a fix
    /// that does not fix fails the step.
    #[test]
    fn a_fix_runs_only_when_the_check_fails_and_must_make_it_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let fix = format!("touch {}", tmp.path().join("made").display());
        let (first, probed) = run(tmp.path(), &fix);
        assert_eq!(probed, "missing: the marker");
        let first = first.unwrap();
        assert!(first.changed);
        assert_eq!(first.note.as_deref(), Some("made: the marker"));
        let (again, probed) = run(tmp.path(), &fix);
        assert_eq!(probed, "in place");
        assert!(!again.unwrap().changed);
        // The fix stops at its first failing command, whatever follows it.
        let stopping = tempfile::tempdir().unwrap();
        let (stopped, _) = run(stopping.path(), "false; true");
        assert_eq!(stopped.unwrap_err(), "exited with status 1");
        let other = tempfile::tempdir().unwrap();
        let (failed, _) = run(other.path(), "true");
        assert_eq!(
            failed.unwrap_err(),
            "the fix ran, and the check still fails: the marker is not in place"
        );
    }
}
