//! Where the database stands against a release being rolled back to, from
//! the migration files of the live release (whole: they know every
//! revision the database may be ahead by) and of the target (headers), and
//! the target's head: the four cases a rollback must tell apart.

use std::collections::BTreeSet;

use super::file::{self, MigrationFile};
use super::graph::Graph;
use super::hazard::{self, NewSince};

/// How the database stands against the release being rolled back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbCase {
    /// At the target's head: a code-only rollback.
    Same,
    /// Ahead, by revisions that only add (tables, nullable columns): the
    /// target's code runs against it.
    AheadAdditive {
        /// The revisions the target's code does not know, oldest first.
        revisions: Vec<String>,
        /// Their `upgrade()`s as one: what undoing them must leave.
        undone: MigrationFile,
    },
    /// Ahead, by revisions that drop, rename, retype or require what the
    /// target's code uses (or that wptdeploy cannot read).
    AheadDestructive {
        /// The revisions the target's code does not know, oldest first.
        revisions: Vec<String>,
        /// What each unsafe one does.
        reasons: Vec<String>,
        /// Their `upgrade()`s as one: what undoing them must leave.
        undone: MigrationFile,
    },
    /// Behind: the target expects revisions the database has not had.
    Behind {
        /// The target's head.
        head: String,
    },
    /// The database is at revisions neither release knows.
    Unknown {
        /// Why.
        why: String,
    },
}

