//! `sql_lint:` the SQL the pending migrations will really run, rendered by
//! alembic's offline mode in the release (`upgrade --sql FROM:head`), linted
//! in Rust with squawk's rules for the server's version
//! ([`crate::migrations::lint`]).
//!
//! ```yaml
//! - name: lint the SQL of the pending migrations
//!   sql_lint:
//!     command: "{{ migrate_command | safe }}"
//!     path: "{{ release.build_path }}"
//!     from: "{{ migrations.current }}"
//!     policy: "{{ migration_lint }}"
//!     allow: "{{ migration_allow }}"
//!     server_version: "{{ server.version }}"
//!     rows: "{{ server.rows }}"
//!     timeouts_set: "{{ migrate_lock_timeout != '' }}"
//!     live: "{{ site_path }}"
//!   register: lint
//! ```
//!
//! With `live` (the release serving while the migrations run), its models
//! are read from its Python source, and a pending migration that drops,
//! renames or retypes what one of them maps is a `breaks-live-code`
//! finding naming the model.
//!
//! `policy: error` fails the step on a finding that is not allowed, `warn`
//! reports it (both fail on a statement PostgreSQL would refuse to run in
//! the migration's transaction), `report` reports every finding and never
//! fails (the caller decides: `wptdeploy migration lint`), `off` only reads. A finding is allowed by `allow` (rule
//! names, comma-separated: `--allow RULE`) or by a `# wptdeploy: allow RULE
//! because WHY` comment in its migration file. Registers `{findings,
//! allowed}` (`allowed`: `rule (revision): why`, for the history).

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_literal, choice_error};
use super::outcome::{Outcome, StepFailure, failure};
use crate::migrations::lint::{self, Finding, LintSettings};
use crate::migrations::models;
use crate::template::TemplateError;
use crate::transport::{Output, quote};

/// The `sql_lint:` kind.
pub struct SqlLintKind;

/// `sql_lint:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlLintArgs {
    /// The migrate command, without the subcommand (a shell template).
    pub command: Tmpl,
    /// The release directory to run it in.
    pub path: Tmpl,
    /// The database's revision (empty: from the start).
    #[serde(default)]
    pub from: Option<Tmpl>,
    /// The migration files' directory, relative to `path`.
    #[serde(default)]
    pub versions: Option<Tmpl>,
    /// `error`, `warn` or `off`.
    #[serde(default)]
    pub policy: Option<Tmpl>,
    /// Rules allowed everywhere, comma-separated.
    #[serde(default)]
    pub allow: Option<Tmpl>,
    /// The server's version (`SHOW server_version`).
    #[serde(default)]
    pub server_version: Option<Tmpl>,
    /// Estimated rows per table, `table=rows` comma-separated.
    #[serde(default)]
    pub rows: Option<Tmpl>,
    /// Whether the run sets `lock_timeout`/`statement_timeout` itself.
    #[serde(default)]
    pub timeouts_set: Option<Tmpl>,
    /// The directory of the release serving while the migrations run, whose
    /// models the migrations must not break (nothing, or `path` itself:
    /// not checked).
    #[serde(default)]
    pub live: Option<Tmpl>,
    /// Migration files to lint instead of the pending ones, each
    /// `NAME:PARENT:REVISION:BASE64` (`wptdeploy migration lint ENV
    /// FILE.py`): copied with the release's migrations into a temporary
    /// directory, each rendered from its parent to itself. `live` is then
    /// read even when it is `path`.
    #[serde(default)]
    pub files: Option<Tmpl>,
}

const POLICIES: [&str; 4] = ["error", "warn", "report", "off"];

impl StepKind for SqlLintKind {
    const KEY: &'static str = "sql_lint";
    const SUMMARY: &'static str = "lint the SQL that pending migrations will run (alembic --sql, squawk's rules, the server's version)";
    type Args = SqlLintArgs;

    fn check(a: &SqlLintArgs) -> Result<(), String> {
        check_literal(a.policy.as_ref(), |p| {
            if POLICIES.contains(&p) {
                Ok(())
            } else {
                Err(choice_error("sql_lint: policy", &POLICIES, p))
            }
        })?;
        check_literal(a.allow.as_ref(), |allow| {
            allow
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .try_for_each(|r| lint::parse_rule(r).map(drop))
        })
    }

