//! What in a migration can trip code written before it: the release that
//! is live while a deploy migrates, or the release a rollback goes back
//! to. Read from the migration's `upgrade()` ([`super::file`]).

use std::collections::BTreeSet;
use std::fmt;

use super::file::{MigrationFile, Operation};

/// `op.*` calls that old code cannot notice (indexes only make it faster
/// or slower).
const HARMLESS: [&str; 4] = [
    "op.create_index",
    "op.drop_index",
    "batch_op.create_index",
    "batch_op.drop_index",
];

/// One thing a migration does that old code may trip on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hazard {
    /// `op.drop_table`.
    DropsTable {
        /// Table.
        table: String,
    },
    /// `op.drop_column`.
    DropsColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// `op.alter_column(..., new_column_name=...)`.
    RenamesColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Its new name.
        to: String,
    },
    /// `op.alter_column(..., type_=...)`.
    RetypesColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// The new SQLAlchemy type.
        to: String,
    },
    /// `op.add_column` of a NOT NULL column without a default to a table
    /// the old code inserts into.
    AddsRequired {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// An `op.*` call wptdeploy cannot judge (`op.execute`).
    Unjudged {
        /// The call.
        call: String,
    },
}

impl Hazard {
    /// The table and, for a column's hazard, the column.
    pub fn place(&self) -> Option<(&str, Option<&str>)> {
        match self {
            Hazard::DropsTable { table } => Some((table, None)),
            Hazard::DropsColumn { table, column }
            | Hazard::RenamesColumn { table, column, .. }
            | Hazard::RetypesColumn { table, column, .. }
            | Hazard::AddsRequired { table, column } => Some((table, Some(column))),
            Hazard::Unjudged { .. } => None,
        }
    }
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hazard::DropsTable { table } => write!(f, "drops table {table}"),
            Hazard::DropsColumn { table, column } => write!(f, "drops {table}.{column}"),
            Hazard::RenamesColumn { table, column, to } => {
                write!(f, "renames {table}.{column} to {to}")
            }
            Hazard::RetypesColumn { table, column, to } => {
                write!(f, "changes {table}.{column} to {to}")
            }
            Hazard::AddsRequired { table, column } => write!(
                f,
                "adds {table}.{column} NOT NULL without a default (the old code's inserts fail)"
            ),
            Hazard::Unjudged { call } => write!(f, "runs {call}, which wptdeploy cannot judge"),
        }
    }
}

/// What the old code never knew: tables and columns that migrations after
/// it created (so dropping or changing them cannot trip it). Carried from
/// one migration to the next, oldest first.
#[derive(Debug, Default)]
pub struct NewSince {
    tables: BTreeSet<String>,
    columns: BTreeSet<(String, String)>,
}

impl NewSince {
    fn knows(&self, table: &str, column: &str) -> bool {
        !self.tables.contains(table)
            && !self
                .columns
                .contains(&(table.to_owned(), column.to_owned()))
    }
}

/// What in a migration's `upgrade()` code written before it may trip on,
/// given what earlier migrations it does not know (and earlier operations)
/// created.
pub fn for_old_code(migration: &MigrationFile, new: &mut NewSince) -> Vec<Hazard> {
    let mut found = Vec::new();
    for op in &migration.upgrade {
        match op {
            Operation::CreateTable { table, .. } => {
                new.tables.insert(table.clone());
            }
            Operation::AddColumn {
                table,
                column,
                required,
                ..
            } => {
                if *required && !new.tables.contains(table) {
                    found.push(Hazard::AddsRequired {
                        table: table.clone(),
                        column: column.clone(),
                    });
                }
                new.columns.insert((table.clone(), column.clone()));
            }
            Operation::DropTable { table } if !new.tables.contains(table) => {
                found.push(Hazard::DropsTable {
                    table: table.clone(),
                });
            }
            Operation::DropColumn { table, column } if new.knows(table, column) => {
                found.push(Hazard::DropsColumn {
                    table: table.clone(),
                    column: column.clone(),
                });
            }
            Operation::AlterColumn {
                table,
                column,
                new_name: Some(renamed),
                ..
            } => {
                if new.knows(table, column) {
                    found.push(Hazard::RenamesColumn {
                        table: table.clone(),
                        column: column.clone(),
                        to: renamed.clone(),
                    });
                }
                new.columns.insert((table.clone(), renamed.clone()));
            }
            Operation::AlterColumn {
                table,
                column,
                sa_type: Some(sa_type),
                ..
            } if new.knows(table, column) => {
                found.push(Hazard::RetypesColumn {
                    table: table.clone(),
                    column: column.clone(),
                    to: sa_type.clone(),
                });
            }
            // Other column options, and changes to what the old code never
            // knew: it does not notice them.
            Operation::DropTable { .. }
            | Operation::DropColumn { .. }
            | Operation::AlterColumn { .. } => {}
        }
    }
    for call in migration
        .other
        .iter()
        .filter(|c| !HARMLESS.contains(&c.as_str()))
    {
        found.push(Hazard::Unjudged { call: call.clone() });
    }
    found
}
