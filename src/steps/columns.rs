//! `columns:` the columns of tables, as the database reports them (the
//! seed's step 8), failing when they are not as expected.
//!
//! ```yaml
//! - name: verify the columns
//!   columns:
//!     psql: "sudo -n -u postgres psql"
//!     database: "{{ db_name }}"
//!     tables: pull_request
//!     expect: "pull_request.comment_url:text,!pull_request.old_column"
//! ```
//!
//! `psql` is a shell template; table names are passed as data, never
//! spliced into SQL.

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_literal};
use super::outcome::Outcome;
use crate::migrations::columns::{self, ColumnReport, Expect};
use crate::template::TemplateError;
use crate::transport::{Output, quote};

/// The `columns:` kind.
pub struct ColumnsKind;

/// `columns:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsArgs {
    /// The psql command.
    pub psql: Tmpl,
    /// The database.
    pub database: Tmpl,
    /// Tables, comma-separated.
    pub tables: Tmpl,
    /// Expectations, comma-separated `table.column[:type]` or `!table.column`.
    #[serde(default)]
    pub expect: Option<Tmpl>,
}

impl StepKind for ColumnsKind {
    const KEY: &'static str = "columns";
    const SUMMARY: &'static str =
        "the columns of tables, from information_schema; fails when `expect` does not hold";
    type Args = ColumnsArgs;

    fn check(a: &ColumnsArgs) -> Result<(), String> {
        check_literal(a.expect.as_ref(), |expect| {
            parse_args("-", expect)
                .map(|_| ())
                .map_err(|e| format!("columns: {e}"))
        })?;
        check_literal(Some(&a.tables), |tables| {
            parse_args(tables, "")
                .map(|_| ())
                .map_err(|e| format!("columns: {e}"))
        })
    }

    fn templates(a: &ColumnsArgs) -> Vec<&str> {
        [&a.psql, &a.database, &a.tables]
            .into_iter()
            .chain(&a.expect)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &ColumnsArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let psql = render.shell(&a.psql)?;
        let expect = render.optional(a.expect.as_ref())?;
        let (tables, expects) =
            parse_args(&render.text(&a.tables)?, &expect).map_err(TemplateError::new)?;
        let mut command = render.command(script(&psql, &render.text(&a.database)?, &tables));
        command.stdin = Some(columns::QUERY.to_owned());
        let probe = command.clone();
        Ok(Prepared::new(command, move |ran| {
            ran.succeeded()?;
            Ok(outcome(ran.output, &tables, &expects))
        })
        .with_probe(probe)
        .data_on_stdout())
    }
}

/// The psql invocation; the query arrives on standard input and the table
/// names as a psql variable, so neither is spliced into SQL or shell.
pub fn script(psql: &str, database: &str, tables: &[String]) -> String {
    // From `/`: the login user's directory is not the database user's.
    format!(
        "cd / && {psql} -X -d {} -At -F \"$(printf '\\t')\" -v ON_ERROR_STOP=1 -v tables={}\n",
        quote(database),
        quote(&tables.join(","))
    )
}

/// Splits `tables` and `expect` (`table.column[:type]`, `!table.column`).
pub fn parse_args(tables: &str, expect: &str) -> Result<(Vec<String>, Vec<Expect>), String> {
    let tables: Vec<String> = tables
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let expects = expect
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|item| {
            let bare = item.trim_start_matches('!');
            let (table, column) = bare
                .split_once('.')
                .ok_or_else(|| format!("`{item}` is not `table.column[:type]`"))?;
            let negated = if item.starts_with('!') { "!" } else { "" };
            columns::parse_expect(table, &format!("{negated}{column}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if tables.is_empty() {
        return Err("no table given".into());
    }
    Ok((tables, expects))
}

/// Reads psql's output into a report.
fn outcome(output: &Output, tables: &[String], expects: &[Expect]) -> Outcome {
    let found = columns::parse_output(&output.stdout);
    let mut problems = columns::differences(&found, expects);
    for table in tables {
        if !found.iter().any(|c| &c.table == table)
            && expects.iter().all(|e| &e.table != table || e.present)
        {
            problems.push(format!("table {table} does not exist"));
        }
    }
    Outcome {
        changed: false,
        register: None,
        note: None,
        columns: Some(ColumnReport {
            tables: tables.to_vec(),
            columns: found,
            problems,
        }),
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_table_names_stay_data() {
        let script = script("psql", "wptdash", &["x'; drop table y; --".into()]);
        assert!(
            script.contains(r"-v tables='x'\''; drop table y; --'"),
            "{script}"
        );
    }

    #[test]
    fn expectations_name_their_table() {
        let (tables, expects) = parse_args(
            "pull_request",
            "pull_request.comment_url:text,!pull_request.old",
        )
        .unwrap();
        assert_eq!(tables, ["pull_request"]);
        assert_eq!(expects.len(), 2);
        assert!(!expects[1].present);
        assert!(parse_args("t", "nodot").is_err());
    }
}
