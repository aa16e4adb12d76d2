//! Reading a migration file: its revision, and what its `upgrade()` does
//! to tables and columns (`op.*` calls, and `batch_op.*` inside
//! `with op.batch_alter_table(...)`, which Flask-Migrate generates).

use super::columns::Expect;

/// One schema operation of `upgrade()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `op.create_table('t', sa.Column('c', sa.Text()), ...)`
    CreateTable {
        /// Table.
        table: String,
        /// Columns and their SQLAlchemy types.
        columns: Vec<(String, String)>,
    },
    /// `op.drop_table('t')`
    DropTable {
        /// Table.
        table: String,
    },
    /// `op.add_column('t', sa.Column('c', sa.Text()))`
    AddColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// SQLAlchemy type (`Text`).
        sa_type: String,
        /// `nullable=False` without a `server_default`: code that does not
        /// know the column cannot insert rows any more.
        required: bool,
    },
    /// `op.drop_column('t', 'c')`
    DropColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// `op.alter_column('t', 'c', type_=..., new_column_name=...)`
    AlterColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// New SQLAlchemy type, if changed.
        sa_type: Option<String>,
        /// New name, if renamed.
        new_name: Option<String>,
    },
}

/// A parsed migration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationFile {
    /// `revision = '...'`.
    pub revision: Option<String>,
    /// `down_revision = '...'`.
    pub down_revision: Option<String>,
    /// The operations of `upgrade()`, in order.
    pub upgrade: Vec<Operation>,
    /// Other `op.*` calls of `upgrade()` (`op.execute`, `op.create_index`),
    /// by name, in order.
    pub other: Vec<String>,
}

/// Parses the text of a migration file.
pub fn parse(text: &str) -> MigrationFile {
    let mut file = MigrationFile::default();
    let mut in_upgrade = false;
    let mut batch: Option<(usize, String)> = None;
    let mut statement = String::new();
    let mut statement_indent = 0;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if statement.is_empty() {
            if indent == 0 {
                in_upgrade = trimmed.starts_with("def upgrade");
                if let Some(value) = assigned(trimmed, "revision") {
                    file.revision = value.into_iter().next();
                } else if let Some(value) = assigned(trimmed, "down_revision") {
                    file.down_revision = value.into_iter().next();
                }
            }
            if batch.as_ref().is_some_and(|(at, _)| indent <= *at) {
                batch = None;
            }
            statement_indent = indent;
        }
        statement.push_str(trimmed);
        statement.push(' ');
        if depth(&statement) > 0 {
            continue;
        }
        let done = std::mem::take(&mut statement);
        if !in_upgrade {
            continue;
        }
        if done.starts_with("with op.batch_alter_table(") {
            batch = strings(&done)
                .first()
                .map(|t| (statement_indent, t.clone()));
        } else if let Some(op) = operation(&done, batch.as_ref().map(|(_, t)| t.as_str())) {
            file.upgrade.push(op);
        } else if done.starts_with("op.") || done.starts_with("batch_op.") {
            let call = done.split('(').next().unwrap_or_default().trim();
            file.other.push(call.to_owned());
        }
    }
    file
}

/// The string literals assigned to `name` on `line`: `name = 'x'`, with a
/// type annotation (`name: Union[str, None] = 'x'`, as alembic 1.13 writes),
/// or a tuple of them (a merge's `down_revision = ('a', 'b')`). `None` if
/// the line assigns something else.
pub fn assigned(line: &str, name: &str) -> Option<Vec<String>> {
    let rest = line.strip_prefix(name)?.trim_start();
    let rest = match rest.strip_prefix(':') {
        Some(annotated) => &annotated[annotated.find('=')?..],
        None => rest,
    };
    let value = rest.strip_prefix('=')?.trim();
    if value.starts_with('=') {
        return None;
    }
    Some(strings(value))
}

fn depth(text: &str) -> i32 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The string literals of a statement, in order.
fn strings(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' {
            let literal: String = chars.by_ref().take_while(|&d| d != c).collect();
            found.push(literal);
        }
    }
    found
}

