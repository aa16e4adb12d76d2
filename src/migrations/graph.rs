//! A release's revision graph, read from its migration files' headers in
//! Rust (no Python start-up), against the revision the database is at: what
//! a plain deploy checks in milliseconds before it puts code live.

use std::collections::{BTreeMap, BTreeSet};

use super::file::assigned;

/// One migration file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its revision id.
    pub id: String,
    /// Its parents (none for the first; two or more for a merge).
    pub parents: Vec<String>,
    /// The first line of its docstring (alembic's message).
    pub message: String,
    /// The file it is in.
    pub file: String,
}

/// Every revision of a release, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// The revisions.
    pub nodes: BTreeMap<String, Node>,
}

/// How the database stands against a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// At the release's head (or both empty).
    Current,
    /// Behind: these revisions would run, oldest first.
    Pending(Vec<Node>),
    /// At revisions this release does not know (ahead, or another branch).
    Unknown(Vec<String>),
}

/// Shell that prints the headers of the migration files in the directory
/// `$dir_var` (a shell variable name) for [`Graph::from_listing`]: one
/// `@file NAME` line per file, then, from one `grep -H` over them all, its
/// `revision`/`down_revision` and docstring lines as `PATH:LINE` (one
/// process for the lot: a repository's hundred migrations are not two
/// hundred processes).
pub fn listing_script(dir_var: &str) -> String {
    format!(
        "listed=\n\
         for f in \"${dir_var}\"/*.py; do\n\
         \x20 [ -f \"$f\" ] || continue\n\
         \x20 printf '@file %s\\n' \"${{f##*/}}\"; listed=1\n\
         done\n\
         if [ -n \"$listed\" ]; then grep -HE '^(revision|down_revision)([^A-Za-z0-9_]|$)|^[rRuU]?\"\"\"' -- \"${dir_var}\"/*.py || true; fi\n"
    )
}

/// Whether `line` is one of [`listing_script`]'s (or a `@| ` line).
pub fn is_listing_line(line: &str) -> bool {
    line.starts_with("@file ")
        || line.starts_with("@|")
        || (!line.starts_with('@') && line.contains(".py:"))
}

/// The files (name, text) in lines like [`listing_script`]'s: `@file NAME`,
/// then its lines as `PATH:LINE` (PATH ending in `/NAME`), or prefixed with
/// `@| ` (all of them, or only its headers). A `PATH:LINE` line goes to the
/// latest file listed by that name; one naming no such file is ignored.
pub fn files_from_listing<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in lines {
        if let Some(name) = line.strip_prefix("@file ") {
            files.push((name.to_owned(), String::new()));
        } else if let Some(content) = line.strip_prefix("@| ").or_else(|| line.strip_prefix("@|")) {
            if let Some((_, text)) = files.last_mut() {
                text.push_str(content);
                text.push('\n');
            }
        } else if let Some((path, content)) = line.split_once(".py:") {
            let name = format!("{}.py", path.rsplit('/').next().unwrap_or(path));
            if let Some((_, text)) = files.iter_mut().rev().find(|(n, _)| *n == name) {
                text.push_str(content);
                text.push('\n');
            }
        }
    }
    files
}

