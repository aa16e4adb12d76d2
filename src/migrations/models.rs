//! The tables and columns an app's code maps, read from its Python source
//! without importing it: SQLAlchemy declarative classes (`class X(db.Model)`
//! with `db.Column`, `mapped_column` or `Mapped[...]` attributes) and
//! `db.Table('name', ..., db.Column('c', ...))` objects.
//!
//! It is a reading, not an import: columns made by mixins, loops or
//! `__table__` reflection are not seen. What it sees is enough to name the
//! model a migration would break.

/// A mapped class or `Table` of the app's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The class (`PullRequest`) or the variable holding the `Table`.
    pub name: String,
    /// The file it is in, relative to the release.
    pub file: String,
    /// The line of its `class` or assignment.
    pub line: usize,
    /// Its table.
    pub table: String,
    /// The columns it maps.
    pub columns: Vec<String>,
}

impl Model {
    /// `PullRequest (wptdash/models.py:18)`.
    pub fn place(&self) -> String {
        format!("{} ({}:{})", self.name, self.file, self.line)
    }
}

/// The models of the files given as `(path, text)`.
pub fn read(files: &[(String, String)]) -> Vec<Model> {
    files
        .iter()
        .flat_map(|(path, text)| read_file(path, text))
        .collect()
}

/// A class being read: its model so far, and whether it names a table or
/// inherits from a model base (a mixin does neither).
struct Class {
    model: Model,
    named: bool,
    mapped_base: bool,
}

fn read_file(path: &str, text: &str) -> Vec<Model> {
    let lines: Vec<&str> = text.lines().collect();
    let mut models = Vec::new();
    let mut class: Option<Class> = None;
    let finish = |class: Option<Class>, models: &mut Vec<Model>| {
        if let Some(c) = class
            && (c.named || c.mapped_base)
            && !c.model.columns.is_empty()
        {
            models.push(c.model);
        }
    };
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if !indented {
            finish(class.take(), &mut models);
            if let Some(rest) = trimmed.strip_prefix("class ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let bases = rest[name.len()..].trim_start();
                class = Some(Class {
                    model: Model {
                        table: default_table_name(&name),
                        name,
                        file: path.to_owned(),
                        line: index + 1,
                        columns: Vec::new(),
                    },
                    named: false,
                    mapped_base: bases.starts_with('(')
                        && (bases.contains("Model") || bases.contains("Base")),
                });
            } else if let Some(model) = table_object(path, &lines, index) {
                models.push(model);
            }
            continue;
        }
        let Some(c) = class.as_mut() else { continue };
        if line.starts_with("    ") && !line.starts_with("     ") {
            if let Some(table) = assigned_string(trimmed, "__tablename__") {
                c.model.table = table;
                c.named = true;
            } else if let Some(column) = column_attribute(&lines, index) {
                c.model.columns.push(column);
            }
        }
    }
    finish(class, &mut models);
    models
}

/// Flask-SQLAlchemy's table name for a class without `__tablename__`:
/// `PullRequest` is `pull_request`, `GitHubUser` is `git_hub_user`.
fn default_table_name(class: &str) -> String {
    let chars: Vec<char> = class.chars().collect();
    let mut name = String::new();
    for (i, c) in chars.iter().enumerate() {
        let after_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
        let before_lower = i > 0 && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        if c.is_uppercase() && (after_lower || before_lower) {
            name.push('_');
        }
        name.extend(c.to_lowercase());
    }
    name
}

/// `NAME = 'value'` (either quote) as `value`.
fn assigned_string(line: &str, name: &str) -> Option<String> {
    let value = line.strip_prefix(name)?.trim_start().strip_prefix('=')?;
    first_string(value.trim_start()).filter(|_| value.trim_start().starts_with(['\'', '"']))
}

/// The column an attribute line maps: `title = db.Column(db.Text)` is
/// `title`, `title = db.Column('pr_title', db.Text)` is `pr_title`,
/// `title: Mapped[str]` (with or without `= mapped_column(...)`) is `title`.
fn column_attribute(lines: &[&str], index: usize) -> Option<String> {
    let line = lines[index].trim();
    let attribute: String = line
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if attribute.is_empty() || attribute.starts_with("__") {
        return None;
    }
    let rest = line[attribute.len()..].trim_start();
    let annotated = rest.starts_with(':') && rest.contains("Mapped[");
    let value = rest.split_once('=').map_or("", |(_, v)| v.trim_start());
    let call = ["Column(", "mapped_column("]
        .iter()
        .find_map(|c| value.find(c).map(|at| at + c.len()));
    match call {
        Some(open)
            if value[..open]
                .rsplit(['.', ' '])
                .next()
                .is_some_and(is_column_call) =>
        {
            let arguments = call_text(lines, index, line.len() - value.len() + open);
            let first = arguments.split(',').next().unwrap_or_default().trim();
            Some(if first.starts_with(['\'', '"']) {
                first_string(first).unwrap_or(attribute)
            } else {
                attribute
            })
        }
        // `x: Mapped[int] = relationship(...)` or a plain value is no column.
        _ if annotated && value.is_empty() => Some(attribute),
        _ => None,
    }
}