/// `sa.Column('name', sa.Type(...` occurrences: (name, Type).
fn columns(text: &str) -> Vec<(String, String)> {
    text.match_indices("sa.Column(")
        .filter_map(|(at, _)| {
            let rest = &text[at + "sa.Column(".len()..];
            let name = strings(rest).into_iter().next()?;
            let after = &rest[rest.find(&name)? + name.len()..];
            Some((name, sa_type(after).unwrap_or_default()))
        })
        .collect()
}

/// The first `sa.Type` (or `postgresql.TYPE`) token.
fn sa_type(text: &str) -> Option<String> {
    let at = text.find("sa.").or_else(|| text.find("postgresql."))?;
    let token = &text[at..];
    let token = &token[token.find('.')? + 1..];
    let name: String = token
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    // `sa.DateTime(timezone=True)` is another PostgreSQL type: `DateTime+tz`.
    let arguments = token[name.len()..]
        .strip_prefix('(')
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_default();
    let zoned = arguments.replace(' ', "").contains("timezone=True");
    Some(if zoned { format!("{name}+tz") } else { name })
}

fn keyword(text: &str, name: &str) -> Option<String> {
    let at = text.find(&format!("{name}="))?;
    Some(text[at + name.len() + 1..].to_owned())
}

fn operation(statement: &str, batch_table: Option<&str>) -> Option<Operation> {
    let call = statement.split('(').next()?.trim();
    let (on_batch, name) = match call.split_once('.') {
        Some(("op", name)) => (false, name),
        Some(("batch_op", name)) => (true, name),
        _ => return None,
    };
    let args = strings(statement);
    // In a batch, the table comes from the `with` line, not the call.
    let (table, rest): (String, &[String]) = if on_batch {
        (batch_table?.to_owned(), &args[..])
    } else {
        (args.first()?.clone(), args.get(1..).unwrap_or_default())
    };
    Some(match name {
        "create_table" => Operation::CreateTable {
            table,
            columns: columns(statement),
        },
        "drop_table" => Operation::DropTable { table },
        "add_column" => {
            let (column, sa_type) = columns(statement).into_iter().next()?;
            Operation::AddColumn {
                table,
                column,
                sa_type,
                required: keyword(statement, "nullable")
                    .is_some_and(|v| v.trim_start().starts_with("False"))
                    && keyword(statement, "server_default").is_none(),
            }
        }
        "drop_column" => Operation::DropColumn {
            table,
            column: rest.first()?.clone(),
        },
        "alter_column" => Operation::AlterColumn {
            table,
            column: rest.first()?.clone(),
            sa_type: keyword(statement, "type_").and_then(|t| sa_type(&t)),
            new_name: keyword(statement, "new_column_name")
                .and_then(|t| strings(&t).into_iter().next()),
        },
        _ => return None,
    })
}

/// `information_schema` `data_type` for a SQLAlchemy type, where known.
pub fn pg_type(sa_type: &str) -> Option<&'static str> {
    Some(match sa_type {
        "Integer" | "INTEGER" => "integer",
        "SmallInteger" | "SMALLINT" => "smallint",
        "BigInteger" | "BIGINT" => "bigint",
        "String" | "Unicode" | "VARCHAR" => "character varying",
        "Text" | "UnicodeText" | "TEXT" => "text",
        "Boolean" | "BOOLEAN" => "boolean",
        "DateTime" | "TIMESTAMP" => "timestamp without time zone",
        "DateTime+tz" | "TIMESTAMP+tz" => "timestamp with time zone",
        "Time+tz" | "TIME+tz" => "time with time zone",
        "Date" | "DATE" => "date",
        "Time" => "time without time zone",
        "Float" | "DOUBLE_PRECISION" => "double precision",
        "Numeric" | "NUMERIC" => "numeric",
        "JSON" => "json",
        "JSONB" => "jsonb",
        "Enum" | "ENUM" => "USER-DEFINED",
        "LargeBinary" | "BYTEA" => "bytea",
        "Interval" | "INTERVAL" => "interval",
        "Uuid" | "UUID" => "uuid",
        _ => return None,
    })
}