impl Graph {
    /// Reads what [`listing_script`] printed (other lines are ignored).
    pub fn from_listing<'a>(lines: impl IntoIterator<Item = &'a str>) -> Graph {
        let files = files_from_listing(lines);
        Graph::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }

    /// Reads files given as `(name, text)`; a file without `revision = ...`
    /// is not a migration and is left out.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Graph {
        let mut nodes = BTreeMap::new();
        for (file, text) in files {
            let mut id = None;
            let mut parents = Vec::new();
            let mut message = String::new();
            for line in text.lines() {
                let line = line.trim_end();
                if let Some(found) = assigned(line, "revision") {
                    id = found.into_iter().next();
                } else if let Some(found) = assigned(line, "down_revision") {
                    parents = found;
                } else if message.is_empty()
                    && let Some(doc) = line
                        .trim_start_matches(['r', 'R', 'u', 'U'])
                        .strip_prefix("\"\"\"")
                {
                    doc.trim()
                        .trim_end_matches("\"\"\"")
                        .trim()
                        .clone_into(&mut message);
                }
            }
            if let Some(id) = id {
                nodes.insert(
                    id.clone(),
                    Node {
                        id,
                        parents,
                        message,
                        file: file.to_owned(),
                    },
                );
            }
        }
        Graph { nodes }
    }

    /// The revisions no other revision builds on.
    pub fn heads(&self) -> Vec<String> {
        let parents: BTreeSet<&str> = self
            .nodes
            .values()
            .flat_map(|n| n.parents.iter().map(String::as_str))
            .collect();
        self.nodes
            .keys()
            .filter(|id| !parents.contains(id.as_str()))
            .cloned()
            .collect()
    }

    /// `id` and everything it builds on.
    pub fn with_ancestors(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending = vec![id.to_owned()];
        while let Some(at) = pending.pop() {
            if let Some(node) = self.nodes.get(&at)
                && seen.insert(at.clone())
            {
                pending.extend(node.parents.iter().cloned());
            }
        }
        seen
    }

    /// Where a database at `current` (the rows of `alembic_version`) stands.
    pub fn standing(&self, current: &[String]) -> Standing {
        let unknown: Vec<String> = current
            .iter()
            .filter(|c| !self.nodes.contains_key(*c))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Standing::Unknown(unknown);
        }
        let applied: BTreeSet<String> = current
            .iter()
            .flat_map(|c| self.with_ancestors(c))
            .collect();
        let mut missing: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| !applied.contains(&n.id))
            .collect();
        if missing.is_empty() {
            return Standing::Current;
        }
        // Oldest first: a revision after all of its parents.
        let mut ordered: Vec<Node> = Vec::new();
        while !missing.is_empty() {
            let ready = missing
                .iter()
                .position(|n| {
                    n.parents.iter().all(|p| {
                        applied.contains(p)
                            || ordered.iter().any(|o| &o.id == p)
                            || !self.nodes.contains_key(p)
                    })
                })
                .unwrap_or(0);
            ordered.push(missing.remove(ready).clone());
        }
        Standing::Pending(ordered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, parent: &str, message: &str) -> String {
        let down = if parent.is_empty() {
            "None".to_owned()
        } else {
            format!("'{parent}'")
        };
        format!(
            "\"\"\"{message}\n\nRevision ID: {id}\n\"\"\"\nrevision = '{id}'\ndown_revision = {down}\n"
        )
    }

    #[test]
    fn pending_revisions_are_those_the_database_has_not_had_oldest_first() {
        let (a, b, c) = (
            file("aaa1", "", "initial"),
            file("bbb2", "aaa1", "add url"),
            file("ccc3", "bbb2", "add index"),
        );
        let graph = Graph::from_files([
            ("c.py", c.as_str()),
            ("a.py", a.as_str()),
            ("b.py", b.as_str()),
        ]);
        assert_eq!(graph.heads(), ["ccc3"]);
        assert_eq!(graph.standing(&["ccc3".into()]), Standing::Current);
        let Standing::Pending(pending) = graph.standing(&["aaa1".into()]) else {
            panic!()
        };
        let ids: Vec<&str> = pending.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["bbb2", "ccc3"]);
        assert_eq!(pending[0].message, "add url");
        let Standing::Pending(all) = graph.standing(&[]) else {
            panic!()
        };
        assert_eq!(all.len(), 3);
        assert_eq!(
            graph.standing(&["fff9".into()]),
            Standing::Unknown(vec!["fff9".into()])
        );
    }

    #[test]
    fn merges_and_annotated_headers() {
        let a = "revision: str = 'a1'\ndown_revision: Union[str, None] = None\n";
        let b = "revision = 'b1'\ndown_revision = 'a1'\n";
        let c = "revision = 'c1'\ndown_revision = 'a1'\n";
        let m = "revision = 'm1'\ndown_revision = ('b1', 'c1')\n";
        let graph = Graph::from_files([
            ("a.py", a),
            ("b.py", b),
            ("c.py", c),
            ("m.py", m),
            ("README", "x"),
        ]);
        assert_eq!(graph.nodes.len(), 4);
        assert_eq!(graph.heads(), ["m1"]);
        let Standing::Pending(pending) = graph.standing(&["b1".into()]) else {
            panic!()
        };
        let ids: Vec<&str> = pending.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["c1", "m1"]);
    }
}
