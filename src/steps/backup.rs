//! `backup:` a database backup that fails closed before a migration.
//!
//! ```yaml
//! - name: back up the database
//!   backup:
//!     dump: pg_dump
//!     restore: pg_restore
//!     database: "{{ db_name }}"
//!     dir: "{{ backup_path }}"
//!     release: "{{ release.sha }}"
//!     db_user: postgres
//!     owner: "{{ app_user }}"
//!   become: root
//!   register: backup
//! ```
//!
//! A `pg_dump -Fc` of `database` into `dir`, named after the release: it
//! must be non-empty and readable by `pg_restore --list`, is written with
//! mode 0600, and its restore command is shown. Registers `{file}`.

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, StepFailure, markers};
use crate::template::TemplateError;
use crate::transport::{Output, quote};

/// The `backup:` kind.
pub struct BackupKind;

/// `backup:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupArgs {
    /// The pg_dump command (a shell template, e.g. `pg_dump`).
    pub dump: Tmpl,
    /// The pg_restore command, to check the backup reads back.
    pub restore: Tmpl,
    /// The database.
    pub database: Tmpl,
    /// The directory for backups.
    pub dir: Tmpl,
    /// The release the backup belongs to (pruned with it).
    pub release: Tmpl,
    /// The user pg_dump and pg_restore run as (e.g. `postgres`, for peer
    /// authentication), from the step's own user: run the step as root.
    #[serde(default)]
    pub db_user: Option<Tmpl>,
    /// Who owns the backup and its directory (the app user, so pruning
    /// can remove it).
    #[serde(default)]
    pub owner: Option<Tmpl>,
}

impl StepKind for BackupKind {
    const KEY: &'static str = "backup";
    const SUMMARY: &'static str =
        "a `pg_dump -Fc` that fails closed: non-empty, read back by pg_restore, 0600";
    type Args = BackupArgs;

    fn templates(a: &BackupArgs) -> Vec<&str> {
        [&a.dump, &a.restore, &a.database, &a.dir, &a.release]
            .into_iter()
            .chain(&a.db_user)
            .chain(&a.owner)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &BackupArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let restore = render.shell(&a.restore)?;
        let database = render.text(&a.database)?;
        let db_user = render.optional(a.db_user.as_ref())?;
        let script = Backup {
            dump: &render.shell(&a.dump)?,
            restore: &restore,
            database: &database,
            dir: &render.text(&a.dir)?,
            release: &render.text(&a.release)?,
            db_user: &db_user,
            owner: &render.optional(a.owner.as_ref())?,
        }
        .script();
        Ok(Prepared::new(render.command(script), move |ran| {
            ran.succeeded()?;
            outcome(ran.output, &restore, &database, &db_user)
        }))
    }
}

/// A backup to take.
struct Backup<'a> {
    /// The pg_dump command (shell text, values quoted).
    pub dump: &'a str,
    /// The pg_restore command (shell text, values quoted).
    pub restore: &'a str,
    /// The database.
    pub database: &'a str,
    /// Where backups go.
    pub dir: &'a str,
    /// The release it belongs to.
    pub release: &'a str,
    /// Who runs pg_dump and pg_restore (empty: the step's user).
    pub db_user: &'a str,
    /// Who owns the file and the directory (empty: the step's user).
    pub owner: &'a str,
}

impl Backup<'_> {
    /// The script: dump to a partial file (the database tools run as
    /// `db_user`, the file written by the step's user), check it is
    /// non-empty and that pg_restore reads it, then make it 0600, give it
    /// to `owner` and its name.
    pub fn script(&self) -> String {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("{}-{}-{stamp}.dump", self.database, self.release);
        format!(
            "set -e\numask 077\ndir={} file={} db_user={} owner={}\npart=\"$file.partial\"\n",
            quote(self.dir),
            quote(&format!("{}/{name}", self.dir.trim_end_matches('/'))),
            quote(self.db_user),
            quote(self.owner),
        ) + r#"as_db() {
  if [ -z "$db_user" ] || [ "$(id -un)" = "$db_user" ]; then "$@"
  elif [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then runuser -u "$db_user" -- "$@"
  else sudo -n -u "$db_user" -- "$@"; fi
}
fail() { rm -f -- "$part"; echo "wptdeploy: $1; no backup, so no migration" >&2; exit 3; }
cd /
if [ ! -d "$dir" ]; then
  if [ -n "$owner" ]; then install -d -m 0750 -o "$owner" -g "$(id -gn -- "$owner")" -- "$dir"; else mkdir -p -- "$dir"; fi
fi
"# + &format!(
            "as_db {} -Fc -d {} > \"$part\" || fail 'pg_dump failed'\n\
             [ -s \"$part\" ] || fail 'pg_dump wrote an empty file'\n\
             as_db {} --list < \"$part\" > /dev/null || fail 'pg_restore cannot read the backup back'\n",
            self.dump,
            quote(self.database),
            self.restore,
        ) + r#"chmod 600 -- "$part"
if [ -n "$owner" ]; then chown -- "$owner:$(id -gn -- "$owner")" "$part"; fi
mv -- "$part" "$file"
printf 'wptdeploy.backup=%s
wptdeploy.size=%s
' "$file" "$(wc -c < "$file")"
"#
    }
}

/// Reads the backup's path and size; says how to restore it.
fn outcome(
    output: &Output,
    restore: &str,
    database: &str,
    db_user: &str,
) -> Result<Outcome, StepFailure> {
    let marks = markers(&output.stdout);
    let Some(file) = marks.get("backup") else {
        return Err(StepFailure {
            message: "the backup step did not report its file".into(),
            hints: vec![],
        });
    };
    let size = marks.get("size").map_or("?", |s| s.trim());
    let register = BTreeMap::from([("file", file.clone())]);
    Ok(Outcome {
        changed: true,
        register: Some(Value::from_serialize(&register)),
        note: Some(format!(
            "{file} ({size} bytes, mode 0600); to restore: {as_db}{restore} --clean --if-exists -d {} < {}",
            quote(database),
            quote(file),
            as_db = if db_user.is_empty() {
                String::new()
            } else {
                format!("sudo -u {} ", quote(db_user))
            },
        )),
        ..Outcome::default()
    })
}
