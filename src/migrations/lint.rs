//! Lints the SQL that migrations will really run: alembic's offline mode
//! (`upgrade --sql FROM:TO`) rendered in the release on the host, checked
//! with squawk's rules (the `squawk-linter` crate) for the server's
//! PostgreSQL version, each finding traced back to its revision, its file
//! and the line of the `op.*` call that became the statement.

use std::collections::{BTreeMap, BTreeSet};

use squawk_linter::{Linter, LinterSettings, Rule, Version};

use super::file;
use super::graph::Graph;
use super::hazard::{self, Hazard, NewSince};
use super::models::Model;

/// The rules a deploy checks: the ones that take locks that stop the app,
/// rewrite tables, or break the code still running. Style rules (prefer
/// bigint, text, timestamptz) are squawk's business, not a deploy's.
pub const RULES: [Rule; 20] = [
    Rule::AddingNotNullableField,
    Rule::AddingRequiredField,
    Rule::AddingFieldWithDefault,
    Rule::RequireConcurrentIndexCreation,
    Rule::RequireConcurrentIndexDeletion,
    Rule::BanConcurrentIndexCreationInTransaction,
    Rule::ChangingColumnType,
    Rule::ConstraintMissingNotValid,
    Rule::AddingForeignKeyConstraint,
    Rule::DisallowedUniqueConstraint,
    Rule::AddingSerialPrimaryKeyField,
    Rule::RenamingColumn,
    Rule::RenamingTable,
    Rule::BanDropColumn,
    Rule::BanDropTable,
    Rule::BanDropNotNull,
    Rule::BanDropDatabase,
    Rule::BanTruncateCascade,
    Rule::TransactionNesting,
    Rule::RequireTimeoutSettings,
];

/// wptdeploy's own rule: the migration drops, renames or retypes a column
/// (or drops a table, or adds a required column to a table) that a model
/// of the release serving while it runs still maps.
pub const BREAKS_LIVE_CODE: &str = "breaks-live-code";

/// Whether PostgreSQL refuses `rule`'s statement outright where the
/// migration runs it (`CONCURRENTLY` inside the migration's transaction):
/// such a finding is refused whatever the policy or allowances say.
pub fn cannot_run(rule: &str) -> bool {
    rule == Rule::BanConcurrentIndexCreationInTransaction.to_string()
}

/// How an alembic migration runs a statement outside its transaction.
pub const AUTOCOMMIT_RECIPE: &str = "run it outside the migration's transaction: `with op.get_context().autocommit_block():` and, inside it, `op.create_index(..., postgresql_concurrently=True)` (or `drop_index`); the rest of the migration stays in its transaction";

/// The lock each rule's statement takes and what it holds up.
fn lock_of(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::AddingNotNullableField
        | Rule::AddingRequiredField
        | Rule::AddingFieldWithDefault
        | Rule::ChangingColumnType
        | Rule::AddingSerialPrimaryKeyField => {
            "ACCESS EXCLUSIVE while every row is rewritten or checked: no reads or writes"
        }
        Rule::RequireConcurrentIndexCreation => "SHARE while the index is built: no writes",
        Rule::RequireConcurrentIndexDeletion
        | Rule::RenamingColumn
        | Rule::RenamingTable
        | Rule::BanDropColumn
        | Rule::BanDropTable
        | Rule::BanDropNotNull => {
            "ACCESS EXCLUSIVE, briefly: queued behind every running query, and every query queued behind it"
        }
        Rule::ConstraintMissingNotValid | Rule::DisallowedUniqueConstraint => {
            "ACCESS EXCLUSIVE (SHARE ROW EXCLUSIVE for a check) while every row is checked"
        }
        Rule::AddingForeignKeyConstraint => {
            "SHARE ROW EXCLUSIVE on both tables while every row is checked: no writes"
        }
        _ => return None,
    })
}