/// Where `db` (the rows of `alembic_version`) stands against a target
/// whose head is `target_head` (empty: no migrations), given the migration
/// files of the live release and the target as `(name, text)`.
pub fn classify(live_files: &[(String, String)], target_head: &str, db: &[String]) -> DbCase {
    let target: Vec<String> = target_head
        .split(',')
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect();
    let (mut sorted_db, mut sorted_target) = (db.to_vec(), target.clone());
    sorted_db.sort();
    sorted_target.sort();
    if sorted_db == sorted_target {
        return DbCase::Same;
    }
    let graph = Graph::from_files(live_files.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    let ancestors = |ids: &[String]| -> BTreeSet<String> {
        ids.iter().flat_map(|id| graph.with_ancestors(id)).collect()
    };
    if let Some(unknown) = db.iter().find(|r| !graph.nodes.contains_key(*r)) {
        return DbCase::Unknown {
            why: format!("the database is at {unknown}, which neither release's migrations know"),
        };
    }
    if let Some(unknown) = target.iter().find(|r| !graph.nodes.contains_key(*r)) {
        return DbCase::Unknown {
            why: format!("the release's head {unknown} is not among its migrations"),
        };
    }
    let applied = ancestors(db);
    let expected = ancestors(&target);
    if !expected.is_subset(&applied) {
        return DbCase::Behind {
            head: target.join(","),
        };
    }
    // Ahead: what the database has that the target does not know, oldest first.
    let extra: BTreeSet<String> = applied.difference(&expected).cloned().collect();
    let pending = match graph.standing(&target.clone()) {
        super::graph::Standing::Pending(nodes) => nodes,
        _ => Vec::new(),
    };
    let revisions: Vec<String> = pending
        .iter()
        .filter(|n| extra.contains(&n.id))
        .map(|n| n.id.clone())
        .collect();
    let mut reasons = Vec::new();
    let mut undone = MigrationFile::default();
    let mut new = NewSince::default();
    for node in pending.iter().filter(|n| extra.contains(&n.id)) {
        let text = live_files
            .iter()
            .find(|(name, _)| *name == node.file)
            .map(|(_, t)| t.as_str())
            .unwrap_or_default();
        let migration = file::parse(text);
        for found in hazard::for_old_code(&migration, &mut new) {
            reasons.push(format!("{} {found}", node.id));
        }
        undone.upgrade.extend(migration.upgrade);
        undone.other.extend(migration.other);
    }
    if reasons.is_empty() {
        DbCase::AheadAdditive { revisions, undone }
    } else {
        DbCase::AheadDestructive {
            revisions,
            reasons,
            undone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(id: &str, parent: &str, upgrade: &str) -> (String, String) {
        let down = if parent.is_empty() {
            "None".to_owned()
        } else {
            format!("'{parent}'")
        };
        (
            format!("{id}_m.py"),
            format!(
                "\"\"\"{id}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = '{id}'\ndown_revision = {down}\n\n\ndef upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    pass\n"
            ),
        )
    }

    fn files() -> Vec<(String, String)> {
        vec![
            migration(
                "aaa1",
                "",
                "op.create_table('pr', sa.Column('id', sa.Integer()))",
            ),
            migration(
                "bbb2",
                "aaa1",
                "op.add_column('pr', sa.Column('url', sa.Text(), nullable=True))",
            ),
            migration("ccc3", "bbb2", "op.drop_column('pr', 'title')"),
        ]
    }

    #[test]
    fn the_four_cases_are_told_apart() {
        let db = |r: &str| vec![r.to_owned()];
        assert_eq!(classify(&files(), "bbb2", &db("bbb2")), DbCase::Same);
        assert_eq!(classify(&files(), "", &[]), DbCase::Same);
        let additive = classify(&files(), "aaa1", &db("bbb2"));
        let DbCase::AheadAdditive { revisions, undone } = &additive else {
            panic!("not additive: {additive:?}");
        };
        assert_eq!(revisions, &["bbb2"]);
        assert_eq!(undone.description("")["unexpect"], "!pr.url");
        let destructive = classify(&files(), "aaa1", &db("ccc3"));
        let DbCase::AheadDestructive {
            revisions,
            reasons,
            undone,
        } = &destructive
        else {
            panic!("not destructive: {destructive:?}");
        };
        assert_eq!(revisions, &["bbb2", "ccc3"]);
        assert_eq!(reasons, &["ccc3 drops pr.title"]);
        // Undoing both: the added column gone, the dropped one back.
        assert_eq!(undone.description("")["unexpect"], "!pr.url,pr.title");
        assert_eq!(undone.description("")["tables"], "pr");
        assert_eq!(
            classify(&files(), "bbb2", &db("aaa1")),
            DbCase::Behind {
                head: "bbb2".into()
            }
        );
        assert!(matches!(
            classify(&files(), "aaa1", &db("zzz9")),
            DbCase::Unknown { .. }
        ));
    }

    #[test]
    fn a_required_column_or_an_unreadable_call_is_not_additive() {
        let mut more = files();
        more.push(migration(
            "ddd4",
            "bbb2",
            "op.add_column('pr', sa.Column('state', sa.Text(), nullable=False))",
        ));
        more.push(migration(
            "eee5",
            "ddd4",
            "op.execute('UPDATE pr SET state = 1')",
        ));
        more.push(migration(
            "fff6",
            "eee5",
            "op.create_index('ix', 'pr', ['url'])",
        ));
        let DbCase::AheadDestructive { reasons, .. } = classify(
            &more[..2]
                .iter()
                .chain(&more[3..])
                .cloned()
                .collect::<Vec<_>>(),
            "aaa1",
            &["fff6".into()],
        ) else {
            panic!("not destructive");
        };
        assert_eq!(
            reasons,
            vec![
                "ddd4 adds pr.state NOT NULL without a default (the old code's inserts fail)"
                    .to_owned(),
                "eee5 runs op.execute, which wptdeploy cannot judge".to_owned(),
            ]
        );
    }

    /// Dropping or changing what the target's code never knew (made by
    /// revisions it does not know) cannot trip it.
    #[test]
    fn changes_to_what_the_old_code_never_knew_are_additive() {
        let mut more = files();
        more.push(migration(
            "ddd4",
            "bbb2",
            "op.create_table('audit', sa.Column('id', sa.Integer()))\n    op.add_column('audit', sa.Column('who', sa.Text(), nullable=False))",
        ));
        more.push(migration(
            "eee5",
            "ddd4",
            "op.drop_column('pr', 'url')\n    op.alter_column('audit', 'who', new_column_name='by')\n    op.drop_table('audit')",
        ));
        let files: Vec<(String, String)> = more[..2].iter().chain(&more[3..]).cloned().collect();
        let case = classify(&files, "aaa1", &["eee5".into()]);
        let DbCase::AheadAdditive { revisions, undone } = &case else {
            panic!("not additive: {case:?}");
        };
        assert_eq!(revisions, &["bbb2", "ddd4", "eee5"]);
        assert_eq!(
            undone.description("")["unexpect"],
            "!pr.url,!audit.id,!audit.who,!audit.by"
        );
        // The same drop against a target that knew the column is not.
        let case = classify(&files, "bbb2", &["eee5".into()]);
        assert!(
            matches!(&case, DbCase::AheadDestructive { reasons, .. } if reasons == &["eee5 drops pr.url"]),
            "{case:?}"
        );
    }
}
