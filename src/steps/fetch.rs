//! `fetch:` a file from the host into a local directory: read on the host
//! as the step's user (the app user, whose file it is: never as root),
//! only if it is a regular file and not a link, sent back base64-encoded
//! on the step's own channel, and written to a new file only (a local file
//! of that name is never overwritten). A migration file is then read and
//! reviewed.
//!
//! ```yaml
//! - name: pull the migration into this checkout
//!   fetch:
//!     src: "{{ generated.path }}"
//!     dest: "{{ migration_into }}"
//!   become: "{{ app_user }}"
//!   register: pulled
//! ```
//!
//! Registers `{local, revision, parent, tables, expect}` and warns about
//! what its review finds.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, StepFailure};
use crate::migrations::file;
use crate::template::TemplateError;
use crate::transport::quote;

/// The `fetch:` kind.
pub struct FetchKind;

/// `fetch:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    /// The file on the host.
    pub src: Tmpl,
    /// The local directory.
    pub dest: Tmpl,
}

impl StepKind for FetchKind {
    const KEY: &'static str = "fetch";
    const SUMMARY: &'static str = "copy a file (not a link) from the host, read as the step's user, into a local directory, never overwriting";
    type Args = FetchArgs;

    fn templates(a: &FetchArgs) -> Vec<&str> {
        vec![&a.src.0, &a.dest.0]
    }

    fn prepare(a: &FetchArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let src = render.text(&a.src)?;
        let dest = PathBuf::from(render.text(&a.dest)?);
        let script = format!("src={}\n", quote(&src)) + READ;
        Ok(Prepared::new(render.command(script), move |ran| {
            ran.succeeded()?;
            let encoded: String = ran
                .output
                .stdout
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| StepFailure {
                    message: format!("what came back for {src} is not the file's bytes ({e}); nothing was written"),
                    hints: vec!["run it again with `-v` to see what the host printed".into()],
                })?;
            save(&bytes, &src, &dest)
        }))
    }
}

/// Prints `$src` base64-encoded, if it is a regular file of at most
/// 4 MiB and not a symbolic link.
const READ: &str = r#"fail() { echo "wptdeploy: $1; nothing was pulled" >&2; exit 3; }
[ ! -L "$src" ] || fail "$src is a symbolic link, and only a file itself is pulled"
[ -f "$src" ] || fail "$src is not a regular file"
[ "$(stat -c %s -- "$src")" -le 4194304 ] || fail "$src is larger than 4 MiB"
base64 < "$src"
"#;

/// Saves `bytes` (read from `src` on the host) into `dest`, as a file that
/// did not exist.
pub fn save(bytes: &[u8], src: &str, dest: &Path) -> Result<Outcome, StepFailure> {
    let name = src.rsplit('/').next().unwrap_or(src);
    let local = dest.join(name);
    let written = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&local)
        .and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written {
        let exists = e.kind() == std::io::ErrorKind::AlreadyExists;
        return Err(StepFailure {
            message: if exists {
                format!(
                    "{} already exists locally; wptdeploy never overwrites a local file",
                    local.display()
                )
            } else {
                format!("cannot write {}: {e}", local.display())
            },
            hints: vec!["move the local file away, or pass `--into DIR`".into()],
        });
    }
    Ok(Outcome {
        changed: true,
        note: Some(format!("saved as {}", local.display())),
        ..described(bytes, src, &local)
    })
}

/// A file copied between `remote` and `local`, as later steps see it:
/// registers `{local, path, file}` and, for a migration file, what
/// `migration-apply.yml` needs (`revision`, `parent`, `tables`, `expect`,
/// `unexpect`), with its review as warnings.
pub fn described(bytes: &[u8], remote: &str, local: &Path) -> Outcome {
    let name = remote.rsplit('/').next().unwrap_or(remote);
    let parsed = file::parse(&String::from_utf8_lossy(bytes));
    let mut register = parsed.description(name);
    register.insert("local", local.display().to_string());
    register.insert("path", remote.to_owned());
    Outcome {
        register: Some(Value::from_serialize(&register)),
        warnings: parsed
            .review()
            .into_iter()
            .map(|w| format!("review {name}: {w}"))
            .collect(),
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATION: &[u8] = include_bytes!("../../tests/fixtures/4dafe3eac60e_add_comment_url.py");

    #[test]
    fn a_file_is_saved_read_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let src = "/srv/r/migrations/versions/4dafe3eac60e_add_comment_url.py";
        let outcome = save(MIGRATION, src, dir.path()).unwrap();
        let register = outcome.register.unwrap();
        assert_eq!(
            register.get_attr("revision").unwrap().as_str(),
            Some("4dafe3eac60e")
        );
        assert_eq!(
            register.get_attr("expect").unwrap().as_str(),
            Some("pull_request.comment_url:text")
        );
        let local = dir.path().join("4dafe3eac60e_add_comment_url.py");
        assert_eq!(fs_err::read(&local).unwrap(), MIGRATION);
        fs_err::write(&local, "my edits").unwrap();
        let again = save(MIGRATION, src, dir.path()).unwrap_err();
        assert!(
            again.message.contains("never overwrites"),
            "{}",
            again.message
        );
        assert_eq!(fs_err::read_to_string(&local).unwrap(), "my edits");
    }

    #[test]
    fn a_local_link_of_that_name_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        let name = dir.path().join("x.py");
        std::os::unix::fs::symlink(&target, &name).unwrap();
        let err = save(MIGRATION, "/srv/x.py", dir.path()).unwrap_err();
        assert!(err.message.contains("never overwrites"), "{}", err.message);
        assert!(!target.exists());
    }

    fn read(src: &std::path::Path) -> std::process::Output {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("src={}\n{READ}", quote(&src.display().to_string())))
            .output()
            .unwrap()
    }

    #[test]
    fn only_a_regular_file_is_read_never_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.py");
        fs_err::write(&file, MIGRATION).unwrap();
        let out = read(&file);
        assert!(out.status.success());
        let text: String = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap(),
            MIGRATION
        );
        let link = dir.path().join("b.py");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let out = read(&link);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is a symbolic link"),
            "{out:?}"
        );
    }
}