/// What a lint needs besides the SQL.
#[derive(Debug, Clone, Default)]
pub struct LintSettings {
    /// `SHOW server_version` (`15.4`, `15.4 (Debian 15.4-1)`); unknown:
    /// squawk's default (15).
    pub server_version: Option<String>,
    /// The deploy sets `lock_timeout`/`statement_timeout` itself (PGOPTIONS),
    /// so the SQL need not.
    pub timeouts_set: bool,
    /// Rules allowed everywhere (`--allow RULE`).
    pub allow: Vec<String>,
    /// Estimated rows of the database's tables (`pg_class.reltuples`).
    pub rows: BTreeMap<String, f64>,
    /// The models of the release that serves while the migrations run
    /// (read from its source), if it is another release.
    pub live_models: Option<Vec<Model>>,
}

/// One thing the SQL does that can hurt.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// The revision whose upgrade runs it.
    pub revision: String,
    /// Its migration file, if found.
    pub file: Option<String>,
    /// The line of the `op.*` call in that file, and the call.
    pub line: Option<(usize, String)>,
    /// The SQL statement.
    pub sql: String,
    /// squawk's rule name (`adding-not-nullable-field`).
    pub rule: String,
    /// What is wrong.
    pub message: String,
    /// The lock it takes, and on how big a table.
    pub impact: Option<String>,
    /// The safe recipe.
    pub help: Option<String>,
    /// Why it is allowed, if it is (`--allow`, or a comment in the file).
    pub allowed: Option<String>,
}

impl Finding {
    /// Whether it stops a run: not allowed, or a statement PostgreSQL
    /// refuses anyway.
    pub fn blocks(&self) -> bool {
        self.allowed.is_none() || cannot_run(&self.rule)
    }

    /// `4dafe3eac60e_add_state.py:14 (4dafe3eac60e): adding-not-nullable-field: ...`
    pub fn headline(&self) -> String {
        let place = match (&self.file, &self.line) {
            (Some(file), _) if self.revision.is_empty() => file.clone(),
            (Some(file), Some((line, _))) => format!("{file}:{line} ({})", self.revision),
            (Some(file), None) => format!("{file} ({})", self.revision),
            _ => self.revision.clone(),
        };
        format!("{place}: {}: {}", self.rule, self.message)
    }

    /// The lines under the headline: the call, the SQL, the lock, the recipe.
    pub fn details(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some((_, call)) = &self.line {
            lines.push(format!("python: {call}"));
        }
        lines.push(format!("sql:    {}", self.sql));
        if let Some(impact) = &self.impact {
            lines.push(format!("lock:   {impact}"));
        }
        if let Some(help) = &self.help {
            lines.push(format!("safe:   {help}"));
        }
        if let Some(why) = &self.allowed {
            lines.push(format!("allowed: {why}"));
        }
        lines
    }
}

