//! `wptdeploy rollback`: the previous good release back, knowing what the
//! database needs, against a real PostgreSQL and real alembic migrations.

use crate::support::{Sandbox, sandbox_checking_the_app, with_migrated_database};

/// A migration on top of the example app's first revision that drops
/// `pull_request.title`, with a downgrade that puts it back.
const DROP_TITLE: &str = "\"\"\"drop title\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = 'dddd00000004'\ndown_revision = '735093c03092'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    with op.batch_alter_table('pull_request', schema=None) as batch_op:\n        batch_op.drop_column('title')\n\n\ndef downgrade():\n    with op.batch_alter_table('pull_request', schema=None) as batch_op:\n        batch_op.add_column(sa.Column('title', sa.Text(), nullable=True))\n";

fn has_title(pg: &crate::support::postgres::Postgres) -> bool {
    pg.columns("pull_request")
        .iter()
        .any(|c| c.starts_with("title "))
}

/// The database at master's revision, master live, then `branch` deployed
/// with `--migrate` (and `extra`).
fn deployed(branch: &str, extra: &[&str]) -> (Sandbox, crate::support::postgres::Postgres) {
    let (s, pg) = with_migrated_database(
        sandbox_checking_the_app(),
        &[("healthcheck_retries", "1"), ("healthcheck_delay", "0")],
    );
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let migration = match branch {
        "drop-title" => Some(DROP_TITLE.to_owned()),
        // Its downgrade() forgets to put the column back.
        "drop-title-forgetful" => DROP_TITLE
            .split_once("def downgrade():")
            .map(|(upgrade, _)| format!("{upgrade}def downgrade():\n    pass\n")),
        _ => None,
    };
    if let Some(text) = migration {
        s.branch_with(
            branch,
            "migrations/versions/dddd00000004_drop_title.py",
            &text,
        );
    }
    let mut args = vec!["staging", "--commit", branch, "--migrate"];
    args.extend(extra);
    s.wptdeploy(&args).success();
    (s, pg)
}

