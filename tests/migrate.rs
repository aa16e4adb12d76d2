//! `--migrate` and `verify` against a real PostgreSQL with the example
//! app's real Flask-Migrate migrations.

use crate::support::{sandbox_with_database, sandbox_with_migrated_database};

#[test]
fn migrate_upgrades_an_empty_database_before_the_switch_and_verify_shows_the_columns() {
    let (s, pg) = sandbox_with_database(&[]);
    // -v: a step its `when:` skipped is listed.
    let run = s
        .wptdeploy(&["staging", "--commit", "master", "--migrate", "-v"])
        .success();
    assert!(
        run.stderr
            .contains("1 pending: 735093c03092 (initial tables)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("skipped back up wptdash"),
        "staging does not back up by default: {}",
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
    assert!(
        verify.stderr.contains("sandbox-host  ok "),
        "a read is `ok`, not `deployed`: {}",
        verify.stderr
    );
    // Nothing pending now: the upgrade is skipped.
    let again = s
        .wptdeploy(&["staging", "--commit", "master", "--migrate", "-v"])
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
    let (s, pg) = sandbox_with_migrated_database(&[]);
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
    let run = s
        .wptdeploy(&["staging", "--commit", "feature/with-migration", "--migrate"])
        .success();
    assert!(
        run.stderr
            .contains("4dafe3eac60e_add_comment_url.py touch: pull_request"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("ok      check the columns of pull_request"),
        "verified after the upgrade: {}",
        run.stderr
    );
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
    let (s, pg) = sandbox_with_migrated_database(&[]);
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
    let (s, pg) = sandbox_with_migrated_database(&[]);
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

/// An app whose settings name another database than `db_name` (its
/// config file is not the one `config_path` writes, so it falls back to a
/// SQLite file in the release): alembic succeeds there, but `db_name` is
/// untouched; the run fails before the switch, names the SQLite file, and
/// history records that nothing was applied.
#[test]
fn an_upgrade_that_lands_in_another_database_is_caught_before_the_switch() {
    let (s, pg) = sandbox_with_database(&[("config_path", "\".env\"")]);
    let app =
        std::fs::read_to_string(crate::support::sandbox::example_app().join("wptdash/__init__.py"))
            .unwrap();
    let fallback = "return \"postgresql+psycopg2:///wptdash\"";
    assert!(app.contains(fallback), "the example app's fallback moved");
    s.branch_with_files(
        "sqlite-fallback",
        &[(
            "wptdash/__init__.py",
            &app.replace(
                fallback,
                "return \"sqlite:///\" + os.path.join(ROOT, \"app.db\")",
            ),
        )],
    );
    let run = s
        .wptdeploy(&["staging", "--commit", "sqlite-fallback", "--migrate"])
        .failure(1)
        .stderr_has(
            "the migration ran against another database than `db_name` (wptdash): alembic reported reaching 735093c03092, but wptdash is at no revision (empty)",
        )
        .stderr_has("SQLite files (app.db)");
    assert!(!run.stderr.contains("ROLLED BACK"), "{}", run.stderr);
    assert_eq!(s.live_release(), None, "nothing went live");
    assert_eq!(pg.revision(), None, "db_name was not migrated");
    let history = std::fs::read_to_string(s.base_path.join(".wptdeploy/history.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(
        record["migrations_applied"],
        serde_json::json!([]),
        "{record}"
    );
    assert_ne!(
        record["db_after"],
        serde_json::json!("735093c03092"),
        "{record}"
    );
}

/// A session holding a lock the migration needs: each attempt is stopped
/// by `lock_timeout` and reported, and the last message names the session
/// in the way (pid, query, age); nothing changed. Once it lets go, a retry
/// gets through.
#[test]
fn a_held_lock_is_retried_and_the_session_holding_it_is_named() {
    let (s, pg) = sandbox_with_migrated_database(&[
        ("migrate_lock_timeout", "1s"),
        ("migrate_lock_retry_delay", "1"),
    ]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let holder = pg.hold_lock("pull_request", 60);
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "feature/with-migration",
            "--migrate",
            "-e",
            "migrate_lock_retries=1",
        ])
        .failure(1);
    drop(holder);
    for said in [
        "upgrade failed (attempt 2: the ones before waited longer than lock_timeout); the database is still at 735093c03092, as before",
        "wptdeploy: gave up waiting for a lock",
        "sessions holding locks in wptdash now, oldest transaction first:",
        "LOCK TABLE pull_request IN ACCESS SHARE MODE",
        "pg_terminate_backend(PID)",
    ] {
        assert!(run.stderr.contains(said), "{said}\n{}", run.stderr);
    }
    let named = run
        .stderr
        .lines()
        .find(|l| l.contains("LOCK TABLE pull_request"))
        .unwrap();
    assert!(
        named.trim_start().starts_with("pid ") && named.contains("(postgres, "),
        "{named}"
    );
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert_eq!(s.live_release(), Some(s.sha("master")));
    assert!(!s.base_path.join(".wptdeploy-lock").exists());

    // Held for 10 s against a 1 s lock_timeout: the first attempt (a few
    // seconds in, after the checks) cannot get it; the fourth (after
    // waiting 1, 2 and 4 s) starts 10 s after the first, when it is free.
    let holder = pg.hold_lock("pull_request", 10);
    let run = s
        .wptdeploy(&["staging", "--commit", "feature/with-migration", "--migrate"])
        .success();
    holder.wait();
    assert!(
        run.stderr
            .contains("the ones before waited longer than lock_timeout"),
        "{}",
        run.stderr
    );
    assert_eq!(pg.revision().as_deref(), Some("4dafe3eac60e"));
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
    // A plain deploy back to the older code goes live, with a warning.
    s.wptdeploy(&["staging", "--commit", "master"])
        .success()
        .stderr_has(
            "the database is at 4dafe3eac60e, which this release's migrations do not contain",
        );
    assert_eq!(s.live_release(), Some(s.sha("master")));
}

#[test]
fn check_lists_pending_migrations_and_changes_nothing() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
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
    // A plain deploy of it stops before the switch: the database has not
    // had its migration (read from the files and psql, not the app).
    s.wptdeploy(&["staging", "--commit", "feature/with-migration"])
        .failure(1)
        .stderr_has("this release brings 1 migration(s) the database (at 735093c03092) has not had: 4dafe3eac60e (add comment url); it was not put live")
        .stderr_has("hint: pass `--migrate` to upgrade the database before the switch")
        .stderr_has("hint: or `--no-migrate`");
    assert_eq!(s.live_release(), Some(s.sha("master")));
    // Built (deployed with --no-migrate), its pending migrations are listed.
    s.wptdeploy(&[
        "staging",
        "--commit",
        "feature/with-migration",
        "--no-migrate",
    ])
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
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    pg.psql("CREATE TABLE y (id integer)");
    let hostile = "x'; drop table y; --";
    s.wptdeploy(&["verify", "staging", "--table", hostile])
        .failure(1)
        .stderr_has("does not exist");
    assert_eq!(pg.columns("y"), ["id integer"], "table y survived");
}

/// `wptdeploy migration new staging --commit BRANCH -m MESSAGE --into INTO ARGS...`
fn migration_new(
    s: &crate::support::Sandbox,
    into: &std::path::Path,
    branch: &str,
    message: &str,
    args: &[&str],
) -> crate::support::Run {
    let into = into.display().to_string();
    let mut all = vec![
        "migration",
        "new",
        "staging",
        "--commit",
        branch,
        "-m",
        message,
        "--into",
        &into,
    ];
    all.extend_from_slice(args);
    s.wptdeploy(&all)
}

fn checkout(s: &crate::support::Sandbox) -> std::path::PathBuf {
    let dir = s.dir.join("checkout/migrations/versions");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A check that reads the models' columns through the app, as a page
/// listing pull requests would (`compat_command`).
const QUERYING_HEALTHCHECK: &str = "\"{{ venv_path }}/bin/python -c 'from wptdash import create_app; from wptdash.models import PullRequest; app = create_app(); app.app_context().push(); PullRequest.query.first()'\"";

/// `--compat-check`: after the upgrade, before the switch, the live
/// release runs its check against the migrated database; an added column
/// keeps it working.
#[test]
fn compat_check_runs_the_live_release_against_the_migrated_database() {
    let (s, pg) = sandbox_with_migrated_database(&[("compat_command", QUERYING_HEALTHCHECK)]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "feature/with-migration",
            "--migrate",
            "--compat-check",
        ])
        .success();
    assert!(
        run.stderr.contains(&format!(
            "ok      check the live release {} still works against the migrated database",
            s.sha("master")
        )),
        "{}",
        run.stderr
    );
    assert_eq!(pg.revision().as_deref(), Some("4dafe3eac60e"));
}

/// `migration new` runs the release live before (master, what production
/// runs) against the migrated database: a renamed column it still reads
/// breaks it, and the run says so.
#[test]
fn migration_new_says_when_the_release_live_before_breaks_on_the_new_schema() {
    let (s, pg) = sandbox_with_migrated_database(&[("compat_command", QUERYING_HEALTHCHECK)]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let master = s.sha("master");
    let into = checkout(&s);
    // It drops a column: applied only with a yes (given by the flag here).
    let run = migration_new(
        &s,
        &into,
        "rename-title",
        "rename title",
        &["--allow-destructive"],
    )
    .success();
    assert!(
        run.stderr.contains("yes, given beforehand: apply "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "warning: {master}, the release live before, fails its health check against the migrated database"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("column pull_request.title does not exist"),
        "{}",
        run.stderr
    );
    // Before it ran, the lint said which model of that release maps the
    // column (a warning on staging).
    assert!(
        run.stderr.contains(
            "breaks-live-code: drops pull_request.title, which the live release's model PullRequest (wptdash/models.py:"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !pg.columns("pull_request")
            .iter()
            .any(|c| c.starts_with("title ")),
        "the migration ran"
    );
}

#[test]
fn migration_new_generates_on_the_host_and_the_file_lands_locally_applied_and_checked() {
    let (s, pg) = sandbox_with_migrated_database(&[("compat_command", QUERYING_HEALTHCHECK)]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let into = checkout(&s);
    let run = migration_new(&s, &into, "feature/comment-url", "add comment url", &[]).success();
    let pulled = files(&into);
    assert_eq!(pulled.len(), 1, "{}", run.stderr);
    let name = &pulled[0];
    assert!(name.ends_with("_add_comment_url.py"), "{name}");
    let text = std::fs::read_to_string(into.join(name)).unwrap();
    assert!(
        text.contains("add_column(sa.Column('comment_url', sa.Text()"),
        "{text}"
    );
    let revision = name.split('_').next().unwrap();
    assert_eq!(
        pg.revision().as_deref(),
        Some(revision),
        "the generated migration was applied"
    );
    assert!(
        pg.columns("pull_request")
            .contains(&"comment_url text".to_owned())
    );
    assert!(
        run.stderr
            .contains("ok      check the columns of pull_request"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("next: review"), "{}", run.stderr);
    // Adding a column keeps the release live before working.
    assert!(
        run.stderr.contains(&format!(
            "ok      check {} still works against the migrated database",
            s.sha("master")
        )),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("fails its health check"),
        "{}",
        run.stderr
    );
    // Generated in the release as the app user: the file is there on the host too.
    assert!(
        s.base_path
            .join("site/migrations/versions")
            .join(name)
            .exists()
    );
    // Applied and uncommitted, it is said, not refused, when the commit is
    // deployed again.
    s.wptdeploy(&["staging", "--commit", "feature/comment-url", "--migrate"])
        .success();
    // Once the database is back where the commit's own migrations end, it
    // would run again unreviewed: refused before anything changes.
    pg.psql("ALTER TABLE pull_request DROP COLUMN comment_url; UPDATE alembic_version SET version_num = '735093c03092'");
    let refused = s
        .wptdeploy(&["staging", "--commit", "feature/comment-url", "--migrate"])
        .failure(1);
    assert!(
        refused.stderr.contains(&format!(
            "this release has migrations its commit does not: {revision} ({name})"
        )),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("`--force`"), "{}", refused.stderr);
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    // Built again from its commit alone, the release has only the commit's files.
    s.wptdeploy(&[
        "staging",
        "--commit",
        "feature/comment-url",
        "--migrate",
        "--force",
    ])
    .success();
    assert!(
        !s.base_path
            .join("site/migrations/versions")
            .join(name)
            .exists()
    );
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
}

/// A branch whose app no longer imports its models: autogenerate sees
/// none and writes a migration that drops every table. It is pulled (to
/// edit), linted, named for what it is, and never applied without a
/// person's yes: with no terminal to ask at, nothing runs on the database.
#[test]
fn a_generated_migration_that_drops_every_table_is_not_applied_without_a_yes() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    let app =
        std::fs::read_to_string(crate::support::sandbox::example_app().join("wptdash/__init__.py"))
            .unwrap();
    let import = "    from . import models  # noqa: F401  (registers the tables)\n";
    assert!(
        app.contains(import),
        "the example app's models import moved"
    );
    s.branch_with_files(
        "no-models",
        &[("wptdash/__init__.py", &app.replace(import, ""))],
    );
    let into = checkout(&s);
    let run = migration_new(&s, &into, "no-models", "forgot the models", &[])
        .failure(1)
        .stderr_has("drops every table the database has (pull_request, repository)")
        .stderr_has("does not import them")
        .stderr_has("needs a person's yes, and there is no terminal to ask at")
        .stderr_has("--allow-destructive");
    assert!(
        !run.stderr.contains("upgrade the database to"),
        "{}",
        run.stderr
    );
    let pulled = files(&into);
    assert_eq!(
        pulled.len(),
        1,
        "the file is pulled for editing: {pulled:?}"
    );
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert!(
        pg.columns("pull_request")
            .iter()
            .any(|c| c.starts_with("title ")),
        "nothing was dropped"
    );
}

/// At a terminal the same migration waits for a yes, with what was found
/// shown first; no (the default) leaves the database as it was.
#[test]
fn at_a_terminal_a_destructive_generated_migration_waits_for_a_yes() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    let app =
        std::fs::read_to_string(crate::support::sandbox::example_app().join("wptdash/__init__.py"))
            .unwrap();
    let import = "    from . import models  # noqa: F401  (registers the tables)\n";
    s.branch_with_files(
        "no-models",
        &[("wptdash/__init__.py", &app.replace(import, ""))],
    );
    let into = checkout(&s);
    let mut command = s.command(crate::support::bin());
    command
        .args([
            "migration",
            "new",
            "staging",
            "--commit",
            "no-models",
            "-m",
            "x",
            "--into",
        ])
        .arg(&into);
    let mut terminal = crate::support::terminal::Terminal::start(&command);
    terminal.wait_for("to wptdash on sandbox-host?", 1);
    let asked = terminal.screen();
    assert!(
        asked.contains("drops every table the database has (pull_request, repository)"),
        "the findings come before the question: {asked}"
    );
    terminal.press('n');
    let (ok, screen) = terminal.finish();
    assert!(!ok, "{screen}");
    assert!(screen.contains("you answered no"), "{screen}");
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert_eq!(files(&into).len(), 1, "the file stays for editing");
}

#[test]
fn migration_new_with_no_model_change_pulls_nothing() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    let into = checkout(&s);
    let run = migration_new(&s, &into, "master", "nothing", &[]).success();
    assert!(
        run.stderr
            .contains("no changes in schema detected: nothing to pull"),
        "{}",
        run.stderr
    );
    assert!(files(&into).is_empty());
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
}

#[test]
fn migration_new_never_overwrites_a_local_file() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    let into = checkout(&s);
    let mine = into.join("abc123_add_comment_url.py");
    std::fs::write(&mine, "my edited migration\n").unwrap();
    migration_new(
        &s,
        &into,
        "feature/comment-url",
        "add comment url",
        &["--rev-id", "abc123"],
    )
    .failure(1)
    .stderr_has("already exists locally; wptdeploy never overwrites a local file");
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        "my edited migration\n"
    );
    assert_eq!(
        pg.revision().as_deref(),
        Some("735093c03092"),
        "not applied either"
    );
}

#[test]
fn migration_new_review_flags_a_rename_that_autogenerate_turned_into_drop_and_add() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    let into = checkout(&s);
    let run = migration_new(&s, &into, "rename-title", "rename title", &[]).failure(1);
    assert!(
        run.stderr.contains("drops pull_request.title and adds pull_request.headline: if this is a rename, autogenerate loses the data"),
        "{}",
        run.stderr
    );
    // A drop is not applied without a yes; the file is there to fix.
    assert!(
        run.stderr
            .contains("drops column pull_request.title (that data is lost)"),
        "{}",
        run.stderr
    );
    assert!(
        pg.columns("pull_request")
            .iter()
            .any(|c| c.starts_with("title ")),
        "nothing ran"
    );
    assert_eq!(files(&into).len(), 1);
}

/// Production migrations are backed up first, and the backup fails closed.
#[test]
fn production_backs_up_before_migrating_and_a_failed_dump_stops_the_deploy() {
    use std::os::unix::fs::PermissionsExt as _;
    let (s, pg) = sandbox_with_database(&[]);
    std::fs::rename(s.inventory.join("staging"), s.inventory.join("production")).unwrap();
    let failed = s
        .wptdeploy(&[
            "production",
            "--yes",
            "--commit",
            "master",
            "--migrate",
            "-e",
            "pg_dump_command=false",
        ])
        .failure(1);
    assert!(
        failed
            .stderr
            .contains("pg_dump failed; no backup, so no migration"),
        "{}",
        failed.stderr
    );
    assert_eq!(pg.revision(), None, "not migrated");
    assert_eq!(s.live_release(), None, "not switched");

    s.wptdeploy(&["production", "--yes", "--commit", "master", "--migrate"])
        .success();
    let backups = s.base_path.join("backups");
    let dumps = files(&backups);
    assert_eq!(
        dumps.len(),
        1,
        "one backup for the one migration run: {dumps:?}"
    );
    let dump = backups.join(&dumps[0]);
    assert!(
        dumps[0].starts_with(&format!("wptdash-{}-", s.sha("master"))),
        "{dumps:?}"
    );
    assert_eq!(
        std::fs::metadata(&dump).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let listed = std::process::Command::new(crate::support::postgres::bin_dir().join("pg_restore"))
        .arg("--list")
        .arg(&dump)
        .output()
        .unwrap();
    assert!(listed.status.success(), "pg_restore --list reads it");

    let run = s
        .wptdeploy(&[
            "production",
            "--yes",
            "--commit",
            "feature/with-migration",
            "--migrate",
            "-v",
        ])
        .success();
    assert!(run.stderr.contains("to restore: "), "{}", run.stderr);
    assert_eq!(files(&backups).len(), 2);
    // Staging does not back up by default.
    assert!(!run.stderr.contains("skipped back up"), "{}", run.stderr);
}

#[test]
fn migration_status_shows_the_revision_and_what_is_pending_without_changing_it() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    s.wptdeploy(&["migration", "status", "staging"])
        .success()
        .stderr_has("database at the head, 735093c03092");
    s.wptdeploy(&[
        "staging",
        "--commit",
        "feature/with-migration",
        "--no-migrate",
    ])
    .success();
    s.wptdeploy(&["migration", "status", "staging"])
        .success()
        .stderr_has("database at 735093c03092; 1 pending: 4dafe3eac60e (add comment url)");
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
}

#[test]
fn roundtrip_passes_for_a_sound_migration() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    let into = checkout(&s);
    let run = migration_new(
        &s,
        &into,
        "feature/comment-url",
        "add comment url",
        &["--rev-id", "feed0001", "--roundtrip"],
    )
    .success();
    for step in [
        "roundtrip, down to 735093c03092",
        "roundtrip, check the columns went back",
        "roundtrip, up again",
        "roundtrip, check the columns again",
    ] {
        assert!(run.stderr.contains(step), "{step}: {}", run.stderr);
    }
    assert_eq!(pg.revision().as_deref(), Some("feed0001"));
}

/// The person edits the pulled file; `migration test --roundtrip` catches
/// the `downgrade()` they broke, before the PR.
#[test]
fn migration_test_roundtrip_catches_a_broken_downgrade() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    let into = checkout(&s);
    migration_new(
        &s,
        &into,
        "feature/comment-url",
        "add comment url",
        &["--rev-id", "feed0002"],
    )
    .success();
    let file = into.join("feed0002_add_comment_url.py");
    let text = std::fs::read_to_string(&file).unwrap();
    let (head, _) = text.split_once("def downgrade():").unwrap();
    std::fs::write(&file, format!("{head}def downgrade():\n    pass\n")).unwrap();
    let run = s
        .wptdeploy(&[
            "migration",
            "test",
            "staging",
            &file.display().to_string(),
            "--roundtrip",
        ])
        .failure(1);
    assert!(
        run.stderr.contains("FAILED  check the columns went back"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("pull_request.comment_url should be gone but is there"),
        "{}",
        run.stderr
    );
    // The edited file went into the live release.
    let uploaded = std::fs::read_to_string(
        s.base_path
            .join("site/migrations/versions/feed0002_add_comment_url.py"),
    )
    .unwrap();
    assert!(uploaded.contains("def downgrade():\n    pass"));
    assert_eq!(
        pg.revision().as_deref(),
        Some("735093c03092"),
        "left at the parent, where the broken downgrade took it"
    );
    assert!(!s.base_path.join(".wptdeploy-lock").exists());
}

/// A wrong `migrations_dir` is caught with a message naming the variable.
#[test]
fn a_wrong_migrations_dir_is_caught() {
    let (s, pg) = sandbox_with_database(&[]);
    let into = checkout(&s);
    migration_new(
        &s,
        &into,
        "feature/comment-url",
        "add comment url",
        &["-e", "migrations_dir=elsewhere"],
    )
    .failure(1)
    .stderr_has("the release has no directory elsewhere/versions: set migrations_dir");
    assert!(files(&into).is_empty(), "nothing pulled");
    assert_eq!(pg.revision(), None, "stopped before any upgrade");
}

#[test]
fn migration_new_wants_exactly_one_host() {
    let (s, _pg) = sandbox_with_database(&[]);
    let into = checkout(&s);
    let text = std::fs::read_to_string(s.inventory.join("staging")).unwrap();
    let second = text
        .lines()
        .nth(1)
        .unwrap()
        .replacen("sandbox-host", "second-host", 1);
    std::fs::write(s.inventory.join("staging"), format!("{text}{second}\n")).unwrap();
    migration_new(&s, &into, "feature/comment-url", "add comment url", &[])
        .failure(2)
        .stderr_has(
            "migration new works on one host, and staging has 2: sandbox-host, second-host",
        );
    assert!(files(&into).is_empty());
}