/// A rule name as squawk spells it, or an error listing the checked ones.
pub fn parse_rule(name: &str) -> Result<String, String> {
    if name == BREAKS_LIVE_CODE {
        return Ok(name.to_owned());
    }
    match name.parse::<Rule>() {
        Ok(rule) if RULES.contains(&rule) => Ok(rule.to_string()),
        _ => Err(format!(
            "`{name}` is not a rule wptdeploy checks; the rules: {}, {BREAKS_LIVE_CODE}",
            RULES
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Lints a SQL file here (`path`, its text `sql`): alembic's offline
/// output, whose findings are placed by revision, or any SQL, whose
/// findings are placed by line (`path:LINE`).
pub fn lint_sql_file(path: &str, sql: &str, settings: &LintSettings) -> Vec<Finding> {
    let by_revision = !revision_starts(sql).is_empty();
    let mut findings = lint(sql, &[], settings);
    for finding in &mut findings {
        let line = sql
            .find(&finding.sql)
            .map_or(0, |at| sql[..at].lines().count() + 1);
        finding.file = Some(if by_revision {
            path.to_owned()
        } else {
            format!("{path}:{line}")
        });
    }
    findings
}

/// Lints `sql` (alembic's offline output, `-- Running upgrade A -> B`
/// comments between revisions, or any SQL), `files` being the release's
/// migration files as `(name, text)`.
pub fn lint(sql: &str, files: &[(String, String)], settings: &LintSettings) -> Vec<Finding> {
    let rules = RULES
        .into_iter()
        .filter(|r| !(settings.timeouts_set && *r == Rule::RequireTimeoutSettings));
    let mut linter = Linter::from(rules);
    linter.settings = LinterSettings {
        pg_version: settings
            .server_version
            .as_deref()
            .and_then(major_minor)
            .unwrap_or_default(),
        assume_in_transaction: false,
    };
    let parsed = squawk_syntax::SourceFile::parse(sql);
    let revisions = revision_starts(sql);
    let graph = Graph::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    let file_of = |revision: &str| {
        let node = graph.nodes.get(revision)?;
        files.iter().find(|(name, _)| *name == node.file)
    };
    let mut findings: Vec<Finding> = linter
        .lint(&parsed, sql)
        .into_iter()
        .map(|violation| {
            let at = usize::from(violation.text_range.start());
            let revision = revisions
                .iter()
                .rev()
                .find(|(start, _)| *start <= at)
                .map_or_else(String::new, |(_, r)| r.clone());
            let statement = statement_at(sql, at);
            let file = file_of(&revision);
            let line = file.and_then(|(_, text)| line_of(text, &statement));
            let allowed = allowed(file, &violation.code.to_string(), settings);
            let table_rows = tables_in(&statement)
                .iter()
                .filter_map(|t| settings.rows.get(t).map(|n| (t.clone(), *n)))
                .find(|(_, n)| *n >= 0.0);
            Finding {
                revision,
                file: file.map(|(name, _)| name.clone()),
                line,
                sql: statement,
                rule: violation.code.to_string(),
                message: violation.message.clone(),
                impact: lock_of(violation.code).map(|lock| match table_rows {
                    Some((table, rows)) => {
                        format!("{lock}; {table} has about {} rows", rows_text(rows))
                    }
                    None => lock.to_owned(),
                }),
                help: violation.help.clone(),
                allowed,
            }
        })
        // Before the first revision, alembic makes its own table; SQL
        // without revisions is all the user's.
        .filter(|f| {
            revisions.is_empty()
                || !f.revision.is_empty()
                || f.rule == Rule::TransactionNesting.to_string()
        })
        .collect();
    findings.dedup_by(|a, b| a.rule == b.rule && a.sql == b.sql && a.revision == b.revision);
    if let Some(models) = &settings.live_models {
        findings.extend(live_code_findings(
            sql, &revisions, &file_of, models, settings,
        ));
    }
    findings
}

/// Why a finding of `rule` is allowed, if it is: a comment in its
/// migration `file`, or `--allow`.
fn allowed(file: Option<&(String, String)>, rule: &str, settings: &LintSettings) -> Option<String> {
    file.and_then(|(_, text)| allowance(text, rule))
        .or_else(|| {
            settings
                .allow
                .iter()
                .any(|a| a == rule)
                .then(|| "allowed with --allow".to_owned())
        })
}

/// The [`BREAKS_LIVE_CODE`] findings: what the pending revisions (in the
/// order the SQL runs them) do to tables and columns that a model of the
/// live release maps.
fn live_code_findings<'f>(
    sql: &str,
    revisions: &[(usize, String)],
    file_of: &dyn Fn(&str) -> Option<&'f (String, String)>,
    models: &[Model],
    settings: &LintSettings,
) -> Vec<Finding> {
    let mut new = NewSince::default();
    let mut findings = Vec::new();
    for (index, (start, revision)) in revisions.iter().enumerate() {
        let Some(file) = file_of(revision) else {
            continue;
        };
        let end = revisions
            .get(index + 1)
            .map_or(sql.len(), |(next, _)| *next);
        let section = &sql[*start..end];
        for found in hazard::for_old_code(&file::parse(&file.1), &mut new) {
            let Some((table, column)) = found.place() else {
                continue;
            };
            // A required column is squawk's `adding-required-field`.
            if matches!(found, Hazard::AddsRequired { .. }) {
                continue;
            }
            let Some(model) = models.iter().find(|m| {
                m.table == table && column.is_none_or(|c| m.columns.iter().any(|k| k == c))
            }) else {
                continue;
            };
            let statement = statement_naming(section, table, column);
            let what = format!(
                "{found}, which the live release's model {} still maps",
                model.place()
            );
            findings.push(Finding {
                revision: revision.clone(),
                file: Some(file.0.clone()),
                line: line_of(&file.1, &statement),
                sql: statement,
                rule: BREAKS_LIVE_CODE.to_owned(),
                message: format!(
                    "{what}: the live code fails on it from the moment this runs until the new release serves"
                ),
                impact: Some(
                    "the release serving now (and, in a rolling deploy, every host not yet switched) runs against the changed schema"
                        .into(),
                ),
                help: Some(
                    "expand/contract: first deploy a release whose models no longer use it (the column stays), then drop it in a later release; for a rename or a new type, add the new column, write both, backfill, read the new one, and only then drop the old".into(),
                ),
                allowed: allowed(Some(file), BREAKS_LIVE_CODE, settings),
            });
        }
    }
    findings
}

/// The statement of `section` that names `table` (and `column`): the
/// first one holding each as a word.
fn statement_naming(section: &str, table: &str, column: Option<&str>) -> String {
    let names = |statement: &str, word: &str| {
        statement
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    section
        .split_inclusive(';')
        .find(|s| names(s, table) && column.is_none_or(|c| names(s, c)))
        .map(|s| statement_at(s, 0))
        .unwrap_or_default()
}

/// `15.4 (Debian 15.4-1.pgdg120+1)` or `150004` as squawk's version.
fn major_minor(server_version: &str) -> Option<Version> {
    let word = server_version.split_whitespace().next()?;
    if !word.contains('.')
        && let Ok(number) = word.parse::<u32>()
        && number >= 100_000
    {
        return format!("{}.{}", number / 10_000, number % 10_000)
            .parse()
            .ok();
    }
    let numeric: String = word
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    numeric.trim_end_matches('.').parse().ok()
}

/// Where each revision's statements start: `-- Running upgrade A -> B`.
fn revision_starts(sql: &str) -> Vec<(usize, String)> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in sql.split_inclusive('\n') {
        if let Some(rest) = line.trim().strip_prefix("-- Running upgrade ")
            && let Some((_, to)) = rest.split_once("->")
        {
            let to = to
                .split([',', ' '])
                .find(|w| !w.is_empty())
                .unwrap_or_default();
            starts.push((offset, to.to_owned()));
        }
        offset += line.len();
    }
    starts
}

/// The whole statement around byte `at`, on one line.
fn statement_at(sql: &str, at: usize) -> String {
    let at = at.min(sql.len());
    let start = sql[..at].rfind(';').map_or(0, |i| i + 1);
    let end = sql[at..].find(';').map_or(sql.len(), |i| at + i + 1);
    sql[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line of the `op.*` call that names the most identifiers of
/// `statement` (quoted strings on the line), in `upgrade()`.
fn line_of(text: &str, statement: &str) -> Option<(usize, String)> {
    let words: BTreeSet<String> = statement
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut in_upgrade = false;
    let mut best: Option<(usize, usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if !line.starts_with([' ', '\t']) && !trimmed.is_empty() {
            in_upgrade = trimmed.starts_with("def upgrade");
            continue;
        }
        if !in_upgrade || !trimmed.contains("op.") || trimmed.contains("batch_alter_table(") {
            continue;
        }
        let score = quoted(trimmed)
            .iter()
            .filter(|q| words.contains(&q.to_lowercase()))
            .count();
        if score > 0 && best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, index + 1, trimmed.to_owned()));
        }
    }
    best.map(|(_, line, call)| (line, call))
}

/// The quoted strings of a line of Python.
fn quoted(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find(['\'', '"']) {
        let quote = rest.as_bytes()[open] as char;
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            break;
        };
        found.push(&after[..close]);
        rest = &after[close + 1..];
    }
    found
}

/// `# wptdeploy: allow RULE because WHY` in a migration file.
fn allowance(text: &str, rule: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.split_once("# wptdeploy: allow ")?.1.trim();
        let (name, why) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        (name == rule).then(|| {
            let why = why.trim().strip_prefix("because").unwrap_or(why).trim();
            if why.is_empty() {
                "allowed in the migration file".to_owned()
            } else {
                format!("allowed in the migration file: {why}")
            }
        })
    })
}