impl MigrationFile {
    /// What the playbooks need to apply and check this migration, as
    /// template values: `file`, `revision`, `parent`, `tables` (comma-
    /// separated), `expect` (after `upgrade()`, see `columns:`),
    /// `unexpect` (after `downgrade()`: what it added gone, what it dropped
    /// back) and `drops` (what `upgrade()` drops: `table T`, `column T.C`).
    pub fn description(&self, file: &str) -> std::collections::BTreeMap<&'static str, String> {
        let spec = |expects: Vec<Expect>| -> String {
            expects
                .into_iter()
                .map(|e| {
                    let negated = if e.present { "" } else { "!" };
                    let data_type = e.data_type.map(|t| format!(":{t}")).unwrap_or_default();
                    format!("{negated}{}.{}{data_type}", e.table, e.column)
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let after = self.expectations();
        let before = self.prior_expectations();
        std::collections::BTreeMap::from([
            ("file", file.to_owned()),
            ("revision", self.revision.clone().unwrap_or_default()),
            ("parent", self.down_revision.clone().unwrap_or_default()),
            ("tables", self.tables().join(",")),
            ("expect", spec(after)),
            ("unexpect", spec(before)),
            ("drops", self.drops().join(", ")),
        ])
    }

    /// What `upgrade()` drops, with its data: `table T`, `column T.C`.
    pub fn drops(&self) -> Vec<String> {
        self.upgrade
            .iter()
            .filter_map(|op| match op {
                Operation::DropTable { table } => Some(format!("table {table}")),
                Operation::DropColumn { table, column } => Some(format!("column {table}.{column}")),
                _ => None,
            })
            .collect()
    }

    /// The tables `upgrade()` touches, in order of first mention.
    pub fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = Vec::new();
        for op in &self.upgrade {
            let table = match op {
                Operation::CreateTable { table, .. }
                | Operation::DropTable { table }
                | Operation::AddColumn { table, .. }
                | Operation::DropColumn { table, .. }
                | Operation::AlterColumn { table, .. } => table,
            };
            if !tables.contains(table) {
                tables.push(table.clone());
            }
        }
        tables
    }

    /// What a person must look at before merging: `upgrade()` operations
    /// that lose data or change types, and a drop plus an add in one table,
    /// which is how autogenerate writes a rename (losing the column's data).
    pub fn review(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for op in &self.upgrade {
            match op {
                Operation::DropTable { table } => notes.push(format!("drops table {table}: its rows are lost")),
                Operation::DropColumn { table, column } => {
                    let added: Vec<&str> = self
                        .upgrade
                        .iter()
                        .filter_map(|o| match o {
                            Operation::AddColumn { table: t, column: c, .. } if t == table => Some(c.as_str()),
                            _ => None,
                        })
                        .collect();
                    match added.as_slice() {
                        [new] => notes.push(format!(
                            "drops {table}.{column} and adds {table}.{new}: if this is a rename, autogenerate loses the data; write `op.alter_column('{table}', '{column}', new_column_name='{new}')` instead"
                        )),
                        _ => notes.push(format!("drops column {table}.{column}: its data is lost")),
                    }
                }
                Operation::AlterColumn {
                    table,
                    column,
                    sa_type: Some(sa_type),
                    ..
                } => notes.push(format!(
                    "changes the type of {table}.{column} to {sa_type}: check that existing values convert"
                )),
                _ => {}
            }
        }
        notes
    }

    /// The columns that must exist (with their types) or be gone once
    /// `upgrade()` has run. A dropped table is expected to have no columns
    /// left, checked through the columns it was known to have here.
    pub fn expectations(&self) -> Vec<Expect> {
        let mut expects: Vec<Expect> = Vec::new();
        let set = |expects: &mut Vec<Expect>,
                   table: &str,
                   column: &str,
                   sa: Option<&str>,
                   present: bool| {
            expects.retain(|e| !(e.table == table && e.column == column));
            expects.push(Expect {
                table: table.to_owned(),
                column: column.to_owned(),
                data_type: sa.and_then(pg_type).map(str::to_owned),
                present,
            });
        };
        for op in &self.upgrade {
            match op {
                Operation::CreateTable { table, columns } => {
                    for (column, sa) in columns {
                        set(&mut expects, table, column, Some(sa), true);
                    }
                }
                Operation::AddColumn {
                    table,
                    column,
                    sa_type,
                    ..
                } => set(&mut expects, table, column, Some(sa_type), true),
                Operation::DropColumn { table, column } => {
                    set(&mut expects, table, column, None, false);
                }
                Operation::AlterColumn {
                    table,
                    column,
                    sa_type,
                    new_name,
                } => match new_name {
                    Some(new) => {
                        set(&mut expects, table, column, None, false);
                        set(&mut expects, table, new, sa_type.as_deref(), true);
                    }
                    None => set(&mut expects, table, column, sa_type.as_deref(), true),
                },
                Operation::DropTable { table } => {
                    let known: Vec<String> = expects
                        .iter()
                        .filter(|e| &e.table == table)
                        .map(|e| e.column.clone())
                        .collect();
                    for column in known {
                        set(&mut expects, table, &column, None, false);
                    }
                }
            }
        }
        expects
    }

    /// The columns as they were before `upgrade()` (so after `downgrade()`):
    /// each column as the first operation touching it found it. What
    /// `upgrade()` made is gone, what it dropped, renamed or retyped is
    /// there (its old type unknown). A dropped table's columns are unknown.
    pub fn prior_expectations(&self) -> Vec<Expect> {
        let mut expects: Vec<Expect> = Vec::new();
        let mut first = |table: &str, column: &str, present: bool| {
            if !expects
                .iter()
                .any(|e| e.table == table && e.column == column)
            {
                expects.push(Expect {
                    table: table.to_owned(),
                    column: column.to_owned(),
                    data_type: None,
                    present,
                });
            }
        };
        for op in &self.upgrade {
            match op {
                Operation::CreateTable { table, columns } => {
                    for (column, _) in columns {
                        first(table, column, false);
                    }
                }
                Operation::AddColumn { table, column, .. } => first(table, column, false),
                Operation::DropColumn { table, column } => first(table, column, true),
                Operation::AlterColumn {
                    table,
                    column,
                    new_name,
                    ..
                } => {
                    first(table, column, true);
                    if let Some(new) = new_name {
                        first(table, new, false);
                    }
                }
                Operation::DropTable { .. } => {}
            }
        }
        expects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_are_read_with_annotations_and_tuples() {
        assert_eq!(
            assigned("revision = 'abc'", "revision"),
            Some(vec!["abc".into()])
        );
        assert_eq!(
            assigned("down_revision: Union[str, None] = \"abc\"", "down_revision"),
            Some(vec!["abc".into()])
        );
        assert_eq!(
            assigned("down_revision = ('a1', 'b2')", "down_revision"),
            Some(vec!["a1".into(), "b2".into()])
        );
        assert_eq!(
            assigned("down_revision = None", "down_revision"),
            Some(vec![])
        );
        assert_eq!(assigned("revision_x = 'a'", "revision"), None);
    }

    const ADD_COMMENT_URL: &str =
        include_str!("../../tests/fixtures/4dafe3eac60e_add_comment_url.py");
    const INITIAL: &str =
        include_str!("../../examples/app/migrations/versions/735093c03092_initial_tables.py");

    #[test]
    fn a_flask_migrate_batch_add_column() {
        let file = parse(ADD_COMMENT_URL);
        assert_eq!(file.revision.as_deref(), Some("4dafe3eac60e"));
        assert_eq!(file.down_revision.as_deref(), Some("735093c03092"));
        assert_eq!(
            file.upgrade,
            [Operation::AddColumn {
                table: "pull_request".into(),
                column: "comment_url".into(),
                sa_type: "Text".into(),
                required: false,
            }]
        );
        let expects = file.expectations();
        assert_eq!(expects[0].data_type.as_deref(), Some("text"));
        assert!(expects[0].present);
    }

    #[test]
    fn a_time_zone_makes_another_postgresql_type() {
        let file = parse(&ADD_COMMENT_URL.replace("sa.Text()", "sa.DateTime(timezone=True)"));
        assert_eq!(
            file.expectations()[0].data_type.as_deref(),
            Some("timestamp with time zone")
        );
        let naive = parse(&ADD_COMMENT_URL.replace("sa.Text()", "sa.DateTime()"));
        assert_eq!(
            naive.expectations()[0].data_type.as_deref(),
            Some("timestamp without time zone")
        );
    }

    #[test]
    fn create_table_columns_and_downgrade_is_ignored() {
        let file = parse(INITIAL);
        assert_eq!(file.down_revision, None);
        assert_eq!(file.tables(), ["repository", "pull_request"]);
        let Operation::CreateTable { columns, .. } = &file.upgrade[1] else {
            panic!()
        };
        assert!(columns.contains(&("state".into(), "Enum".into())));
        assert!(columns.contains(&("head_sha".into(), "String".into())));
        assert_eq!(file.expectations().len(), 10);
    }

    #[test]
    fn review_flags_drops_type_changes_and_rename_shaped_pairs() {
        let file = parse(
            "def upgrade():\n    with op.batch_alter_table('pull_request', schema=None) as batch_op:\n        batch_op.add_column(sa.Column('headline', sa.Text(), nullable=True))\n        batch_op.drop_column('title')\n        batch_op.alter_column('number', existing_type=sa.INTEGER(), type_=sa.BigInteger())\n    op.drop_table('test_mirror')\n",
        );
        let notes = file.review();
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with(
            "drops pull_request.title and adds pull_request.headline: if this is a rename"
        ));
        assert!(notes[1].contains("changes the type of pull_request.number to BigInteger"));
        assert_eq!(notes[2], "drops table test_mirror: its rows are lost");
        assert!(
            parse(include_str!(
                "../../tests/fixtures/4dafe3eac60e_add_comment_url.py"
            ))
            .review()
            .is_empty()
        );
    }

    #[test]
    fn plain_op_calls_drops_and_renames() {
        let file = parse(
            "revision = 'b'\ndown_revision = 'a'\ndef upgrade():\n    op.drop_column('pull_request', 'title')\n    op.add_column('pull_request', sa.Column('headline', sa.String(length=200), nullable=True))\n    op.alter_column('pull_request', 'number',\n               new_column_name='pr_number', type_=sa.BigInteger())\n    op.drop_table('repository')\n\ndef downgrade():\n    op.add_column('pull_request', sa.Column('title', sa.Text()))\n",
        );
        assert_eq!(file.upgrade.len(), 4);
        let expects = file.expectations();
        let find = |c: &str| expects.iter().find(|e| e.column == c).unwrap();
        assert!(!find("title").present);
        assert_eq!(
            find("headline").data_type.as_deref(),
            Some("character varying")
        );
        assert!(!find("number").present);
        assert_eq!(find("pr_number").data_type.as_deref(), Some("bigint"));
    }

    /// What undoing several upgrades leaves is what the first operation on
    /// each column found: a column added then dropped was never there, a
    /// column renamed and renamed again is back under its first name.
    #[test]
    fn prior_expectations_follow_the_first_operation_on_each_column() {
        let file = parse(
            "def upgrade():\n    op.add_column('pr', sa.Column('tmp', sa.Text()))\n    op.drop_column('pr', 'tmp')\n    op.alter_column('pr', 'a', new_column_name='b')\n    op.alter_column('pr', 'b', new_column_name='c')\n    op.alter_column('pr', 'n', type_=sa.Integer())\n    op.drop_column('pr', 'old')\n    op.create_table('t', sa.Column('id', sa.Integer()))\n    op.drop_table('t')\n",
        );
        assert_eq!(
            file.description("")["unexpect"],
            "!pr.tmp,pr.a,!pr.b,!pr.c,pr.n,pr.old,!t.id"
        );
    }
}
