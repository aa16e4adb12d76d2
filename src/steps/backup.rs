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
//!     ledger: "{{ root_state_path }}"
//!   become: root
//!   register: backup
//! ```
//!
//! A `pg_dump -Fc` of `database` into `dir`, named after the release: it
//! must be non-empty and readable by `pg_restore --list`, is written with
//! mode 0600 by `owner` (root only starts the tools as the two users), its
//! SHA-256 is kept in root's `ledger`, and its restore command is shown.
//! Registers `{file}`.

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, StepFailure, markers};
use super::root_safe::{AS_USER, UNTRUSTED};
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
    /// Root's own directory (`root_state_path`), where the backup's
    /// SHA-256 is recorded when the step runs as root: `restore:` takes
    /// only an archive recorded there.
    #[serde(default)]
    pub ledger: Option<Tmpl>,
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
            .chain(&a.ledger)
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
            ledger: &render.optional(a.ledger.as_ref())?,
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
    /// Root's own directory, where the backup's checksum is recorded
    /// (empty: none kept).
    pub ledger: &'a str,
}

impl Backup<'_> {
    /// The script. The dump runs as `db_user` and streams to a file that
    /// `owner` creates and writes (root never opens a path in the backup
    /// directory, which `owner` can change); its SHA-256, taken from the
    /// stream, goes to root's ledger, the only backups `restore:` takes as
    /// root. The file must be non-empty and read back by pg_restore before
    /// it gets its name.
    pub fn script(&self) -> String {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("{}-{}-{stamp}.dump", self.database, self.release);
        format!(
            "set -e\numask 077\ndir={} file={} db_user={} owner={} state={}\n",
            quote(self.dir),
            quote(&format!("{}/{name}", self.dir.trim_end_matches('/'))),
            quote(self.db_user),
            quote(self.owner),
            quote(self.ledger),
        ) + AS_USER
            + UNTRUSTED
            + r#"as_db() { as_user "$db_user" "$@"; }
as_owner() { as_user "$owner" "$@"; }
work=$(mktemp -d) part=
fail() { [ -z "$part" ] || as_owner rm -f -- "$part"; rm -rf -- "$work"; echo "wptdeploy: $1; no backup, so no migration" >&2; exit 3; }
cd /
if [ ! -d "$dir" ] && ! as_owner mkdir -p -m 0750 -- "$dir" 2>"$work/err"; then
  # Root makes it for the owner only where no one else can change the path.
  at=$(untrusted "${dir%/*}")
  [ "$(id -u)" = 0 ] && [ -n "$owner" ] && [ -z "$at" ] || fail "cannot make the backup directory: $(cat "$work/err")"
  install -d -m 0750 -o "$owner" -g "$(id -gn -- "$owner")" -- "$dir"
fi
part=$(as_owner mktemp -- "$dir/.partial.XXXXXX") || { part=; fail "cannot write in $dir"; }
mkfifo "$work/stream"
sha256sum < "$work/stream" > "$work/sum" &
summing=$!
"# + &format!(
            "{{ as_db {} -Fc -d {}; echo $? > \"$work/status\"; }} | tee \"$work/stream\" \\\n  | as_owner sh -c 'cat > \"$1\"' sh \"$part\" || fail \"cannot write $part\"\n\
             wait \"$summing\"\n\
             [ \"$(cat \"$work/status\")\" = 0 ] || fail 'pg_dump failed'\n\
             [ -s \"$work/sum\" ] && [ \"$(as_owner stat -c %s -- \"$part\")\" != 0 ] || fail 'pg_dump wrote an empty file'\n\
             as_owner cat -- \"$part\" | as_db {} --list > /dev/null || fail 'pg_restore cannot read the backup back'\n",
            self.dump,
            quote(self.database),
            self.restore,
        ) + r#"size=$(as_owner stat -c %s -- "$part")
as_owner mv -f -T -- "$part" "$file"
part=
if [ -n "$state" ] && [ "$(id -u)" = 0 ]; then
  at=$(untrusted "$state")
  [ -z "$at" ] || fail "root keeps its record of backups in $state, and $at can be changed by others"
  install -d -m 0700 -- "$state"
  printf '%s  %s\n' "$(cut -d' ' -f1 < "$work/sum")" "$file" >> "$state/backups.sha256"
fi
rm -rf -- "$work"
printf 'wptdeploy.backup=%s\nwptdeploy.size=%s\n' "$file" "$size"
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
