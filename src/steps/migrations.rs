//! `migrations:` preflight checks and the upgrade, through the app's own
//! migrate command (Flask-Migrate's `python manage.py db`, or `flask db`).
//!
//! ```yaml
//! - name: check the release's migrations
//!   migrations:
//!     path: "{{ release.build_path }}"
//!     action: check
//!     psql: "{{ psql_command | safe }}"
//!     database: "{{ db_name }}"
//!   become: "{{ db_superuser }}"
//!   register: migrations
//! - name: upgrade the database
//!   migrations:
//!     command: "{{ venv_path }}/bin/python manage.py db"
//!     path: "{{ release.build_path }}"
//!     action: upgrade
//!     head: "{{ migrations.head }}"
//!     from: "{{ migrations.current }}"
//! ```
//!
//! `action: check` (read-only, so it also runs under `--check`; no Python:
//! the files' headers are read in Rust and the revision with `psql`, in one
//! round trip) requires exactly one head and a database revision this
//! release knows, refuses a pending migration the release's commit does not
//! have (a file generated on the host and never committed) unless
//! `uncommitted: allow`, and registers `{head, current, pending}`. `upgrade` runs `upgrade` and
//! requires the database to be at `head` afterwards (when it fails it says
//! which revision the database is at); `downgrade` runs `downgrade TO`;
//! `describe` reads `revisions`' files into what they do to tables;
//! `generate` autogenerates a file (`migrate -m MESSAGE`); `pending`
//! (read-only, no migrate command: the files are read in Rust and the
//! revision with `psql`) fails when the release brings migrations the
//! database has not had.

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{
    Diagnosis, Prepared, Render, StepKind, Tmpl, check_choice, check_literal, check_number,
    choice_error,
};
use super::outcome::{Outcome, StepFailure, failure};
use crate::migrations::alembic;
use crate::migrations::graph::Standing;
use crate::template::TemplateError;
use crate::transport::{Output, quote};

/// The `migrations:` kind.
pub struct MigrationsKind;

/// `migrations:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationsArgs {
    /// The migrate command, without the subcommand (a shell template; all
    /// actions but `pending`).
    #[serde(default)]
    pub command: Option<Tmpl>,
    /// The release directory to run it in.
    pub path: Tmpl,
    /// One of [`ACTIONS`].
    pub action: Tmpl,
    /// `pending`: the psql command (a shell template).
    #[serde(default)]
    pub psql: Option<Tmpl>,
    /// `pending`: the database.
    #[serde(default)]
    pub database: Option<Tmpl>,
    /// `upgrade`: the revision the database must reach.
    #[serde(default)]
    pub head: Option<Tmpl>,
    /// `upgrade`, `downgrade`: the revision the database was at before.
    #[serde(default)]
    pub from: Option<Tmpl>,
    /// The migration files' directory, relative to `path` (default `migrations/versions`).
    #[serde(default)]
    pub versions: Option<Tmpl>,
    /// `describe`: the revisions to read, comma-separated.
    #[serde(default)]
    pub revisions: Option<Tmpl>,
    /// `downgrade`: the revision to go back to (empty: `base`).
    #[serde(default)]
    pub to: Option<Tmpl>,
    /// `generate`: the migration's message (`migrate -m`).
    #[serde(default)]
    pub message: Option<Tmpl>,
    /// `generate`: the revision id to use (`migrate --rev-id`); empty: alembic picks one.
    #[serde(default)]
    pub rev_id: Option<Tmpl>,
    /// `check`: `refuse` (the default) or `allow` a pending migration whose
    /// file the release's commit does not have.
    #[serde(default)]
    pub uncommitted: Option<Tmpl>,
    /// `upgrade`: how many times to try again after PostgreSQL's
    /// `lock_timeout` stopped it (default 0).
    #[serde(default)]
    pub lock_retries: Option<Tmpl>,
    /// `upgrade`: seconds before the first retry, doubled for each next one
    /// (default 5).
    #[serde(default)]
    pub retry_delay: Option<Tmpl>,
    /// `upgrade`: the release in `path` is already live (a migration
    /// applied after the deploy): a failure's hint says so.
    #[serde(default)]
    pub live: Option<Tmpl>,
    /// `upgrade`: who runs `psql:` to name the sessions holding locks when
    /// it gives up on one (`db_superuser`; empty: the login user).
    #[serde(default)]
    pub db_user: Option<Tmpl>,
}

/// The actions, as written.
pub const ACTIONS: [&str; 9] = [
    "check",
    "upgrade",
    "landed",
    "downgrade",
    "describe",
    "generate",
    "pending",
    "revision",
    "server",
];

/// The actions that read the database with `psql`, not the migrate command.
fn uses_psql(action: &str) -> bool {
    matches!(
        action,
        "check" | "pending" | "revision" | "server" | "landed"
    )
}

/// `check`'s `uncommitted:` choices, the default first.
const UNCOMMITTED: [&str; 2] = ["refuse", "allow"];

/// Why `action` cannot run: it needs `psql` (the reads) or `command` (the rest).
fn needs(action: &str) -> String {
    let what = if uses_psql(action) { "psql" } else { "command" };
    format!("migrations: action `{action}` needs `{what}`")
}

impl StepKind for MigrationsKind {
    const KEY: &'static str = "migrations";
    const SUMMARY: &'static str = "check, upgrade, downgrade, describe, generate or find pending Flask-Migrate/alembic migrations";
    type Args = MigrationsArgs;