fn is_column_call(callee: &str) -> bool {
    callee == "Column(" || callee == "mapped_column("
}

/// `USER_PR = db.Table('user_pr', db.metadata, db.Column('user_id', ...))`.
fn table_object(path: &str, lines: &[&str], index: usize) -> Option<Model> {
    let line = lines[index].trim();
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let open = value.find("Table(")? + "Table(".len();
    let callee = value[..open].trim();
    if !(callee == "Table(" || callee.ends_with(".Table(")) {
        return None;
    }
    let arguments = call_text(lines, index, line.len() - value.len() + open);
    let table = first_string(arguments.trim_start())?;
    let columns = arguments
        .match_indices("Column(")
        .filter_map(|(at, _)| {
            let rest = arguments[at + "Column(".len()..].trim_start();
            rest.starts_with(['\'', '"'])
                .then(|| first_string(rest))
                .flatten()
        })
        .collect();
    Some(Model {
        name: name.to_owned(),
        file: path.to_owned(),
        line: index + 1,
        table,
        columns,
    })
}

/// The arguments of the call whose `(` ends at byte `open` of the trimmed
/// line `index`, across lines until its parenthesis closes (at most 40).
fn call_text(lines: &[&str], index: usize, open: usize) -> String {
    let mut depth = 1;
    let mut text = String::new();
    let first = lines[index].trim();
    for chunk in std::iter::once(first.get(open..).unwrap_or_default())
        .chain(lines.iter().skip(index + 1).take(40).map(|l| l.trim()))
    {
        for c in chunk.chars() {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                return text;
            }
            text.push(c);
        }
        text.push(' ');
    }
    text
}

/// The first quoted string at the start of `text`.
fn first_string(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &text[1..];
    Some(rest[..rest.find(quote)?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like wptdash's models.py and a SQLAlchemy 2 app's.
    const MODELS: &str = r#""""Models."""
import enum
from wptdash.database import db


class BuildStatus(enum.Enum):
    PENDING = 1


USER_PR = db.Table('user_pr', db.metadata,
                   db.Column('user_id',
                             db.Integer,
                             db.ForeignKey('github_user.id')),
                   db.Column("pull_id", db.Integer))


class TimestampMixin:
    created = db.Column(db.DateTime)


class PullRequest(db.Model):

    """A pull request."""

    __tablename__ = 'pull_request'

    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.Text)
    head_sha = db.Column('head', db.String,
                         db.ForeignKey('commit.sha'))
    builds = db.relationship('Build', back_populates='pull_request')

    def url(self):
        number = 3
        return number


class GitHubUser(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(40))
    name: Mapped[str]
    repos: Mapped[list["Repo"]] = relationship()
"#;

    #[test]
    fn classes_tables_and_their_columns_are_read() {
        let models = read(&[("wptdash/models.py".into(), MODELS.into())]);
        let shown: Vec<(String, usize, String, Vec<String>)> = models
            .into_iter()
            .map(|m| (m.name, m.line, m.table, m.columns))
            .collect();
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            shown,
            [
                (
                    "USER_PR".into(),
                    10,
                    "user_pr".into(),
                    owned(&["user_id", "pull_id"])
                ),
                (
                    "PullRequest".into(),
                    21,
                    "pull_request".into(),
                    owned(&["id", "title", "head"])
                ),
                (
                    "GitHubUser".into(),
                    38,
                    "git_hub_user".into(),
                    owned(&["id", "login", "name"])
                ),
            ]
        );
    }

    #[test]
    fn default_table_names_follow_flask_sqlalchemy() {
        assert_eq!(default_table_name("PullRequest"), "pull_request");
        assert_eq!(default_table_name("GitHubUser"), "git_hub_user");
        assert_eq!(default_table_name("HTTPLog"), "http_log");
        assert_eq!(default_table_name("Job2Result"), "job2_result");
        assert_eq!(default_table_name("build"), "build");
    }
}
