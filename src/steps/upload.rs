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
    fn modes_are_checked() {
        assert!(super::script("/x", Some("0640")).is_ok());
        assert!(super::script("/x", Some("rwx")).is_err());
        assert!(super::script("/x", Some("0999")).is_err());
    }
}
