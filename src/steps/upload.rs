//! `template:` and `upload:` write content to a file on the host,
//! atomically (a temporary file renamed into place) and never
//! world-readable while being written. The content travels base64-encoded
//! on standard input, so it appears on no command line and in no plan.

use std::path::Path;

use base64::Engine as _;

use super::{Outcome, StepFailure, TemplateError, failure, fetch, markers};
use crate::transport::{Output, RemoteCommand, quote};

/// The upload of `src`'s `bytes` to `dest` ran as `command`: what it did.
pub fn outcome(
    command: &RemoteCommand,
    output: &Output,
    bytes: &[u8],
    src: &Path,
    dest: &str,
) -> Result<Outcome, StepFailure> {
    if output.exit_code != 0 {
        return Err(failure(command, output));
    }
    let changed = markers(&output.stdout)
        .get("changed")
        .is_none_or(|c| c == "true");
    Ok(Outcome {
        changed,
        note: Some(if changed {
            format!("{} written to {dest}", src.display())
        } else {
            format!("{dest} already had that content")
        }),
        ..fetch::described(bytes, dest, src)
    })
}

/// Reads the local file an `upload:` sends.
pub fn read(src: &Path) -> Result<Vec<u8>, StepFailure> {
    fs_err::read(src).map_err(|e| StepFailure {
        message: format!("cannot read the local file to upload: {e}"),
        hints: Vec::new(),
    })
}

pub(super) fn script(dest: &str, mode: Option<&str>) -> Result<String, TemplateError> {
    let mode = mode.unwrap_or("0644");
    if !(3..=4).contains(&mode.len()) || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(TemplateError::new(format!(
            "template: mode `{mode}` is not an octal file mode like 0640"
        )));
    }
    Ok(format!("dest={} mode={mode}\n", quote(dest))
        + r#"set -e
umask 077
mkdir -p -- "$(dirname -- "$dest")"
tmp="$dest.wptdeploy-new"
base64 -d > "$tmp"
chmod "$mode" -- "$tmp"
if cmp -s -- "$tmp" "$dest"; then rm -f -- "$tmp"; chmod "$mode" -- "$dest"; echo wptdeploy.changed=false
else mv -f -- "$tmp" "$dest"; echo wptdeploy.changed=true; fi
"#)
}

/// Prints the current content of `path`, base64-encoded (for `--check`'s
/// diff; read quietly, never streamed, as it may hold secrets).
pub fn read_current(path: &str) -> RemoteCommand {
    RemoteCommand::new(format!(
        "f={}\nif [ -f \"$f\" ]; then echo wptdeploy.exists=true; base64 < \"$f\"; else echo wptdeploy.exists=false; fi\n",
        quote(path)
    ))
}

/// What `--check` says of a template: the file it comes from, and how the
/// host's current file would change (a unified diff; secrets are masked on
/// the way out like everything else).
pub fn plan_note(
    output: &Output,
    content: &str,
    source: &str,
    current: &str,
) -> (String, Option<String>) {
    let exists = markers(&output.stdout).get("exists").map(String::as_str) == Some("true");
    let old = if exists && output.exit_code == 0 {
        let encoded: String = output
            .stdout
            .lines()
            .filter(|l| !l.starts_with("wptdeploy."))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    } else {
        None
    };
    let Some(old) = old else {
        let why = if output.exit_code == 0 {
            "new"
        } else {
            "unreadable now"
        };
        return (format!("from {source}; {current} is {why}"), None);
    };
    if old == content {
        return (format!("from {source}; {current} unchanged"), None);
    }
    let diff = similar::TextDiff::from_lines(old.as_str(), content)
        .unified_diff()
        .context_radius(2)
        .header(current, &format!("{current} (rendered)"))
        .to_string();
    (format!("from {source}; {current} changes"), Some(diff))
}

/// Base64 in 76-character lines, as `base64 -d` reads it.
pub fn encode(content: &[u8]) -> String {
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
    fn check_shows_a_diff_of_what_would_change() {
        use base64::Engine as _;
        let old = "[app]\nA = 1\nB = 2\n";
        let output = crate::transport::Output {
            exit_code: 0,
            stdout: format!(
                "wptdeploy.exists=true\n{}\n",
                base64::engine::general_purpose::STANDARD.encode(old)
            ),
            stderr: String::new(),
        };
        let (note, diff) =
            super::plan_note(&output, "[app]\nA = 1\nB = 3\n", "t.j2", "/srv/config.txt");
        assert_eq!(note, "from t.j2; /srv/config.txt changes");
        let diff = diff.unwrap();
        assert!(diff.contains("-B = 2\n+B = 3\n"), "{diff}");
        let (same, none) = super::plan_note(&output, old, "t.j2", "/srv/config.txt");
        assert_eq!(
            (same.as_str(), none),
            ("from t.j2; /srv/config.txt unchanged", None)
        );
    }

    #[test]
    fn modes_are_checked() {
        assert!(super::script("/x", Some("0640")).is_ok());
        assert!(super::script("/x", Some("rwx")).is_err());
        assert!(super::script("/x", Some("0999")).is_err());
    }
}
