//! The seed's step 8, automated: the columns of a table as the database
//! reports them, and what a migration says they should be.

/// The query, with the table names passed as data (`-v tables=a,b`), never
/// spliced into SQL: psql quotes `:'tables'` as a literal.
pub const QUERY: &str = "SELECT table_name, column_name, data_type FROM information_schema.columns \
WHERE table_schema = current_schema() AND table_name = ANY (string_to_array(:'tables', ',')) \
ORDER BY table_name, ordinal_position;\n";

/// One column in the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// Its table.
    pub table: String,
    /// Its name.
    pub name: String,
    /// `information_schema.columns.data_type` (e.g. `text`, `integer`).
    pub data_type: String,
}

/// The tables' columns and whether they match what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnReport {
    /// The tables asked about.
    pub tables: Vec<String>,
    /// Their columns.
    pub columns: Vec<Column>,
    /// Differences from the expectations (empty: all good).
    pub problems: Vec<String>,
}

/// What a column should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// Its type, when it matters.
    pub data_type: Option<String>,
    /// Present (true) or gone (false).
    pub present: bool,
}

/// Parses `psql -At -F '\t'` output of [`QUERY`].
pub fn parse_output(stdout: &str) -> Vec<Column> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            Some(Column {
                table: fields.next()?.to_owned(),
                name: fields.next()?.to_owned(),
                data_type: fields.next()?.to_owned(),
            })
        })
        .collect()
}

/// Parses `--expect` items for `table`: `name`, `name:type`, or `!name` (must be gone).
pub fn parse_expect(table: &str, item: &str) -> Result<Expect, String> {
    let (present, rest) = match item.strip_prefix('!') {
        Some(rest) => (false, rest),
        None => (true, item),
    };
    let (column, data_type) = match rest.split_once(':') {
        Some((c, t)) => (c, Some(t.trim().to_owned())),
        None => (rest, None),
    };
    if column.is_empty() || (!present && data_type.is_some()) {
        return Err(format!(
            "`{item}` is not `column`, `column:type` or `!column`"
        ));
    }
    Ok(Expect {
        table: table.to_owned(),
        column: column.trim().to_owned(),
        data_type,
        present,
    })
}

/// The differences between the database and the expectations, one line each.
pub fn differences(columns: &[Column], expects: &[Expect]) -> Vec<String> {
    let mut problems = Vec::new();
    for expect in expects {
        let found = columns
            .iter()
            .find(|c| c.table == expect.table && c.name == expect.column);
        match (found, expect.present) {
            (None, true) => problems.push(format!(
                "{}.{} is missing{}",
                expect.table,
                expect.column,
                expect
                    .data_type
                    .as_ref()
                    .map(|t| format!(" (expected {t})"))
                    .unwrap_or_default()
            )),
            (Some(_), false) => problems.push(format!(
                "{}.{} should be gone but is there",
                expect.table, expect.column
            )),
            (Some(column), true) => {
                if let Some(want) = &expect.data_type
                    && !column.data_type.eq_ignore_ascii_case(want)
                {
                    problems.push(format!(
                        "{}.{} is {}, expected {want}",
                        expect.table, expect.column, column.data_type
                    ));
                }
            }
            (None, false) => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_are_checked_against_the_columns() {
        let columns = parse_output("pull_request\tid\tinteger\npull_request\ttitle\ttext\n");
        let expect = |s: &str| parse_expect("pull_request", s).unwrap();
        assert!(
            differences(
                &columns,
                &[expect("title:text"), expect("id"), expect("!comment_url")]
            )
            .is_empty()
        );
        assert_eq!(
            differences(
                &columns,
                &[
                    expect("comment_url:text"),
                    expect("title:integer"),
                    expect("!id")
                ]
            ),
            [
                "pull_request.comment_url is missing (expected text)",
                "pull_request.title is text, expected integer",
                "pull_request.id should be gone but is there",
            ]
        );
        assert!(parse_expect("t", "!x:text").is_err());
    }
}
