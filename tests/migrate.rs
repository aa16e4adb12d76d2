//! `--migrate` and `verify` against a real PostgreSQL with the example
//! app's real Flask-Migrate migrations.

use crate::support::sandbox_with_database;

#[test]
fn migrate_upgrades_an_empty_database_before_the_switch_and_verify_shows_the_columns() {
    let (s, pg) = sandbox_with_database(&[]);
    let run = s
        .wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    assert!(
        run.stderr
            .contains("1 pending: 735093c03092 (initial tables)"),
        "{}",
        run.stderr
    );
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert_eq!(s.live_release(), Some(s.sha("master")));
    let verify = s
        .wptdeploy(&[
            "verify",
            "staging",
            "--table",
            "pull_request",
            "--expect",
            "title:text",
            "--expect",
            "!comment_url",
        ])
        .success();
    assert!(
        verify.stdout.contains("sandbox-host: pull_request"),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("  head_sha       character varying"),
        "{}",
        verify.stdout
    );
    // Nothing pending now: the upgrade is skipped.
    let again = s
        .wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    assert!(
        again.stderr.contains("database at the head, 735093c03092"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("skipped upgrade the database"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_migration_branch_adds_its_column_and_verify_from_the_migration_agrees() {
    let (s, pg) = sandbox_with_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();

    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/4dafe3eac60e_add_comment_url.py");
    let fixture = fixture.display().to_string();
    let before = s
        .wptdeploy(&["verify", "staging", "--from-migration", &fixture])
        .failure(1);
    assert!(
        before
            .stderr
            .contains("pull_request.comment_url is missing (expected text)"),
        "{}",
        before.stderr
    );
    s.wptdeploy(&["staging", "--commit", "feature/with-migration", "--migrate"])
        .success();
    assert_eq!(pg.revision().as_deref(), Some("4dafe3eac60e"));
    assert!(
        pg.columns("pull_request")
            .contains(&"comment_url text".to_owned())
    );
    s.wptdeploy(&["verify", "staging", "--from-migration", &fixture])
        .success();
}

#[test]
fn two_heads_stop_a_migrate_deploy_before_any_change() {
    let (s, pg) = sandbox_with_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    s.wptdeploy(&["staging", "--commit", "two-heads", "--migrate"])
        .failure(1)
        .stderr_has("2 heads (")
        .stderr_has("aaaa00000001")
        .stderr_has("bbbb00000002")
        .stderr_has("flask db merge");
    assert_eq!(
        s.live_release(),
        Some(s.sha("master")),
        "the live release is untouched"
    );
    assert_eq!(
        pg.revision().as_deref(),
        Some("735093c03092"),
        "the database is untouched"
    );
}

#[test]
fn a_failing_upgrade_leaves_the_live_release_and_says_where_the_database_is() {
    let (s, pg) = sandbox_with_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    s.wptdeploy(&["staging", "--commit", "broken-migration", "--migrate"])
        .failure(1)
        .stderr_has("upgrade failed; the database is still at 735093c03092, as before")
        .stderr_has("division by zero");
    assert_eq!(s.live_release(), Some(s.sha("master")));
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert!(
        !pg.columns("pull_request")
            .iter()
            .any(|c| c.starts_with("half ")),
        "the failed migration was rolled back"
    );
    assert!(!s.base_path.join(".wptdeploy-lock").exists());
}

#[test]
fn a_database_ahead_of_the_code_is_refused() {
    let (s, pg) = sandbox_with_database(&[]);
    s.wptdeploy(&["staging", "--commit", "feature/with-migration", "--migrate"])
        .success();
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .failure(1)
        .stderr_has("the database is at revision 4dafe3eac60e, which this release's migrations do not contain");
    assert_eq!(s.live_release(), Some(s.sha("feature/with-migration")));
    assert_eq!(pg.revision().as_deref(), Some("4dafe3eac60e"));
}

#[test]
fn check_lists_pending_migrations_and_changes_nothing() {
    let (s, pg) = sandbox_with_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    // A release not built yet: its migrations cannot be read without a checkout.
    let fresh = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "feature/with-migration",
            "--migrate",
            "--check",
        ])
        .success();
    assert!(
        fresh.stderr.contains("known once it is checked out"),
        "{}",
        fresh.stderr
    );
    // Built (deployed without --migrate), its pending migrations are listed.
    s.wptdeploy(&["staging", "--commit", "feature/with-migration"])
        .success();
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "feature/with-migration",
            "--migrate",
            "--check",
        ])
        .success();
    assert!(
        run.stderr
            .contains("1 pending: 4dafe3eac60e (add comment url)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("planned upgrade the database to 4dafe3eac60e"),
        "{}",
        run.stderr
    );
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
}

#[test]
fn the_flask_db_command_form_works_too() {
    let (s, pg) = sandbox_with_database(&[(
        "migrate_command",
        "\"{{ venv_path }}/bin/flask --app wptdash db\"",
    )]);
    s.wptdeploy(&["staging", "--commit", "feature/with-migration", "--migrate"])
        .success();
    assert_eq!(pg.revision().as_deref(), Some("4dafe3eac60e"));
}

#[test]
fn verify_with_a_hostile_table_name_is_harmless() {
    let (s, pg) = sandbox_with_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    pg.psql("CREATE TABLE y (id integer)");
    let hostile = "x'; drop table y; --";
    s.wptdeploy(&["verify", "staging", "--table", hostile])
        .failure(1)
        .stderr_has("does not exist");
    assert_eq!(pg.columns("y"), ["id integer"], "table y survived");
}
