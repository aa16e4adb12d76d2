//! `fetch:` a file from the host into a local directory: the bytes come
//! over SFTP, are checked against the host's `sha256sum`, and are written
//! to a new file only (a local file of that name is never overwritten).
//! A migration file is then read and reviewed.
//!
//! ```yaml
//! - name: pull the migration into this checkout
//!   fetch:
//!     src: "{{ generated.path }}"
//!     dest: "{{ migration_into }}"
//!   register: pulled
//! ```
//!
//! Registers `{local, revision, parent, tables, expect}` and warns about
//! what its review finds.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use minijinja::Value;
use serde::Deserialize;
use sha2::Digest as _;

use super::kind::{Effect, Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, StepFailure};
use crate::migrations::file;
use crate::template::TemplateError;
use crate::transport::{RemoteCommand, quote};

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
    const SUMMARY: &'static str =
        "copy a file from the host into a local directory, checked, never overwriting";
    type Args = FetchArgs;

    fn templates(a: &FetchArgs) -> Vec<&str> {
        vec![&a.src.0, &a.dest.0]
    }

    fn prepare(a: &FetchArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let src = render.text(&a.src)?;
        let dest = PathBuf::from(render.text(&a.dest)?);
        let command = RemoteCommand {
            become_user: render.become_user().map(str::to_owned),
            ..RemoteCommand::new(format!("sha256sum -- {}", quote(&src)))
        };
        let effect = Effect::Downloads { src: src.clone() };
        Ok(Prepared::new(command, move |ran| {
            ran.succeeded()?;
            let bytes = ran.copied.unwrap_or_default();
            save(bytes, &ran.output.stdout, &src, &dest)
        })
        .with_effect(effect))
    }
}

/// Saves `bytes` (fetched from `src`) into `dest`, if they match the host's
/// `sha256sum` output, as a file that did not exist.
pub fn save(
    bytes: &[u8],
    sha256sum_output: &str,
    src: &str,
    dest: &Path,
) -> Result<Outcome, StepFailure> {
    let expected = sha256sum_output
        .split_whitespace()
        .next()
        .unwrap_or_default();
    let actual = hex::encode(sha2::Sha256::digest(bytes));
    if expected != actual {
        return Err(StepFailure {
            message: format!(
                "the bytes received for {src} do not match the host's checksum ({actual} != {expected}); nothing was written"
            ),
            hints: vec!["run it again; if it persists, the file changed during the copy".into()],
        });
    }
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
        note: Some(format!("saved as {} (SHA-256 checked)", local.display())),
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

    fn sum(bytes: &[u8]) -> String {
        let hex = hex::encode(sha2::Sha256::digest(bytes));
        format!("{hex}  /srv/x.py\n")
    }

    #[test]
    fn a_verified_file_is_saved_read_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let src = "/srv/r/migrations/versions/4dafe3eac60e_add_comment_url.py";
        let outcome = save(MIGRATION, &sum(MIGRATION), src, dir.path()).unwrap();
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
        let again = save(MIGRATION, &sum(MIGRATION), src, dir.path()).unwrap_err();
        assert!(
            again.message.contains("never overwrites"),
            "{}",
            again.message
        );
        assert_eq!(fs_err::read_to_string(&local).unwrap(), "my edits");
    }

    #[test]
    fn a_checksum_mismatch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = save(MIGRATION, &sum(b"other"), "/srv/x.py", dir.path()).unwrap_err();
        assert!(err.message.contains("do not match"));
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
    }
}