/// The tables a statement names after `TABLE`, `ON` or `INTO`.
fn tables_in(statement: &str) -> Vec<String> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| ["TABLE", "ON", "INTO", "REFERENCES"].contains(&w[0].to_uppercase().as_str()))
        .map(|w| {
            w[1].trim_matches(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|t| !t.is_empty() && !["IF", "ONLY"].contains(&t.to_uppercase().as_str()))
        .collect()
}

/// `12`, `48 thousand`, `3.2 million`.
fn rows_text(rows: f64) -> String {
    if rows >= 1e6 {
        format!("{:.1} million", rows / 1e6)
    } else if rows >= 1e3 {
        format!("{:.0} thousand", rows / 1e3)
    } else {
        format!("{}", rows.max(0.0).round())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\"\"\"add state\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = 'bbbb00000002'\ndown_revision = 'aaaa00000001'\n\n\ndef upgrade():\n    op.add_column('pull_request', sa.Column('state', sa.Text(), nullable=False))\n    op.create_index('ix_pr_number', 'pull_request', ['number'])\n\n\ndef downgrade():\n    op.drop_index('ix_pr_number')\n    op.drop_column('pull_request', 'state')\n";

    /// What `flask db upgrade --sql aaaa00000001:head` prints for FILE.
    const SQL: &str = "BEGIN;\n\n-- Running upgrade aaaa00000001 -> bbbb00000002\n\nALTER TABLE pull_request ADD COLUMN state TEXT NOT NULL;\n\nCREATE INDEX ix_pr_number ON pull_request (number);\n\nUPDATE alembic_version SET version_num='bbbb00000002' WHERE alembic_version.version_num = 'aaaa00000001';\n\nCOMMIT;\n\n";

    fn files() -> Vec<(String, String)> {
        vec![("bbbb00000002_add_state.py".into(), FILE.into())]
    }

    #[test]
    fn findings_name_the_revision_the_python_line_the_sql_and_the_lock() {
        let settings = LintSettings {
            timeouts_set: true,
            rows: BTreeMap::from([("pull_request".into(), 48_000.0)]),
            ..LintSettings::default()
        };
        let findings = lint(SQL, &files(), &settings);
        let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["adding-required-field", "require-concurrent-index-creation"],
            "{findings:#?}"
        );
        let required = &findings[0];
        assert_eq!(required.revision, "bbbb00000002");
        assert_eq!(required.file.as_deref(), Some("bbbb00000002_add_state.py"));
        assert_eq!(required.line.as_ref().map(|l| l.0), Some(10));
        assert_eq!(
            required.sql,
            "ALTER TABLE pull_request ADD COLUMN state TEXT NOT NULL;"
        );
        assert!(
            required
                .impact
                .as_deref()
                .unwrap()
                .ends_with("pull_request has about 48 thousand rows"),
            "{required:?}"
        );
        assert!(required.help.is_some());
        assert_eq!(findings[1].line.as_ref().map(|l| l.0), Some(11));
        assert!(findings[1].headline().starts_with(
            "bbbb00000002_add_state.py:11 (bbbb00000002): require-concurrent-index-creation: "
        ));
    }

    #[test]
    fn the_safe_versions_pass_and_missing_timeouts_count_only_when_not_set() {
        let safe = "BEGIN;\n-- Running upgrade aaaa00000001 -> bbbb00000002\nALTER TABLE pull_request ADD COLUMN state TEXT;\nCOMMIT;\n";
        assert_eq!(
            lint(
                safe,
                &files(),
                &LintSettings {
                    timeouts_set: true,
                    ..LintSettings::default()
                }
            ),
            []
        );
        let unset = lint(safe, &files(), &LintSettings::default());
        assert_eq!(
            unset.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
            ["require-lock-timeout", "require-statement-timeout"]
        );
    }

    #[test]
    fn the_server_version_changes_a_finding() {
        let sql = "BEGIN;\n-- Running upgrade aaaa00000001 -> bbbb00000002\nALTER TABLE pull_request ADD COLUMN state TEXT DEFAULT 'open';\nCOMMIT;\n";
        let on = |version: &str| {
            lint(
                sql,
                &files(),
                &LintSettings {
                    server_version: Some(version.into()),
                    timeouts_set: true,
                    ..LintSettings::default()
                },
            )
            .into_iter()
            .map(|f| f.rule)
            .collect::<Vec<_>>()
        };
        assert_eq!(on("10.23"), ["adding-field-with-default"]);
        assert_eq!(on("15.4 (Debian 15.4-1.pgdg120+1)"), Vec::<String>::new());
        assert_eq!(on("100023"), ["adding-field-with-default"]);
    }

    /// What the live release's models map decides `breaks-live-code`: a
    /// dropped column one of them maps is named with its model; one none
    /// of them maps, and a required column (`adding-required-field`), are
    /// squawk's business only.
    #[test]
    fn dropping_what_a_live_model_maps_names_the_model() {
        let file = "revision = 'cccc00000003'\ndown_revision = 'bbbb00000002'\n\n\ndef upgrade():\n    op.drop_column('pull_request', 'title')\n    op.drop_column('pull_request', 'legacy')\n    op.add_column('repository', sa.Column('owner', sa.Text(), nullable=False))\n";
        let sql = "BEGIN;\n-- Running upgrade bbbb00000002 -> cccc00000003\nALTER TABLE pull_request DROP COLUMN title;\nALTER TABLE pull_request DROP COLUMN legacy;\nALTER TABLE repository ADD COLUMN owner TEXT NOT NULL;\nCOMMIT;\n";
        let models = crate::migrations::models::read(&[(
            "app/models.py".into(),
            "class PullRequest(db.Model):\n    __tablename__ = 'pull_request'\n    id = db.Column(db.Integer, primary_key=True)\n    title = db.Column(db.Text)\n\n\nclass Repository(db.Model):\n    id = db.Column(db.Integer, primary_key=True)\n".into(),
        )]);
        let settings = LintSettings {
            timeouts_set: true,
            live_models: Some(models),
            ..LintSettings::default()
        };
        let files = vec![("cccc00000003_drop.py".to_owned(), file.to_owned())];
        let found: Vec<Finding> = lint(sql, &files, &settings)
            .into_iter()
            .filter(|f| f.rule == BREAKS_LIVE_CODE)
            .collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(
            found[0].headline(),
            "cccc00000003_drop.py:6 (cccc00000003): breaks-live-code: drops pull_request.title, which the live release's model PullRequest (app/models.py:1) still maps: the live code fails on it from the moment this runs until the new release serves"
        );
        assert_eq!(found[0].sql, "ALTER TABLE pull_request DROP COLUMN title;");
        // Without the live models (the same release, or not read): none.
        let unread = LintSettings {
            live_models: None,
            ..settings
        };
        assert!(
            lint(sql, &files, &unread)
                .iter()
                .all(|f| f.rule != BREAKS_LIVE_CODE)
        );
        assert_eq!(
            parse_rule(BREAKS_LIVE_CODE).as_deref(),
            Ok(BREAKS_LIVE_CODE)
        );
    }

    #[test]
    fn allowances_come_from_the_file_or_the_command_line() {
        let commented = FILE.replace(
            "def upgrade():",
            "# wptdeploy: allow require-concurrent-index-creation because the table has 40 rows\ndef upgrade():",
        );
        let files = vec![("bbbb00000002_add_state.py".to_owned(), commented)];
        let settings = LintSettings {
            timeouts_set: true,
            allow: vec!["adding-required-field".into()],
            ..LintSettings::default()
        };
        let allowed: Vec<Option<String>> = lint(SQL, &files, &settings)
            .into_iter()
            .map(|f| f.allowed)
            .collect();
        assert_eq!(
            allowed,
            [
                Some("allowed with --allow".to_owned()),
                Some("allowed in the migration file: the table has 40 rows".to_owned())
            ]
        );
        assert!(parse_rule("adding-required-field").is_ok());
        assert!(
            parse_rule("prefer-text-field")
                .unwrap_err()
                .contains("not a rule wptdeploy checks")
        );
    }
}
