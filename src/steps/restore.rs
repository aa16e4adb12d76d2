//! `restore:` a backup that `backup:` made, put back into the database in
//! one transaction (`rollback --restore`).
//!
//! ```yaml
//! - name: restore the backup
//!   restore:
//!     file: "{{ rollback_restore }}"
//!     restore: pg_restore
//!     psql: psql
//!     database: "{{ db_name }}"
//!     db_user: postgres
//!     owner: "{{ app_user }}"
//!     ledger: "{{ root_state_path }}"
//!   become: root
//! ```
//!
//! As root, the archive (which `owner` can change) is read as `owner` into
//! a copy in root's `ledger` directory, and restored only if its SHA-256
//! is one `backup:` recorded there: a crafted archive never reaches the
//! superuser's pg_restore. The restore runs as the role that owns the
//! app's tables (alembic's `alembic_version`, else the database) when
//! that role is not a superuser, so even a recorded archive cannot run
//! what only a superuser may (`COPY ... TO PROGRAM`).

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, markers};
use super::root_safe::{AS_USER, UNTRUSTED};
use crate::template::TemplateError;
use crate::transport::quote;

/// The `restore:` kind.
pub struct RestoreKind;

/// `restore:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreArgs {
    /// The archive, on the host.
    pub file: Tmpl,
    /// The pg_restore command.
    pub restore: Tmpl,
    /// The psql command (to find the role that owns the app's tables).
    pub psql: Tmpl,
    /// The database.
    pub database: Tmpl,
    /// Who runs psql and pg_restore (empty: the step's user).
    #[serde(default)]
    pub db_user: Option<Tmpl>,
    /// Who owns the archive (empty: the step's user).
    #[serde(default)]
    pub owner: Option<Tmpl>,
    /// Root's own directory, where `backup:` recorded its archives.
    #[serde(default)]
    pub ledger: Option<Tmpl>,
}

impl StepKind for RestoreKind {
    const KEY: &'static str = "restore";
    const SUMMARY: &'static str =
        "restore a backup `backup:` recorded, in one transaction, as the role owning the tables";
    type Args = RestoreArgs;

    fn templates(a: &RestoreArgs) -> Vec<&str> {
        [&a.file, &a.restore, &a.psql, &a.database]
            .into_iter()
            .chain(&a.db_user)
            .chain(&a.owner)
            .chain(&a.ledger)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &RestoreArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let script = format!(
            "set -e\numask 077\nfile={} db={} db_user={} owner={} state={}\n",
            quote(&render.text(&a.file)?),
            quote(&render.text(&a.database)?),
            quote(&render.optional(a.db_user.as_ref())?),
            quote(&render.optional(a.owner.as_ref())?),
            quote(&render.optional(a.ledger.as_ref())?),
        ) + AS_USER
            + UNTRUSTED
            + &format!(
                "db_psql() {{ as_user \"$db_user\" {} \"$@\"; }}\ndb_restore() {{ as_user \"$db_user\" {} \"$@\"; }}\n",
                render.shell(&a.psql)?,
                render.shell(&a.restore)?
            )
            + SCRIPT;
        Ok(Prepared::new(render.command(script), |ran| {
            ran.succeeded()?;
            let role = markers(&ran.output.stdout)
                .get("role")
                .cloned()
                .unwrap_or_default();
            let checked = markers(&ran.output.stdout).contains_key("checked");
            let mut said = Vec::new();
            if checked {
                said.push("its checksum is one wptdeploy recorded".to_owned());
            }
            said.push(if role.is_empty() {
                "restored as the database superuser (the tables' owner is one)".to_owned()
            } else {
                format!("restored as {role}, the tables' owner")
            });
            Ok(Outcome {
                changed: true,
                register: Some(Value::from_serialize(BTreeMap::from([("role", role)]))),
                note: Some(said.join("; ")),
                ..Outcome::default()
            })
        }))
    }
}

/// The script after the values and the `db_psql` and `db_restore` functions.
const SCRIPT: &str = r#"fail() { echo "wptdeploy: $1" >&2; exit 3; }
cd /
source=$file
if [ "$(id -u)" = 0 ] && [ -n "$owner" ] && [ "$owner" != root ]; then
  ledger="$state/backups.sha256"
  [ -n "$state" ] || fail "root restores only a backup wptdeploy recorded, and no root_state_path is set"
  at=$(untrusted "$ledger")
  [ -z "$at" ] || fail "root keeps its record of backups in $state, and $at can be changed by others"
  [ -f "$ledger" ] || fail "$file is not a backup wptdeploy recorded: $ledger does not exist (backups made before wptdeploy kept one are restored by hand, once you trust the file)"
  work=$(mktemp -d "$state/restore.XXXXXX")
  trap 'rm -rf -- "$work"' EXIT
  as_user "$owner" cat -- "$file" > "$work/archive" || fail "$owner cannot read $file"
  sum=$(sha256sum < "$work/archive")
  grep -q "^${sum%% *} " "$ledger" || fail "$file is not a backup wptdeploy recorded: its SHA-256 is not in $ledger (it changed since, or something else made it)"
  echo wptdeploy.checked=yes
  source="$work/archive"
fi
role=$(db_psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "select r.rolname from pg_roles r where not r.rolsuper and r.oid = coalesce((select c.relowner from pg_class c where c.relname = 'alembic_version' and c.relkind = 'r' limit 1), (select d.datdba from pg_database d where d.datname = current_database()))") \
  || fail "cannot read who owns $db's tables"
db_restore --clean --if-exists --no-owner --single-transaction --exit-on-error ${role:+"--role=$role"} -d "$db" < "$source"
printf 'wptdeploy.role=%s\n' "$role"
"#;
