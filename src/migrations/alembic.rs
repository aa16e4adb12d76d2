//! Reading `db heads`, `db current` and `db history` output.
//!
//! `db heads` and `db current` print `<rev> (head)` (current prints nothing
//! for a database without an `alembic_version` table); `db history` prints
//! `<parent> -> <rev> (head), message`, newest first, `<base>` for the root.

/// One revision from `db history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The revision id.
    pub id: String,
    /// Its parent (`None` for the first).
    pub parent: Option<String>,
    /// The migration's message.
    pub message: String,
}

/// The first word of each line that looks like a revision id.
pub fn revision_ids(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.len() >= 4 && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(str::to_owned)
        .collect()
}

/// Parses `db history`.
pub fn history(output: &str) -> Vec<Revision> {
    output
        .lines()
        .filter_map(|line| {
            let (edge, message) = line.split_once(", ").unwrap_or((line, ""));
            let (parent, rest) = edge.split_once(" -> ")?;
            let id = rest.split_whitespace().next()?.to_owned();
            let parent = (parent.trim() != "<base>").then(|| parent.trim().to_owned());
            Some(Revision {
                id,
                parent,
                message: message.trim().to_owned(),
            })
        })
        .collect()
}

/// The revisions from after `current` (or from the first) up to `head`, in
/// the order they will run; `None` if `current` is not an ancestor of `head`.
pub fn pending(history: &[Revision], current: Option<&str>, head: &str) -> Option<Vec<Revision>> {
    let mut chain = Vec::new();
    let mut at = Some(head.to_owned());
    while let Some(id) = at.take() {
        if Some(id.as_str()) == current {
            chain.reverse();
            return Some(chain);
        }
        let revision = history.iter().find(|r| r.id == id)?;
        at.clone_from(&revision.parent);
        chain.push(revision.clone());
    }
    if current.is_none() {
        chain.reverse();
        return Some(chain);
    }
    None
}

/// The path in `Generating /abs/path/versions/<rev>_<slug>.py ...  done`.
pub fn generated_file(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("Generating ")?;
        let path = rest.split(" ...").next()?.trim();
        path.ends_with(".py").then(|| path.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = "735093c03092 -> 4dafe3eac60e (head), add comment url\n<base> -> 735093c03092, initial tables\n";

    #[test]
    fn history_and_pending_follow_the_chain() {
        let revisions = history(HISTORY);
        assert_eq!(revisions.len(), 2);
        assert_eq!(revisions[1].parent, None);
        let all = pending(&revisions, None, "4dafe3eac60e").unwrap();
        assert_eq!(
            all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["735093c03092", "4dafe3eac60e"]
        );
        let one = pending(&revisions, Some("735093c03092"), "4dafe3eac60e").unwrap();
        assert_eq!(one[0].message, "add comment url");
        assert!(
            pending(&revisions, Some("4dafe3eac60e"), "4dafe3eac60e")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            pending(&revisions, Some("ffffffffffff"), "4dafe3eac60e"),
            None
        );
    }

    #[test]
    fn heads_and_generated_files() {
        assert_eq!(revision_ids("4dafe3eac60e (head)\n"), ["4dafe3eac60e"]);
        assert!(revision_ids("").is_empty());
        assert_eq!(
            generated_file(
                "Generating /srv/x/migrations/versions/4dafe3eac60e_add_comment_url.py ...  done\n"
            )
            .as_deref(),
            Some("/srv/x/migrations/versions/4dafe3eac60e_add_comment_url.py")
        );
        assert_eq!(generated_file("No changes in schema detected.\n"), None);
    }
}
