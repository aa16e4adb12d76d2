//! `directory:` make sure a directory exists, with a mode.
//!
//! ```yaml
//! - name: make the uploads directory
//!   directory:
//!     path: "{{ base_path }}/uploads"
//!     mode: "0750"
//!   become: "{{ app_user }}"
//! ```
//!
//! Created with its parents when missing (changed), its mode set when it
//! differs (changed), left alone otherwise. A path that exists and is not
//! a directory fails the step; a symlink to a directory is followed.

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_literal};
use super::upload::check_mode;
use crate::template::TemplateError;
use crate::transport::quote;

/// The `directory:` kind.
pub struct DirectoryKind;

/// `directory:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryArgs {
    /// The directory.
    pub path: Tmpl,
    /// Octal mode (default `0755`).
    #[serde(default)]
    pub mode: Option<Tmpl>,
}

impl StepKind for DirectoryKind {
    const KEY: &'static str = "directory";
    const SUMMARY: &'static str = "make sure a directory exists, with a mode";
    type Args = DirectoryArgs;

    fn check(a: &DirectoryArgs) -> Result<(), String> {
        check_literal(a.mode.as_ref(), |m| {
            check_mode(m).map_err(|e| format!("directory: {e}"))
        })
    }

    fn templates(a: &DirectoryArgs) -> Vec<&str> {
        [&a.path]
            .into_iter()
            .chain(&a.mode)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &DirectoryArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let mode = render
            .given(a.mode.as_ref())?
            .unwrap_or_else(|| "0755".into());
        check_mode(&mode).map_err(|e| TemplateError::new(format!("directory: {e}")))?;
        let script = format!("dir={} mode={mode}\n", quote(&render.text(&a.path)?))
            + r#"set -e
if [ -e "$dir" ] && [ ! -d "$dir" ]; then echo "wptdeploy: $dir exists and is not a directory" >&2; exit 3; fi
if [ ! -d "$dir" ]; then mkdir -p -m "$mode" -- "$dir"; chmod "$mode" -- "$dir"; echo wptdeploy.changed=true; exit 0; fi
if [ "$(stat -L -c %a -- "$dir")" = "$(printf %o "0$mode")" ]; then echo wptdeploy.changed=false
else chmod "$mode" -- "$dir"; echo wptdeploy.changed=true; fi
"#;
        Ok(Prepared::new(
            render.command(script),
            // A closure: `Ran::changed` as a path is not general over the lifetime.
            #[allow(clippy::redundant_closure_for_method_calls)]
            |ran| ran.changed(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::playbook::Step;
    use crate::template::Templates;

    /// The step's script in a real shell: created, then unchanged, then
    /// its mode restored; a file in the way fails it.
    #[test]
    fn a_directory_is_made_once_and_its_mode_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let yaml = format!(
            "name: make it\ndirectory: {{path: {}, mode: \"0750\"}}\n",
            dir.display()
        );
        let step: crate::playbook::Item = serde_yaml::from_str(&yaml).unwrap();
        let crate::playbook::Item::Step(step) = step else {
            panic!("a step")
        };
        let step: Step = *step;
        let ctx = minijinja::Value::from(());
        let prepared = crate::steps::prepare(&step, &Templates::new(), &ctx, "me", &[]).unwrap();
        let run = || {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(&prepared.command.script)
                .output()
                .unwrap();
            prepared.outcome(&crate::transport::Output {
                exit_code: output.status.code().unwrap(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        };
        let mode = |p: &std::path::Path| {
            use std::os::unix::fs::PermissionsExt as _;
            fs_err::metadata(p).unwrap().permissions().mode() & 0o7777
        };
        assert!(run().unwrap().changed);
        assert_eq!(mode(&dir), 0o750);
        assert!(!run().unwrap().changed);
        fs_err::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        assert!(run().unwrap().changed);
        assert_eq!(mode(&dir), 0o750);
        fs_err::remove_dir(&dir).unwrap();
        fs_err::write(&dir, "").unwrap();
        let failed = run().unwrap_err();
        assert!(
            failed.message.contains("is not a directory"),
            "{}",
            failed.message
        );
    }
}
