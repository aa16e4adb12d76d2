//! `backup:` a database backup that fails closed before a migration.

use std::collections::BTreeMap;

use minijinja::Value;

use super::{Outcome, StepFailure, markers};
use crate::transport::{Output, quote};

/// A backup to take.
pub struct Backup<'a> {
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
pub fn outcome(
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