#[test]
fn the_same_revision_is_code_only_and_a_release_that_failed_its_checks_is_skipped() {
    let (s, pg) = deployed("master", &[]);
    let master = s.sha("master");
    let next = s.new_branch("next");
    s.wptdeploy(&["staging", "--commit", "next"]).success();
    s.wptdeploy(&["staging", "--commit", "broken-app"])
        .failure(1);
    assert_eq!(s.live_release(), Some(next));
    // One login for the whole rollback: the play that reads the host and
    // the one that relinks share the connection.
    let logins = || {
        std::fs::read_to_string(s.dir.join("sshd.log"))
            .unwrap()
            .matches("Accepted publickey")
            .count()
    };
    let before = logins();
    let run = s.wptdeploy(&["rollback", "staging", "-v"]).success();
    assert_eq!(logins() - before, 1, "{}", run.stderr);
    // The read is said as a read: it deploys nothing.
    let (read, _) = run.stderr.split_once("rollback to ").unwrap();
    assert!(
        read.starts_with("reading staging before the rollback"),
        "{read}"
    );
    assert!(!read.contains("deployed"), "{read}");
    // What wptdeploy's own steps answer it with is never shown, even with -v.
    for protocol in ["| @", "| wptdeploy.", "| token="] {
        assert!(!run.stderr.contains(protocol), "{protocol}: {}", run.stderr);
    }
    assert!(
        run.stderr.contains(&format!(
            "rollback to {}: the database is at {}'s revision: the rollback is code only",
            &master[..12],
            &master[..12]
        )),
        "{}",
        run.stderr
    );
    assert_eq!(s.live_release(), Some(master.clone()));
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    // Recorded as what it was.
    let status = s.wptdeploy(&["history", "staging", "-n", "1"]).success();
    assert!(
        status.stdout.contains("wptdeploy rollback staging"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_database_ahead_by_additive_migrations_keeps_them_and_the_old_code_runs() {
    let (s, pg) = deployed("feature/with-migration", &[]);
    let master = s.sha("master");
    let run = s.wptdeploy(&["rollback", "staging"]).success();
    assert!(
        run.stderr.contains(&format!(
            "the database is ahead of {} by 1 migration(s) that only add (4dafe3eac60e)",
            &master[..12]
        )),
        "{}",
        run.stderr
    );
    assert_eq!(s.live_release(), Some(master.clone()));
    assert_eq!(pg.revision().as_deref(), Some("4dafe3eac60e"));

    // After it, `releases` names each release by the ref it was deployed
    // as (the rollback asked for the SHA), and does not say it deployed.
    let releases = s.wptdeploy(&["releases", "staging"]).success();
    let row = releases
        .stdout
        .lines()
        .find(|l| l.starts_with(&master[..12]))
        .unwrap_or_else(|| panic!("no row for master:\n{}", releases.stdout));
    assert!(
        row.contains(" master ") && !row.contains(&master[12..]),
        "{}",
        releases.stdout
    );
    assert!(!releases.stderr.contains("deployed"), "{}", releases.stderr);
}

#[test]
fn a_destructive_migration_is_refused_then_downgraded_with_the_live_releases_files() {
    let (s, pg) = deployed("drop-title", &[]);
    let dropped = s.sha("drop-title");
    assert!(!has_title(&pg));
    let refused = s.wptdeploy(&["rollback", "staging"]).failure(2);
    assert!(
        refused.stderr.contains(
            "by 1 migration(s) that its code cannot run against: dddd00000004 drops pull_request.title"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--downgrade"), "{}", refused.stderr);
    assert_eq!(s.live_release(), Some(dropped), "nothing changed");
    assert_eq!(pg.revision().as_deref(), Some("dddd00000004"));

    let run = s
        .wptdeploy(&["rollback", "staging", "--downgrade"])
        .success();
    assert!(
        run.stderr
            .contains("downgrade the database to 735093c03092"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("check the columns of pull_request are as"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["title", "text"])),
        "{}",
        run.stdout
    );
    assert_eq!(s.live_release(), Some(s.sha("master")));
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert!(has_title(&pg), "the downgrade put the column back");
}

/// alembic counts a downgrade() that did nothing as done; the columns the
/// old code needs are checked before it goes live.
#[test]
fn a_downgrade_that_does_not_put_the_columns_back_stops_before_the_switch() {
    let (s, pg) = deployed("drop-title-forgetful", &[]);
    let live = s.sha("drop-title-forgetful");
    let run = s
        .wptdeploy(&["rollback", "staging", "--downgrade"])
        .failure(1);
    assert!(
        run.stderr.contains("pull_request.title is missing"),
        "{}",
        run.stderr
    );
    assert_eq!(
        s.live_release(),
        Some(live),
        "switched to code the schema does not fit"
    );
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert!(!has_title(&pg));
}

#[test]
fn restore_puts_back_the_backup_the_migrating_deploy_took() {
    let (s, pg) = deployed("drop-title", &["-e", "backup_before_migrate=true"]);
    let refused = s.wptdeploy(&["rollback", "staging"]).failure(2);
    let backup = refused
        .stderr
        .split("--restore ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no backup named: {}", refused.stderr))
        .to_owned();
    assert!(backup.ends_with(".dump"), "{backup}");
    let run = s
        .wptdeploy(&["rollback", "staging", "--restore", &backup])
        .success();
    assert!(run.stderr.contains("restore "), "{}", run.stderr);
    assert_eq!(s.live_release(), Some(s.sha("master")));
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert!(has_title(&pg), "the backup had the column");
}

#[test]
fn a_database_behind_the_release_is_refused() {
    let (s, pg) = deployed("master", &[]);
    // One release: nothing to go back to, said in words.
    let alone = s.wptdeploy(&["rollback", "staging"]).failure(2);
    assert!(
        alone
            .stderr
            .contains("has no release to go back to: its releases are "),
        "{}",
        alone.stderr
    );
    // feature/with-migration's code goes live without its migration.
    s.wptdeploy(&[
        "staging",
        "--commit",
        "feature/with-migration",
        "--no-migrate",
    ])
    .success();
    s.new_branch("next");
    s.wptdeploy(&["staging", "--commit", "next"]).success();
    let refused = s
        .wptdeploy(&["rollback", "staging", "--to", "feature/with-migration"])
        .failure(2);
    assert!(
        refused
            .stderr
            .contains("expects the database at 4dafe3eac60e, and it is at 735093c03092"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--migrate"), "{}", refused.stderr);
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
}