    fn templates(a: &SqlLintArgs) -> Vec<&str> {
        [&a.command, &a.path]
            .into_iter()
            .chain(&a.from)
            .chain(&a.versions)
            .chain(&a.policy)
            .chain(&a.allow)
            .chain(&a.server_version)
            .chain(&a.rows)
            .chain(&a.timeouts_set)
            .chain(&a.live)
            .chain(&a.files)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &SqlLintArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let policy = render
            .given(a.policy.as_ref())?
            .unwrap_or_else(|| "error".into());
        if !POLICIES.contains(&policy.as_str()) {
            return Err(TemplateError::new(choice_error(
                "sql_lint: policy",
                &POLICIES,
                &policy,
            )));
        }
        let allow = render
            .list(a.allow.as_ref())?
            .iter()
            .map(|r| lint::parse_rule(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(TemplateError::new)?;
        let settings = LintSettings {
            server_version: render.given(a.server_version.as_ref())?,
            timeouts_set: render.flag(a.timeouts_set.as_ref())?,
            allow,
            rows: parse_rows(&render.optional(a.rows.as_ref())?),
            live_models: None,
        };
        let from = render.optional(a.from.as_ref())?;
        let versions = render
            .given(a.versions.as_ref())?
            .unwrap_or_else(|| "migrations/versions".into());
        let files = render
            .list(a.files.as_ref())?
            .iter()
            .map(|f| LintFile::parse(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(TemplateError::new)?;
        let source = if files.is_empty() {
            Source::Pending { from }
        } else {
            Source::Files(files)
        };
        let command = render.command(
            script(
                &render.shell(&a.command)?,
                &render.text(&a.path)?,
                &versions,
                &source,
            ) + &models_script(
                &render.optional(a.live.as_ref())?,
                &versions,
                matches!(source, Source::Files(_)),
            ),
        );
        // It only looks: `--check` runs it, `--step` does not ask, and in a
        // plan it may wait for the steps before it ("cannot run yet").
        Ok(Prepared::new(command, move |ran| {
            if ran.output.exit_code != 0 {
                return Err(failure(ran.command, ran.output));
            }
            read(ran.output, &settings, &policy)
        })
        .looking_only()
        .data_on_stdout())
    }
}

/// `table=rows,table=rows` as a map.
fn parse_rows(text: &str) -> BTreeMap<String, f64> {
    text.split(',')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter_map(|(table, rows)| Some((table.to_owned(), rows.trim().parse().ok()?)))
        .collect()
}

/// A migration file given to lint: `NAME:PARENT:REVISION:BASE64`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LintFile {
    name: String,
    parent: String,
    revision: String,
    base64: String,
}

impl LintFile {
    fn parse(text: &str) -> Result<LintFile, String> {
        let mut parts = text.splitn(4, ':');
        let mut next = || parts.next().unwrap_or_default().trim().to_owned();
        let file = LintFile {
            name: next(),
            parent: next(),
            revision: next(),
            base64: next(),
        };
        let safe = |s: &str| s.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
        if !file.name.ends_with(".py")
            || !safe(&file.name)
            || !safe(&file.parent)
            || !safe(&file.revision)
            || file.revision.is_empty()
            || !file
                .base64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
        {
            return Err(format!(
                "sql_lint: files: `{}` is not NAME.py:PARENT:REVISION:BASE64",
                text.chars().take(80).collect::<String>()
            ));
        }
        Ok(file)
    }
}

/// What SQL to render: the pending migrations (from the database's
/// revision to the head), or given files.
enum Source {
    Pending { from: String },
    Files(Vec<LintFile>),
}

/// The offline SQL on stdout, between `@sql-start` and `@sql-end` lines,
/// then each migration file (`@file NAME`, its lines after `@| `).
fn script(command: &str, path: &str, versions: &str, source: &Source) -> String {
    let listing = |dir: &str| {
        format!(
            "for f in {dir}/*.py; do [ -f \"$f\" ] || continue; printf '@file %s\\n' \"${{f##*/}}\"; sed 's/^/@| /' -- \"$f\"; done\n"
        )
    };
    let start = format!(
        "[ -d {dir} ] || {{ echo @absent; exit 0; }}\ncd -- {dir} || exit 3\n",
        dir = quote(path)
    );
    match source {
        Source::Pending { from } => {
            let range = if from.is_empty() {
                "head".to_owned()
            } else {
                format!("{from}:head")
            };
            format!(
                "{start}echo @sql-start\n{command} upgrade --sql {range} || exit $?\necho @sql-end\n{list}",
                range = quote(&range),
                list = listing(&quote(versions)),
            )
        }
        // The release's migrations and the files, in a directory of their
        // own (`-d`): the release is not touched.
        Source::Files(files) => {
            let migrations = versions.rsplit_once('/').map_or(".", |(dir, _)| dir);
            let mut text = format!(
                "{start}tmp=$(mktemp -d) || exit 3\ntrap 'rm -rf -- \"$tmp\"' EXIT\ncp -R -- {migrations} \"$tmp/m\" || exit 3\n",
                migrations = quote(migrations),
            );
            for file in files {
                text.push_str(&format!(
                    "printf %s {b64} | base64 -d > \"$tmp/m/versions/\"{name} || exit 3\n",
                    b64 = quote(&file.base64),
                    name = quote(&file.name),
                ));
            }
            text.push_str("echo @sql-start\n");
            for file in files {
                let range = if file.parent.is_empty() {
                    file.revision.clone()
                } else {
                    format!("{}:{}", file.parent, file.revision)
                };
                text.push_str(&format!(
                    "{command} upgrade -d \"$tmp/m\" --sql {range} || exit $?\n",
                    range = quote(&range)
                ));
            }
            text.push_str("echo @sql-end\n");
            text + &listing("\"$tmp/m/versions\"")
        }
    }
}

/// The tables of the database (`rows`, alembic's own left out) when the
/// migrations' `upgrade()` drops every one of them: what autogenerate
/// writes when it compared the database with no models at all.
fn drops_every_table(
    files: &[(String, String)],
    rows: &BTreeMap<String, f64>,
) -> Option<Vec<String>> {
    let tables: Vec<String> = rows
        .keys()
        .filter(|t| t.as_str() != "alembic_version")
        .cloned()
        .collect();
    let dropped: std::collections::BTreeSet<String> = files
        .iter()
        .flat_map(|(_, text)| crate::migrations::file::parse(text).upgrade)
        .filter_map(|op| match op {
            crate::migrations::file::Operation::DropTable { table } => Some(table),
            _ => None,
        })
        .collect();
    (!tables.is_empty() && tables.iter().all(|t| dropped.contains(t))).then_some(tables)
}

/// What a migration that drops every table is told.
fn everything_dropped(tables: &[String]) -> String {
    format!(
        "this migration drops every table the database has ({}): autogenerate compared the database with no models, because `manage.py` or `migrations/env.py` does not import them (import the models' module in the app factory or env.py, then generate again)",
        tables.join(", ")
    )
}

/// The live release's Python files that map tables (`@models`, then each
/// file as `@file PATH` and its lines), when `live` is another directory
/// than the one the script is in (or `even_if_here`: given files are
/// linted against the release they are meant to follow). Virtualenvs, tests and the migrations
/// are not the app's models.
fn models_script(live: &str, versions: &str, even_if_here: bool) -> String {
    if live.is_empty() {
        return String::new();
    }
    let migrations = versions.split('/').next().unwrap_or("migrations");
    let elsewhere = if even_if_here {
        String::new()
    } else {
        format!(
            " && [ \"$(cd -- {live} && pwd -P)\" != \"$(pwd -P)\" ]",
            live = quote(live)
        )
    };
    format!(
        "if [ -d {live} ]{elsewhere}; then\n  echo @models\n  cd -- {live} || exit 3\n           grep -rlE --include='*.py' --exclude-dir=.git --exclude-dir=.venv --exclude-dir=venv --exclude-dir=node_modules --exclude-dir=tests --exclude-dir=test --exclude-dir={migrations} -e 'Column\\(|mapped_column\\(|Mapped\\[' . 2>/dev/null | head -n 500 | \
         while IFS= read -r f; do printf '@file %s\\n' \"${{f#./}}\"; sed 's/^/@| /' -- \"$f\"; done\nfi\n",
        live = quote(live),
        migrations = quote(migrations),
    )
}

/// What the script printed: the SQL, the migration files, and the live
/// release's model files (`None`: not read).
struct Printed {
    sql: String,
    files: Vec<(String, String)>,
    models: Option<Vec<(String, String)>>,
}

/// The SQL and the files, from the script's output.
fn split_output(stdout: &str) -> Printed {
    let mut sql = String::new();
    let (mut rest, mut models) = (Vec::new(), None::<Vec<&str>>);
    let mut in_sql = false;
    for line in stdout.lines() {
        match line {
            "@sql-start" => in_sql = true,
            "@sql-end" => in_sql = false,
            _ if in_sql => {
                sql.push_str(line);
                sql.push('\n');
            }
            "@models" => models = Some(Vec::new()),
            _ => models.as_mut().unwrap_or(&mut rest).push(line),
        }
    }
    let files = crate::migrations::graph::files_from_listing;
    Printed {
        sql,
        files: files(rest),
        models: models.map(files),
    }
}

/// Lints, then reports as `policy` says.
fn read(output: &Output, settings: &LintSettings, policy: &str) -> Result<Outcome, StepFailure> {
    if output.stdout.lines().any(|l| l == "@absent") {
        return Ok(Outcome {
            note: Some(
                "the release is not built yet: its SQL is linted once it is checked out".into(),
            ),
            // What it will find is not known yet.
            register: Some(crate::template::Unknown::value("lint")),
            ..Outcome::default()
        });
    }
    let printed = split_output(&output.stdout);
    let settings = &LintSettings {
        live_models: printed.models.as_deref().map(models::read),
        ..settings.clone()
    };
    let findings = lint::lint(&printed.sql, &printed.files, settings);
    let (allowed, blocking): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| f.allowed.is_some());
    let shown = |f: &Finding| {
        std::iter::once(f.headline())
            .chain(f.details().into_iter().map(|d| format!("    {d}")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let allowances: Vec<String> = allowed
        .iter()
        .map(|f| {
            format!(
                "{} ({}): {}",
                f.rule,
                f.revision,
                f.allowed.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let everything = drops_every_table(&printed.files, &settings.rows);
    let mut shown_blocking: Vec<String> = blocking.iter().map(|f| shown(f)).collect();
    if let Some(tables) = &everything {
        shown_blocking.insert(0, everything_dropped(tables));
    }
    let register = BTreeMap::from([
        ("findings", Value::from_serialize(&findings)),
        ("allowed", Value::from(allowances.join("; "))),
        // What production's policy would stop on, as shown.
        ("blocking", Value::from_serialize(&shown_blocking)),
        ("drops_everything", Value::from(everything.is_some())),
    ]);
    let note = format!(
        "{} statement finding(s): {} allowed, {} not{}",
        findings.len(),
        allowed.len(),
        blocking.len(),
        settings
            .server_version
            .as_deref()
            .map(|v| format!(" (PostgreSQL {v})"))
            .unwrap_or_default()
    );
    let refused: Vec<&Finding> = findings
        .iter()
        .filter(|f| lint::cannot_run(&f.rule))
        .collect();
    if matches!(policy, "error" | "warn") && !refused.is_empty() {
        return Err(StepFailure {
            message: format!(
                "PostgreSQL would refuse this migration as it is written: CONCURRENTLY cannot run inside the transaction alembic runs the migration in:\n{}",
                refused
                    .iter()
                    .map(|f| shown(f))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            hints: vec![
                lint::AUTOCOMMIT_RECIPE.into(),
                "nothing ran: the database is as it was".into(),
            ],
        });
    }
    if policy == "error" && !blocking.is_empty() {
        return Err(StepFailure {
            message: format!(
                "the SQL the pending migrations would run can hurt the live database:\n{}",
                blocking.iter().map(|f| shown(f)).collect::<Vec<_>>().join("\n")
            ),
            hints: vec![
                "rewrite the migration as `safe:` says, or allow one finding with `--allow RULE` or a `# wptdeploy: allow RULE because WHY` comment in the migration".into(),
                "nothing ran: the database is as it was".into(),
            ],
        });
    }
    let warnings = if policy == "off" {
        Vec::new()
    } else {
        shown_blocking
    };
    Ok(Outcome {
        register: Some(Value::from_serialize(&register)),
        note: Some(note),
        warnings,
        data: Some(serde_json::json!({ "lint": findings })),
        ..Outcome::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_splits_into_sql_and_files() {
        let printed = split_output(
            "@sql-start\nBEGIN;\nCOMMIT;\n@sql-end\n@file a.py\n@| revision = 'a'\n@|\n@| def upgrade():\n@models\n@file app/models.py\n@| class A(db.Model):\n",
        );
        assert_eq!(printed.sql, "BEGIN;\nCOMMIT;\n");
        assert_eq!(
            printed.files,
            [(
                "a.py".to_owned(),
                "revision = 'a'\n\ndef upgrade():\n".to_owned()
            )]
        );
        assert_eq!(
            printed.models,
            Some(vec![(
                "app/models.py".to_owned(),
                "class A(db.Model):\n".to_owned()
            )])
        );
        assert_eq!(split_output("@sql-start\n@sql-end\n").models, None);
        assert_eq!(
            parse_rows("pull_request=48000, repository=12,bad"),
            BTreeMap::from([
                ("pull_request".into(), 48_000.0),
                ("repository".into(), 12.0)
            ])
        );
    }
}
