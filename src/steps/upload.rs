//! `upload:` copy a local file to the host, verbatim. With `template:`, it
//! writes files on the host atomically (a temporary file renamed into
//! place) and never world-readable while being written; the content
//! travels base64-encoded on standard input, so it appears on no command
//! line and in no plan.
//!
//! ```yaml
//! - name: put the edited migration into the release
//!   upload:
//!     src: "{{ pulled.local }}"
//!     dest: "{{ release.path }}/migrations/versions/{{ pulled.file }}"
//!   register: uploaded
//! ```
//!
//! The local file is read when the step runs (after any earlier local
//! edit). A migration file is also read: registers `{local, path, file,
//! revision, parent, tables, expect, unexpect}`.

use std::path::PathBuf;

use base64::Engine as _;
use serde::Deserialize;

use super::fetch;
use super::kind::{Effect, LocalFile, Prepared, Render, StepKind, Tmpl, check_literal};
use super::outcome::{Outcome, StepFailure};
use super::shell_fns::DIR_OF;
use crate::template::TemplateError;

/// The `upload:` kind.
pub struct UploadKind;

/// `upload:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadArgs {
    /// The local file.
    pub src: Tmpl,
    /// Destination path on the host.
    pub dest: Tmpl,
    /// Octal file mode (default `0644`).
    #[serde(default)]
    pub mode: Option<Tmpl>,
}

impl StepKind for UploadKind {
    const KEY: &'static str = "upload";
    const SUMMARY: &'static str = "copy a local file to the host, atomically";
    type Args = UploadArgs;

    fn check(a: &UploadArgs) -> Result<(), String> {
        check_literal(a.mode.as_ref(), |m| {
            check_mode(m).map_err(|e| format!("upload: {e}"))
        })
    }

    fn templates(a: &UploadArgs) -> Vec<&str> {
        [&a.src, &a.dest]
            .into_iter()
            .chain(&a.mode)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &UploadArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let dest = render.text(&a.dest)?;
        let mode = a.mode.as_ref().map(|m| render.text(m)).transpose()?;
        let command = render.command(script(&dest, mode.as_deref())?);
        let src = PathBuf::from(render.text(&a.src)?);
        let shown = format!(
            "{}\n(its standard input: {} from this machine, base64-encoded)",
            command.plan_text(),
            src.display()
        );
        let effect = Effect::SendsLocalFile(LocalFile { src: src.clone() });
        Ok(Prepared::new(command, move |ran| {
            let outcome = ran.changed()?;
            let bytes = ran.copied.unwrap_or_default();
            Ok(Outcome {
                changed: outcome.changed,
                note: Some(if outcome.changed {
                    format!("{} written to {dest}", src.display())
                } else {
                    format!("{dest} already had that content")
                }),
                ..fetch::described(bytes, &dest, &src)
            })
        })
        .with_effect(effect)
        .showing(shown))
    }
}

impl LocalFile {
    /// Reads the file, as the command's standard input.
    pub fn read(&self) -> Result<(Vec<u8>, String), StepFailure> {
        let bytes = fs_err::read(&self.src).map_err(|e| StepFailure {
            message: format!("cannot read the local file to upload: {e}"),
            hints: Vec::new(),
        })?;
        let stdin = encode(&bytes);
        Ok((bytes, stdin))
    }
}

/// Checks an octal file mode like `0640`.
pub(super) fn check_mode(mode: &str) -> Result<(), String> {
    if (3..=4).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        Ok(())
    } else {
        Err(format!("mode `{mode}` is not an octal file mode like 0640"))
    }
}

/// Writes standard input (base64) to `dest` with `mode`, atomically.
pub(super) fn script(dest: &str, mode: Option<&str>) -> Result<String, TemplateError> {
    let mode = mode.unwrap_or("0644");
    check_mode(mode).map_err(|e| TemplateError::new(format!("template: {e}")))?;
    Ok(
        format!("dest={} mode={mode}\n", crate::transport::quote(dest))
            + DIR_OF
            + r#"set -e
dir_of "$dest"
[ -d "$dir" ] || (umask 022; mkdir -p -- "$dir")
umask 077
tmp="$dest.wptdeploy-new"
base64 -d > "$tmp"
if cmp -s -- "$tmp" "$dest"; then rm -f -- "$tmp"; chmod "$mode" -- "$dest"; echo wptdeploy.changed=false
else chmod "$mode" -- "$tmp"; mv -f -- "$tmp" "$dest"; echo wptdeploy.changed=true; fi
"#,
    )
}

/// Base64 in 76-character lines, as `base64 -d` reads it.
pub(super) fn encode(content: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 + 1);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn modes_are_checked() {
        assert!(super::script("/x", Some("0640")).is_ok());
        assert!(super::script("/x", Some("rwx")).is_err());
        assert!(super::script("/x", Some("0999")).is_err());
    }
}