    fn check(a: &MigrationsArgs) -> Result<(), String> {
        check_literal(Some(&a.action), |action| {
            if !ACTIONS.contains(&action) {
                return Err(choice_error("migrations: action", &ACTIONS, action));
            }
            let given = if uses_psql(action) {
                a.psql.is_some()
            } else {
                a.command.is_some()
            };
            if given { Ok(()) } else { Err(needs(action)) }
        })?;
        check_number::<u32>(a.lock_retries.as_ref(), "migrations: lock_retries")?;
        check_number::<u32>(a.retry_delay.as_ref(), "migrations: retry_delay")?;
        check_choice(
            a.uncommitted.as_ref(),
            "migrations: uncommitted",
            &UNCOMMITTED,
        )
    }

    fn templates(a: &MigrationsArgs) -> Vec<&str> {
        [&a.path, &a.action]
            .into_iter()
            .chain(&a.command)
            .chain(&a.psql)
            .chain(&a.database)
            .chain(&a.head)
            .chain(&a.from)
            .chain(&a.message)
            .chain(&a.to)
            .chain(&a.revisions)
            .chain(&a.versions)
            .chain(&a.rev_id)
            .chain(&a.uncommitted)
            .chain(&a.lock_retries)
            .chain(&a.retry_delay)
            .chain(&a.db_user)
            .chain(&a.live)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &MigrationsArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let verb = render.text(&a.action)?;
        let shell = |t: Option<&Tmpl>| match t {
            Some(t) => render.shell(t),
            None => Err(TemplateError::new(needs(&verb))),
        };
        let from = || render.optional(a.from.as_ref());
        let action = match verb.as_str() {
            "check" => Action::Check {
                psql: shell(a.psql.as_ref())?,
                database: render.optional(a.database.as_ref())?,
                allow_uncommitted: render.choice(
                    a.uncommitted.as_ref(),
                    "migrations: uncommitted",
                    &UNCOMMITTED,
                )? == "allow",
            },
            "upgrade" => Action::Upgrade {
                head: render.optional(a.head.as_ref())?,
                from: from()?,
                live: render.flag(a.live.as_ref())?,
                retries: render.number(a.lock_retries.as_ref(), 0, "migrations: lock_retries")?,
                delay: render.number(a.retry_delay.as_ref(), 5, "migrations: retry_delay")?,
            },
            "downgrade" => Action::Downgrade {
                to: render
                    .given(a.to.as_ref())?
                    .unwrap_or_else(|| "base".into()),
                from: from()?,
            },
            "describe" => Action::Describe {
                revisions: render
                    .optional(a.revisions.as_ref())?
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            "generate" => Action::Generate {
                message: render.optional(a.message.as_ref())?,
                rev_id: render.given(a.rev_id.as_ref())?,
            },
            "pending" => Action::Pending {
                psql: shell(a.psql.as_ref())?,
                database: render.optional(a.database.as_ref())?,
            },
            "revision" => Action::Revision {
                psql: shell(a.psql.as_ref())?,
                database: render.optional(a.database.as_ref())?,
            },
            "landed" => Action::Landed {
                psql: shell(a.psql.as_ref())?,
                database: render.optional(a.database.as_ref())?,
                head: render.optional(a.head.as_ref())?,
                from: from()?,
            },
            "server" => Action::Server {
                psql: shell(a.psql.as_ref())?,
                database: render.optional(a.database.as_ref())?,
            },
            other => {
                return Err(TemplateError::new(choice_error(
                    "migrations: action",
                    &ACTIONS,
                    other,
                )));
            }
        };
        let command = if matches!(
            action,
            Action::Check { .. }
                | Action::Pending { .. }
                | Action::Revision { .. }
                | Action::Server { .. }
                | Action::Landed { .. }
        ) {
            String::new()
        } else {
            shell(a.command.as_ref())?
        };
        let versions = render
            .given(a.versions.as_ref())?
            .unwrap_or_else(|| "migrations/versions".into());
        let command = render.command(script(&command, &render.text(&a.path)?, &versions, &action));
        let read_only = matches!(
            action,
            Action::Check { .. }
                | Action::Describe { .. }
                | Action::Pending { .. }
                | Action::Revision { .. }
                | Action::Server { .. }
                | Action::Landed { .. }
        );
        let probe = read_only.then(|| command.clone());
        let diagnosis = match (&action, &a.psql) {
            (Action::Upgrade { .. }, Some(psql)) => Some(lock_holders(
                render,
                &render.shell(psql)?,
                &render.optional(a.database.as_ref())?,
                &render.optional(a.db_user.as_ref())?,
            )),
            _ => None,
        };
        let reads = uses_psql(&verb);
        let landed = matches!(action, Action::Landed { .. });
        let prepared = Prepared::new(command, move |ran| read(&action, ran.output, ran.command))
            .with_diagnosis(diagnosis);
        // The reads answer in files and revisions; the rest is alembic's.
        let prepared = if reads {
            prepared.data_on_stdout()
        } else {
            prepared
        };
        Ok(match probe {
            // After an upgrade that `--check` only shows, it cannot pass
            // yet: shown as such, not failed.
            Some(_) if landed => prepared.looking_only(),
            Some(probe) => prepared.with_probe(probe),
            None => prepared,
        })
    }
}

/// What an action's output says it did.
fn read(
    action: &Action,
    output: &Output,
    command: &crate::transport::RemoteCommand,
) -> Result<Outcome, StepFailure> {
    let succeeded = || {
        if output.exit_code == 0 {
            Ok(())
        } else {
            Err(failure(command, output))
        }
    };
    match action {
        Action::Upgrade {
            head, from, live, ..
        } => upgrade_outcome(output, head, from, *live),
        Action::Downgrade { to, from } => downgrade_outcome(output, to, from),
        Action::Generate { .. } => succeeded().and_then(|()| generate_outcome(output)),
        Action::Describe { .. } => succeeded().map(|()| describe_outcome(output)),
        Action::Pending { .. } => succeeded().and_then(|()| pending_outcome(output)),
        Action::Revision { .. } => succeeded().map(|()| revision_outcome(output)),
        Action::Server { .. } => succeeded().map(|()| server_outcome(output)),
        Action::Landed {
            database,
            head,
            from,
            ..
        } => succeeded().and_then(|()| landed_outcome(output, database, head, from)),
        Action::Check {
            allow_uncommitted, ..
        } => succeeded().and_then(|()| check_outcome(output, *allow_uncommitted)),
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Read-only, without the app: the release's migration files (read in
    /// Rust, with which of them its commit lacks) against the database's
    /// `alembic_version` (through `psql`): heads, current, pending.
    Check {
        /// The psql command (shell text, values quoted).
        psql: String,
        /// The database.
        database: String,
        /// A pending file the commit lacks is let through.
        allow_uncommitted: bool,
    },
    /// `upgrade` (again after a lock timeout, `retries` times, waiting
    /// `delay` seconds, doubled each time), then confirm the database
    /// reached `head`.
    Upgrade {
        /// The revision to reach.
        head: String,
        /// The revision before.
        from: String,
        /// Retries after a lock timeout.
        retries: u32,
        /// Seconds before the first retry.
        delay: u32,
        /// The release is already live.
        live: bool,
    },
    /// `downgrade TO`, then confirm the database is at `to` (`base`: empty).
    Downgrade {
        /// The revision to go back to.
        to: String,
        /// The revision before.
        from: String,
    },
    /// Read-only: the files of `revisions` (comma-separated, in order),
    /// merged into what they do to tables and columns.
    Describe {
        /// The revisions.
        revisions: Vec<String>,
    },
    /// Read-only, without the app: the release's migration files (read in
    /// Rust) against the database's `alembic_version` (through `psql`).
    Pending {
        /// The psql command (shell text, values quoted).
        psql: String,
        /// The database.
        database: String,
    },
    /// Read-only: the database's `alembic_version` (through `psql`), as
    /// data; a database that cannot be read is said in the data, not failed.
    Revision {
        /// The psql command (shell text, values quoted).
        psql: String,
        /// The database.
        database: String,
    },
    /// Read-only, after an upgrade: the database that `database` names
    /// (through `psql`) is at `head`. Alembic reports the database the
    /// app's own settings name; this one is the database wptdeploy checks,
    /// backs up and reports. Registers `{current}`.
    Landed {
        /// The psql command (shell text, values quoted).
        psql: String,
        /// The database.
        database: String,
        /// The revision the upgrade reported reaching.
        head: String,
        /// The revision before the upgrade.
        from: String,
    },
    /// Read-only: the server's version and the estimated rows of the
    /// tables in the current schema (what a migration's lock would cost).
    Server {
        /// The psql command (shell text, values quoted).
        psql: String,
        /// The database.
        database: String,
    },
    /// `migrate -m MESSAGE`: autogenerate a migration file.
    Generate {
        /// The migration's message.
        message: String,
        /// A fixed revision id, if wanted.
        rev_id: Option<String>,
    },
}

fn lines(section: &str, text: &str) -> String {
    let prefix = format!("@{section} ");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The script; `command` is shell text (already rendered, values quoted);
/// `versions` is the migration files' directory, relative to `path`.
fn script(command: &str, path: &str, versions: &str, action: &Action) -> String {
    let dir = quote(path);
    let listing = quote(versions);
    match action {
        // A release not built yet (under --check) has nothing to inspect.
        // `current` fails when the database is at a revision the code lacks:
        // that is reported, not treated as a crash.
        // The files' headers, the ones the release's commit does not have
        // (git, when the release is a clone), and the database's revision.
        Action::Check { psql, database, .. } => headers_and_revision(
            &dir,
            &listing,
            "echo \"wptdeploy: the release has no directory $versions: set migrations_dir (or run \\`flask db init\\` and commit the migrations directory)\" >&2; exit 3",
            "if [ -e .git ]; then git -c safe.directory='*' ls-files --others -- \"$versions\" 2>/dev/null | sed -n 's|.*/\\([^/]*\\.py\\)$|@untracked \\1|p'; fi\n",
            psql,
            database,
        ),
        // The new file must appear in the listing, not only in the output.
        Action::Generate { message, rev_id } => {
            let rev = rev_id
                .as_ref()
                .map(|r| format!(" --rev-id {}", quote(r)))
                .unwrap_or_default();
            format!(
                "cd -- {dir} || exit 3\nbefore=$(ls -1 -- {listing} 2>/dev/null || true)\n\
                 {command} migrate -m {}{rev} || exit $?\n\
                 ls -1 -- {listing} 2>/dev/null | while read -r f; do\n\
                 \x20 printf '%s\\n' \"$before\" | grep -qxF -- \"$f\" || printf '@new %s\\n' \"$f\"\ndone\n",
                quote(message)
            )
        }
        // Its error output is both shown as it comes and kept, to tell a
        // lock timeout (PostgreSQL rolled the migration back: run it again).
        Action::Upgrade { retries, delay, .. } => format!(
            "cd -- {dir} || exit 3\n\
             retries={retries} delay={delay} attempt=1\n\
             err=$(mktemp) st=$(mktemp)\ntrap 'rm -f -- \"$err\" \"$st\"' EXIT\n\
             while :; do\n\
             \x20 {{ {{ {command} upgrade; echo $? > \"$st\"; }} 2>&1 1>&3 | tee -- \"$err\" >&2; }} 3>&1\n\
             \x20 status=$(cat -- \"$st\")\n\
             \x20 [ \"$status\" = 0 ] && break\n\
             \x20 grep -q 'due to lock timeout' -- \"$err\" || break\n\
             \x20 if [ \"$attempt\" -gt \"$retries\" ]; then echo '{LOCK_TIMEOUT_MARK}' >&2; break; fi\n\
             \x20 echo \"wptdeploy: a lock was not granted within lock_timeout (attempt $attempt of $((retries + 1))); PostgreSQL rolled the migration back; trying again in ${{delay}}s\" >&2\n\
             \x20 sleep \"$delay\"; delay=$((delay * 2)); attempt=$((attempt + 1))\n\
             done\n\
             echo \"@attempts $attempt\"\n\
             [ \"$status\" = 0 ] || {command} current 2>/dev/null | sed 's/^/@current /'\nexit $status\n"
        ),
        // Each revision's file, found by its `revision = '...'` line.
        Action::Describe { revisions } => {
            let mut script = format!(
                "[ -d {dir} ] || {{ echo @absent; exit 0; }}\ncd -- {dir} || exit 3\nversions={listing}\n[ -d \"$versions\" ] || {{ echo \"wptdeploy: the release has no directory $versions: set migrations_dir\" >&2; exit 3; }}\ncd -- \"$versions\"\n"
            );
            for revision in revisions {
                let pattern = quote(&format!("^revision = ['\"]{revision}['\"]"));
                script.push_str(&format!(
                    "revision={}\nf=$(grep -lE {pattern} -- *.py | head -n 1)\n\
                     [ -n \"$f\" ] || {{ echo \"wptdeploy: no file for revision $revision\" >&2; exit 3; }}\n\
                     printf '@file %s\\n' \"$f\"; sed 's/^/@| /' -- \"$f\"\n",
                    quote(revision)
                ));
            }
            script
        }
        // The headers of every migration file, then the database's revision.
        Action::Pending { psql, database } => {
            headers_and_revision(&dir, &listing, "echo @none; exit 0", "", psql, database)
        }
        Action::Revision { psql, database } => db_revision_script(psql, database),
        // With the SQLite files the release holds: where an app that did
        // not find its database settings wrote instead.
        Action::Landed { psql, database, .. } => format!(
            "{}cd -- {dir} 2>/dev/null && find . -maxdepth 4 -path ./.venv -prune -o -type f \\( -name '*.db' -o -name '*.sqlite' -o -name '*.sqlite3' \\) -printf '@sqlite %P\\n' 2>/dev/null | head -n 5\nexit 0\n",
            db_revision_script(psql, database)
        ),
        Action::Server { psql, database } => format!(
            "cd / && {psql} -X -q -At -F = -v ON_ERROR_STOP=1 -d {} \\
               -c \"SELECT 'version', current_setting('server_version')\" \\
               -c \"SELECT 'rows.' || c.relname, c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()\"\n",
            quote(database)
        ),
        Action::Downgrade { to, .. } => format!(
            "cd -- {dir} || exit 3\n{command} downgrade {} && status=0 || status=$?\n\
             {command} current 2>/dev/null | sed 's/^/@current /'\nexit $status\n",
            quote(to)
        ),
    }
}

/// What the upgrade's script says when it gives up after lock timeouts.
const LOCK_TIMEOUT_MARK: &str = "wptdeploy: gave up waiting for a lock";

/// The sessions that hold locks in `database` now, oldest transaction
/// first (pid, user, state, age, query): run as `db_user` with `psql` when
/// an upgrade gave up on a lock.
fn lock_holders(render: &Render<'_>, psql: &str, database: &str, db_user: &str) -> Diagnosis {
    let sql = "SELECT format('pid %s (%s, %s, transaction open %ss): %s', a.pid, a.usename, a.state, \
               coalesce(extract(epoch FROM now() - a.xact_start)::int, 0), left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200)) \
               FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
               AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.relation IS NOT NULL) \
               ORDER BY a.xact_start NULLS LAST LIMIT 5";
    let script = format!(
        "cd / && {psql} -X -q -At -v ON_ERROR_STOP=1 -d {} -c {}\n",
        quote(database),
        quote(sql)
    );
    Diagnosis {
        when: LOCK_TIMEOUT_MARK.to_owned(),
        command: render.command_as(script, db_user, std::time::Duration::from_secs(30)),
        title: format!("sessions holding locks in {database} now, oldest transaction first"),
        hint: "end the one in the way (`SELECT pg_terminate_backend(PID)`) if that is safe, or deploy again when it is done; `migrate_lock_retries` and `migrate_lock_timeout` say how long to wait".into(),
    }
}

/// In the release `dir` (`@absent` when it is not there): the headers of
/// the migration files in `listing` (`no_versions`, shell, when there is no
/// such directory), then `more` (shell, run there), then the database's
/// revision.
fn headers_and_revision(
    dir: &str,
    listing: &str,
    no_versions: &str,
    more: &str,
    psql: &str,
    database: &str,
) -> String {
    format!(
        "release={dir} versions={listing}\n\
         [ -d \"$release\" ] || {{ echo @absent; exit 0; }}\n\
         cd -- \"$release\" 2>/dev/null || {{ echo \"wptdeploy: $(id -un) cannot read the release $release\" >&2; exit 3; }}\n\
         [ -d \"$versions\" ] || {{ {no_versions}; }}\n\
         {}{more}{}",
        crate::migrations::graph::listing_script("versions"),
        db_revision_script(psql, database)
    )
}

/// Prints the database's revision(s) after `@db `, with `@db-read` or
/// `@db-failed` saying whether psql could read them.
fn db_revision_script(psql: &str, database: &str) -> String {
    // What psql says on standard error is kept only when it failed: it is
    // asked again for it then (a database without alembic's table, or one
    // psql cannot reach), so that a read that works costs one process.
    let query = format!(
        "{psql} -X -q -At -d {} -c 'SELECT version_num FROM alembic_version'",
        quote(database)
    );
    format!(
        "if out=$({query} 2>/dev/null); then echo @db-read; else echo @db-failed; out=$({query} 2>&1 >/dev/null); fi\n\
         while IFS= read -r l; do printf '@db %s\\n' \"$l\"; done <<__WPTD_DB\n$out\n__WPTD_DB\n"
    )
}

/// The database's revisions (`[]` for an empty database, or one without
/// alembic's table) as `{"database": {"revision": [...]}}`, or what kept
/// psql from reading them as `{"database": {"error": ...}}`.
fn revision_outcome(output: &Output) -> Outcome {
    let db = lines("db", &output.stdout);
    let read = output.stdout.lines().any(|l| l == "@db-read");
    let data = if read {
        let revisions: Vec<&str> = db
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        serde_json::json!({ "database": { "revision": revisions } })
    } else if db.contains("alembic_version") && db.contains("does not exist") {
        serde_json::json!({ "database": { "revision": [] } })
    } else {
        serde_json::json!({ "database": { "error": db.trim() } })
    };
    Outcome {
        data: Some(data),
        ..Outcome::default()
    }
}

/// Reads the server's facts: registers `{version, rows}`, `rows` being
/// `table=rows,...` (what `sql_lint:` takes).
fn server_outcome(output: &Output) -> Outcome {
    let mut version = String::new();
    let mut rows = Vec::new();
    for line in output.stdout.lines() {
        match line.split_once('=') {
            Some(("version", v)) => v.clone_into(&mut version),
            Some((key, n)) => {
                if let Some(table) = key.strip_prefix("rows.") {
                    rows.push(format!("{table}={}", n.trim()));
                }
            }
            None => {}
        }
    }
    let register = BTreeMap::from([("version", version.clone()), ("rows", rows.join(","))]);
    Outcome {
        register: Some(Value::from_serialize(&register)),
        note: Some(format!("PostgreSQL {version}, {} table(s)", rows.len())),
        ..Outcome::default()
    }
}

/// Reads a check: exactly one head, a current revision the release knows,
/// and no pending file its commit lacks (unless `allow_uncommitted`).
fn check_outcome(output: &Output, allow_uncommitted: bool) -> Result<Outcome, StepFailure> {
    let said = |line: &str| output.stdout.lines().any(|l| l == line);
    if said("@absent") {
        return Ok(Outcome {
            note: Some("the release is not built yet: its pending migrations are known once it is checked out".into()),
            ..Outcome::default()
        });
    }
    let graph = crate::migrations::graph::Graph::from_listing(output.stdout.lines());
    let head = match graph.heads().as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(StepFailure {
                message: "found no migrations in this release".into(),
                hints: vec!["run `flask db init` and commit the `migrations` directory, or drop `--migrate`".into()],
            });
        }
        many => {
            return Err(StepFailure {
                message: format!(
                    "this release's migrations have {} heads ({}): `upgrade` cannot choose between them",
                    many.len(),
                    many.join(", ")
                ),
                hints: vec![format!(
                    "merge them in your checkout: `flask db merge -m 'merge heads' {}`, commit, and deploy that",
                    crate::transport::command::quote_words(many)
                )],
            });
        }
    };
    let current = database_revisions(output)?;
    let pending = match graph.standing(&current) {
        Standing::Current => Vec::new(),
        Standing::Pending(pending) => pending,
        Standing::Unknown(revisions) => {
            let current = revisions.join(", ");
            return Err(StepFailure {
                message: format!(
                    "the database is at revision {current}, which this release's migrations do not contain: the database is ahead of this code, or on another branch"
                ),
                hints: vec![
                    format!("deploy a commit whose migrations include {current}"),
                    "or downgrade the database on purpose first, with the code that has that revision"
                        .into(),
                ],
            });
        }
    };
    let untracked = lines("untracked", &output.stdout);
    let uncommitted: Vec<&crate::migrations::graph::Node> = pending
        .iter()
        .filter(|n| untracked.lines().any(|file| file == n.file))
        .collect();
    let mut warnings = Vec::new();
    if !uncommitted.is_empty() {
        let named = uncommitted
            .iter()
            .map(|n| format!("{} ({})", n.id, n.file))
            .collect::<Vec<_>>()
            .join(", ");
        if !allow_uncommitted {
            return Err(StepFailure {
                message: format!(
                    "this release has migrations its commit does not: {named}; they were made on the host (by `wptdeploy migration new` or the checklist) and never committed, so nobody has reviewed what they would run"
                ),
                hints: vec![
                    "commit them (the checklist pulled each into your checkout) and deploy that commit".into(),
                    "or build the release again from its commit alone: the same command with `--force`".into(),
                ],
            });
        }
        warnings.push(format!(
            "{named}: not in the release's commit (made on the host); it runs because this step allows it"
        ));
    }
    let at = if current.is_empty() {
        "database empty (no revision)".to_owned()
    } else {
        format!("database at {}", current.join(", "))
    };
    let note = if pending.is_empty() {
        format!("database at the head, {head}")
    } else {
        format!(
            "{at}; {} pending: {}",
            pending.len(),
            pending
                .iter()
                .map(|r| format!("{} ({})", r.id, r.message))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let register = BTreeMap::from([
        ("head", Value::from(head)),
        ("current", Value::from(current.join(","))),
        (
            "pending",
            Value::from(pending.iter().map(|r| r.id.clone()).collect::<Vec<_>>()),
        ),
    ]);
    Ok(Outcome {
        changed: false,
        register: Some(Value::from_serialize(&register)),
        note: Some(note),
        warnings,
        ..Outcome::default()
    })
}

/// The database's revisions as [`db_revision_script`] printed them (none
/// for an empty database, or one without alembic's table), or why psql
/// could not read them.
fn database_revisions(output: &Output) -> Result<Vec<String>, StepFailure> {
    let db = lines("db", &output.stdout);
    if output.stdout.lines().any(|l| l == "@db-read") {
        Ok(db
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    } else if db.contains("alembic_version") && db.contains("does not exist") {
        Ok(Vec::new())
    } else {
        Err(StepFailure {
            message: format!(
                "cannot read the database's revision, so cannot tell whether this release's migrations have run: {}",
                db.trim()
            ),
            hints: vec![
                "check `db_name`, `db_superuser` and `psql_command`".into(),
                "`--migrate` runs the migrations; `--no-migrate` deploys without this check".into(),
            ],
        })
    }
}

/// Reads a pending check: fails when the release brings migrations the
/// database has not had (a plain deploy must not put that code live).
fn pending_outcome(output: &Output) -> Result<Outcome, StepFailure> {
    let said = |line: &str| output.stdout.lines().any(|l| l == line);
    if said("@absent") {
        return Ok(Outcome {
            note: Some(
                "the release is not built yet: its migrations are checked once it is checked out"
                    .into(),
            ),
            ..Outcome::default()
        });
    }
    if said("@none") {
        return Ok(Outcome {
            note: Some("the release has no migrations".into()),
            ..Outcome::default()
        });
    }
    let graph = crate::migrations::graph::Graph::from_listing(output.stdout.lines());
    let current = database_revisions(output)?;
    let at = if current.is_empty() {
        "no revision (an empty database)".to_owned()
    } else {
        current.join(", ")
    };
    let heads = graph.heads();
    let register = BTreeMap::from([("head", heads.join(",")), ("current", current.join(","))]);
    match graph.standing(&current) {
        Standing::Current => Ok(Outcome {
            register: Some(Value::from_serialize(&register)),
            note: Some(match heads.as_slice() {
                [] => "the release has no migrations".to_owned(),
                heads => format!("the database is at this release's head, {}", heads.join(", ")),
            }),
            ..Outcome::default()
        }),
        Standing::Pending(pending) => Err(StepFailure {
            message: format!(
                "this release brings {} migration(s) the database (at {at}) has not had: {}; it was not put live",
                pending.len(),
                pending
                    .iter()
                    .map(|n| if n.message.is_empty() { n.id.clone() } else { format!("{} ({})", n.id, n.message) })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hints: vec![
                "pass `--migrate` to upgrade the database before the switch (with a backup first on production)".into(),
                "or `--no-migrate` to put the code live without them".into(),
            ],
        }),
        Standing::Unknown(revisions) => Ok(Outcome {
            note: Some(format!("the database is at {at}")),
            warnings: vec![format!(
                "the database is at {}, which this release's migrations do not contain: it is ahead of this code (an older release?) or on another branch; the code goes live against that schema",
                revisions.join(", ")
            )],
            ..Outcome::default()
        }),
    }
}

/// Reads a describe: every file's `upgrade()` operations, in order, as one.
fn describe_outcome(output: &Output) -> Outcome {
    if output.stdout.lines().any(|l| l == "@absent") {
        return Outcome::default();
    }
    let mut merged = crate::migrations::file::MigrationFile::default();
    let mut names = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, merged: &mut crate::migrations::file::MigrationFile| {
        if !text.is_empty() {
            merged
                .upgrade
                .extend(crate::migrations::file::parse(text).upgrade);
            text.clear();
        }
    };
    for line in output.stdout.lines() {
        if let Some(name) = line.strip_prefix("@file ") {
            flush(&mut text, &mut merged);
            names.push(name.to_owned());
        } else if let Some(content) = line.strip_prefix("@| ").or_else(|| line.strip_prefix("@|")) {
            text.push_str(content);
            text.push('\n');
        }
    }
    flush(&mut text, &mut merged);
    let description = merged.description("");
    let register = BTreeMap::from([
        ("tables", description["tables"].clone()),
        ("expect", description["expect"].clone()),
    ]);
    Outcome {
        register: Some(Value::from_serialize(&register)),
        note: Some(format!(
            "{} touch: {}",
            names.join(", "),
            if description["tables"].is_empty() {
                "no tables"
            } else {
                &description["tables"]
            }
        )),
        ..Outcome::default()
    }
}

/// Reads a generate: the file named on the `Generating` line, which must
/// also be new in the migrations directory; or plainly, no changes.
fn generate_outcome(output: &Output) -> Result<Outcome, StepFailure> {
    let new: Vec<&str> = output
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("@new "))
        .collect();
    let Some(path) = alembic::generated_file(&output.stdout) else {
        // Flask-Migrate 4 logs this on stderr; older versions print it on stdout.
        let said = |text: &str| text.contains("No changes in schema detected");
        if said(&output.stdout) || said(&output.stderr) {
            let register = BTreeMap::from([("path", ""), ("file", "")]);
            return Ok(Outcome {
                register: Some(Value::from_serialize(&register)),
                note: Some("no changes in schema detected: nothing to pull".into()),
                ..Outcome::default()
            });
        }
        return Err(StepFailure {
            message: "printed neither `Generating ...` nor `No changes in schema detected.`".into(),
            hints: vec!["run it with `-v` to see what the migrate command said".into()],
        });
    };
    let file = path.rsplit('/').next().unwrap_or_default().to_owned();
    if !new.contains(&file.as_str()) {
        return Err(StepFailure {
            message: format!(
                "said it generated {path}, but the migrations directory has no new file of that name (new: {})",
                if new.is_empty() {
                    "none".into()
                } else {
                    new.join(", ")
                }
            ),
            hints: vec![
                "check `migrate_command`: it must run in the release's own directory".into(),
            ],
        });
    }
    let register = BTreeMap::from([("path", path.clone()), ("file", file)]);
    Ok(Outcome {
        changed: true,
        register: Some(Value::from_serialize(&register)),
        note: Some(format!("generated {path}")),
        ..Outcome::default()
    })
}

/// Reads an upgrade: when it failed, say where the database is. Where a
/// successful one landed is the `landed` action's to check, in the
/// database wptdeploy was told of (alembic's `current` would ask the
/// app's, which may be another).
fn upgrade_outcome(
    output: &Output,
    head: &str,
    from: &str,
    live: bool,
) -> Result<Outcome, StepFailure> {
    move_outcome(output, "upgrade", head, from, live)
}

/// Reads a `landed` check: `database` is at `head`, or the upgrade went
/// to another database (with the SQLite files the release holds, the
/// likely place).
fn landed_outcome(
    output: &Output,
    database: &str,
    head: &str,
    from: &str,
) -> Result<Outcome, StepFailure> {
    let revisions = database_revisions(output)?;
    let current = revisions.first().cloned().unwrap_or_default();
    let shown = |rev: &str| {
        if rev.is_empty() {
            "no revision (empty)".to_owned()
        } else {
            rev.to_owned()
        }
    };
    if revisions.len() <= 1 && current == head {
        return Ok(Outcome {
            register: Some(Value::from_serialize(BTreeMap::from([(
                "current",
                current.clone(),
            )]))),
            note: Some(format!("{database} is at {}", shown(head))),
            ..Outcome::default()
        });
    }
    let sqlite: Vec<String> = lines("sqlite", &output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let unchanged = current == from;
    let mut hints = Vec::new();
    if sqlite.is_empty() {
        hints.push(format!(
            "the app's settings name another database than `db_name` ({database}): check that the config file it reads is the one `config_path` writes (`.env`, `instance/`, config.txt), and what it says"
        ));
    } else {
        hints.push(format!(
            "the release holds SQLite files ({}): the app did not find its database settings and used a default; check that `config_path` is the file the app reads (`.env`, `instance/...`, config.txt)",
            sqlite.join(", ")
        ));
    }
    hints.push(format!(
        "the live release was not switched; {database} is {}",
        if unchanged {
            format!("as it was ({})", shown(from))
        } else {
            format!("at {}", shown(&current))
        }
    ));
    Err(StepFailure {
        message: format!(
            "the migration ran against another database than `db_name` ({database}): alembic reported reaching {}, but {database} is at {}",
            shown(head),
            shown(&revisions.join(", "))
        ),
        hints,
    })
}

/// Reads a downgrade: the database must be at `to` (`base`: no revision).
fn downgrade_outcome(output: &Output, to: &str, from: &str) -> Result<Outcome, StepFailure> {
    let target = if to == "base" { "" } else { to };
    move_outcome(output, "downgrade", target, from, false)
}

/// ` (attempt N: ...)` when an upgrade was run again after lock timeouts.
fn retried(output: &Output) -> String {
    let attempts: u32 = lines("attempts", &output.stdout)
        .trim()
        .parse()
        .unwrap_or(1);
    if attempts > 1 {
        format!(" (attempt {attempts}: the ones before waited longer than lock_timeout)")
    } else {
        String::new()
    }
}

fn move_outcome(
    output: &Output,
    verb: &str,
    head: &str,
    from: &str,
    live: bool,
) -> Result<Outcome, StepFailure> {
    // An upgrade reads `current` only when it failed (`landed` checks
    // where a successful one went); a downgrade reads it always.
    let confirm = verb != "upgrade";
    let current = alembic::revision_ids(&lines("current", &output.stdout))
        .into_iter()
        .next();
    let shown = |rev: &Option<String>| rev.clone().unwrap_or_else(|| "no revision (empty)".into());
    let from_shown = if from.is_empty() {
        "no revision (empty)"
    } else {
        from
    };
    if output.exit_code != 0 {
        let tail = super::outcome::last_lines(&output.stderr, 6);
        let state = if current.as_deref().unwrap_or("") == from {
            format!("the database is still at {from_shown}, as before")
        } else {
            format!(
                "the database is now at {} (it was at {from_shown}; the head is {head})",
                shown(&current)
            )
        };
        return Err(StepFailure {
            message: format!(
                "{verb} failed{}; {state}:\n  {}",
                retried(output),
                tail.join("\n  ")
            ),
            hints: vec![
                if live {
                    "the release it ran in is live (it was deployed before the migration was generated); fix the migration file, then `wptdeploy migration test ENV FILE`".into()
                } else if verb == "upgrade" {
                    "the live release was not switched; fix the migration and deploy again".into()
                } else {
                    "fix `downgrade()` in the migration file, then `wptdeploy migration test ENV FILE --roundtrip`".into()
                },
                format!("`wptdeploy verify ENV --table TABLE` shows the columns as they are now"),
            ],
        });
    }
    if confirm && current.as_deref().unwrap_or("") != head {
        return Err(StepFailure {
            message: format!(
                "after the {verb} the database is at {}, not at the head {head}",
                shown(&current)
            ),
            hints: vec!["check `db heads` and `db current` in the release".into()],
        });
    }
    let retried = retried(output);
    Ok(Outcome {
        changed: from != head,
        register: None,
        note: Some(format!(
            "{from_shown} -> {}{retried}",
            if head.is_empty() {
                "no revision (empty)"
            } else {
                head
            }
        )),
        ..Outcome::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(stdout: &str) -> Output {
        Output {
            exit_code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// What the check's script prints for files `(name, revision,
    /// parent, message)`, the untracked ones, and the database's revisions.
    fn listing(files: &[(&str, &str, &str, &str)], untracked: &[&str], db: &[&str]) -> Output {
        let mut text = String::new();
        for (name, revision, parent, message) in files {
            text.push_str(&format!(
                "@file {name}\n@| \"\"\"{message}\n@| revision = '{revision}'\n@| down_revision = {}\n",
                if parent.is_empty() { "None".to_owned() } else { format!("'{parent}'") }
            ));
        }
        for file in untracked {
            text.push_str(&format!("@untracked {file}\n"));
        }
        text.push_str("@db-read\n");
        for revision in db {
            text.push_str(&format!("@db {revision}\n"));
        }
        output(&text)
    }

    const INITIAL: (&str, &str, &str, &str) =
        ("7350_initial.py", "735093c03092", "", "initial tables");
    const COMMENT: (&str, &str, &str, &str) = (
        "4daf_comment.py",
        "4dafe3eac60e",
        "735093c03092",
        "add comment url",
    );

    #[test]
    fn two_heads_stop_the_deploy_with_the_revisions_named() {
        let other = ("bbbb_other.py", "bbbb2222", "735093c03092", "other");
        let failure =
            check_outcome(&listing(&[INITIAL, COMMENT, other], &[], &[]), false).unwrap_err();
        assert!(
            failure.message.contains("2 heads (4dafe3eac60e, bbbb2222)"),
            "{}",
            failure.message
        );
        assert!(failure.hints[0].contains("flask db merge"));
        let none = check_outcome(&output("@db-read\n"), false).unwrap_err();
        assert_eq!(none.message, "found no migrations in this release");
    }

    #[test]
    fn an_unknown_current_revision_is_refused() {
        let failure = check_outcome(&listing(&[INITIAL, COMMENT], &[], &["ffff0000ffff"]), false)
            .unwrap_err();
        assert!(
            failure
                .message
                .contains("at revision ffff0000ffff, which this release"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn pending_revisions_are_listed_in_order_and_registered() {
        let outcome = check_outcome(&listing(&[COMMENT, INITIAL], &[], &[]), false).unwrap();
        assert_eq!(
            outcome.note.as_deref(),
            Some(
                "database empty (no revision); 2 pending: 735093c03092 (initial tables), 4dafe3eac60e (add comment url)"
            )
        );
        let register = outcome.register.unwrap();
        assert_eq!(
            register.get_attr("head").unwrap().to_string(),
            "4dafe3eac60e"
        );
        assert_eq!(register.get_attr("current").unwrap().to_string(), "");
        let at_head =
            check_outcome(&listing(&[COMMENT, INITIAL], &[], &["4dafe3eac60e"]), false).unwrap();
        assert_eq!(
            at_head.note.as_deref(),
            Some("database at the head, 4dafe3eac60e")
        );
        let unreadable = check_outcome(
            &output("@file x.py\n@db-failed\n@db connection refused\n"),
            false,
        );
        assert!(unreadable.is_err());
    }

    /// A file made on the host and never committed is refused while it is
    /// pending (unless allowed, then said), and only said once applied.
    #[test]
    fn a_pending_migration_the_commit_lacks_is_refused_unless_allowed() {
        let refused = check_outcome(
            &listing(&[INITIAL, COMMENT], &["4daf_comment.py"], &["735093c03092"]),
            false,
        )
        .unwrap_err();
        assert!(
            refused
                .message
                .contains("migrations its commit does not: 4dafe3eac60e (4daf_comment.py)"),
            "{}",
            refused.message
        );
        assert!(refused.hints[1].contains("--force"), "{:?}", refused.hints);
        let allowed = check_outcome(
            &listing(&[INITIAL, COMMENT], &["4daf_comment.py"], &["735093c03092"]),
            true,
        )
        .unwrap();
        assert_eq!(allowed.warnings.len(), 1, "{:?}", allowed.warnings);
        let applied = check_outcome(
            &listing(&[INITIAL, COMMENT], &["4daf_comment.py"], &["4dafe3eac60e"]),
            false,
        )
        .unwrap();
        assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    }
}
