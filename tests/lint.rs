//! The migration SQL lint: the SQL alembic will run, rendered on the host,
//! linted for the server's version before anything runs, against a real
//! PostgreSQL and real alembic migrations.

use crate::support::{sandbox_with_database, sandbox_with_migrated_database};

/// A migration on master's head that adds a required column and an index
/// built while writes wait.
const RISKY: &str = "\"\"\"add reviewer\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = 'eeee00000005'\ndown_revision = '735093c03092'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.add_column('pull_request', sa.Column('reviewer', sa.Text(), nullable=False))\n    op.create_index('ix_lint_number', 'pull_request', ['number'])\n\n\ndef downgrade():\n    op.drop_index('ix_lint_number')\n    op.drop_column('pull_request', 'reviewer')\n";

const FILE: &str = "migrations/versions/eeee00000005_add_reviewer.py";

#[test]
fn risky_sql_is_reported_with_its_line_refused_on_error_and_allowances_are_recorded() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let master = s.sha("master");
    s.branch_with("risky", FILE, RISKY);

    // As error (production's default), the deploy stops before anything runs.
    let refused = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "risky",
            "--migrate",
            "-e",
            "migration_lint=error",
        ])
        .failure(1);
    for said in [
        "eeee00000005_add_reviewer.py:12 (eeee00000005): adding-required-field",
        "python: op.add_column('pull_request', sa.Column('reviewer', sa.Text(), nullable=False))",
        "sql:    ALTER TABLE pull_request ADD COLUMN reviewer TEXT NOT NULL;",
        "eeee00000005_add_reviewer.py:13 (eeee00000005): require-concurrent-index-creation",
        "lock:   SHARE while the index is built",
        "nothing ran",
    ] {
        assert!(refused.stderr.contains(said), "{said}\n{}", refused.stderr);
    }
    assert_eq!(
        pg.revision().as_deref(),
        Some("735093c03092"),
        "not migrated"
    );
    assert_eq!(s.live_release(), Some(master.clone()), "not switched");

    // One finding allowed on the command line: the other still stops it.
    let partly = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "risky",
            "--migrate",
            "-e",
            "migration_lint=error",
            "--allow",
            "adding-required-field",
        ])
        .failure(1);
    assert!(
        partly.stderr.contains("require-concurrent-index-creation"),
        "{}",
        partly.stderr
    );
    assert!(
        !partly.stderr.contains("): adding-required-field"),
        "{}",
        partly.stderr
    );

    // The other allowed in the file, with its reason: it runs, and the
    // history says what was allowed and why.
    s.branch_with(
        "risky-allowed",
        FILE,
        &RISKY.replace(
            "def upgrade():",
            "# wptdeploy: allow require-concurrent-index-creation because the table is small\ndef upgrade():",
        ),
    );
    s.wptdeploy(&[
        "staging",
        "--commit",
        "risky-allowed",
        "--migrate",
        "-e",
        "migration_lint=error",
        "--allow",
        "adding-required-field",
    ])
    .success();
    assert_eq!(pg.revision().as_deref(), Some("eeee00000005"));
    let history = std::fs::read_to_string(s.base_path.join(".wptdeploy/history.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    let allowed = last["lint_allowed"].as_str().unwrap_or_default();
    assert!(
        allowed.contains("adding-required-field (eeee00000005): allowed with --allow")
            && allowed.contains(
                "require-concurrent-index-creation (eeee00000005): allowed in the migration file: the table is small"
            ),
        "{last}"
    );
}

/// A migration on master's head that drops a column the example's model
/// maps.
const DROP_TITLE: &str = "\"\"\"drop title\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = 'dddd00000004'\ndown_revision = '735093c03092'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.drop_column('pull_request', 'title')\n    op.create_index('ix_lint_title', 'pull_request', ['number'])\n\n\ndef downgrade():\n    op.drop_index('ix_lint_title')\n    op.add_column('pull_request', sa.Column('title', sa.Text(), nullable=True))\n";

/// The line of `class NAME(` in the example app's models.py.
fn example_model_line(name: &str) -> usize {
    let models = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app/wptdash/models.py"),
    )
    .unwrap();
    models
        .lines()
        .position(|l| l.starts_with(&format!("class {name}(")))
        .unwrap()
        + 1
}

/// `migration lint ENV FILE.py`: a migration written here, rendered by
/// alembic on the host in a copy of the live release's migrations (the
/// release untouched), linted for the server and against the live
/// release's models.
#[test]
fn migration_lint_renders_a_local_migration_file_against_the_live_release() {
    let (s, pg) = sandbox_with_database(&[]);
    let file = s.dir.join("dddd00000004_drop_title.py");
    std::fs::write(&file, DROP_TITLE).unwrap();
    let file = file.display().to_string();
    let no_host = s.wptdeploy(&["migration", "lint", &file]).failure(2);
    assert!(
        no_host.stderr.contains("name the environment too"),
        "{}",
        no_host.stderr
    );
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let found = s
        .wptdeploy(&["migration", "lint", "staging", &file])
        .failure(1);
    let model = format!(
        "dddd00000004_drop_title.py:12 (dddd00000004): breaks-live-code: drops pull_request.title, which the live release's model PullRequest (wptdash/models.py:{}) still maps",
        example_model_line("PullRequest")
    );
    for said in [
        model.as_str(),
        "dddd00000004_drop_title.py:12 (dddd00000004): ban-drop-column",
        "dddd00000004_drop_title.py:13 (dddd00000004): require-concurrent-index-creation",
        "3 finding(s) in staging (sandbox-host)",
    ] {
        assert!(found.stderr.contains(said), "{said}\n{}", found.stderr);
    }
    assert_eq!(
        pg.revision().as_deref(),
        Some("735093c03092"),
        "nothing ran"
    );
    let versions = s.base_path.join("site/migrations/versions");
    let listed: Vec<String> = std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".py"))
        .collect();
    assert_eq!(
        listed,
        ["735093c03092_initial_tables.py"],
        "the release untouched"
    );
    let allowed = s
        .wptdeploy(&[
            "migration",
            "lint",
            "staging",
            &file,
            "--allow",
            "breaks-live-code",
            "--allow",
            "ban-drop-column",
            "--allow",
            "require-concurrent-index-creation",
        ])
        .success();
    assert!(
        allowed.stderr.contains("3 statement finding(s): 3 allowed"),
        "{}",
        allowed.stderr
    );
}

/// Expand/contract, enforced: dropping a column the live release's model
/// still maps is refused naming the model (even with squawk's
/// `ban-drop-column` allowed); once a release whose model no longer maps
/// it is live, the same migration runs.
#[test]
fn dropping_a_column_the_live_model_maps_is_refused_naming_the_model() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let master = s.sha("master");
    let class_line = example_model_line("PullRequest");
    let models = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app/wptdash/models.py"),
    )
    .unwrap();
    let without_title = models.replace("    title = db.Column(db.Text)\n", "");
    assert_ne!(without_title, models, "the example's model maps title");
    let files = [
        ("migrations/versions/dddd00000004_drop_title.py", DROP_TITLE),
        ("wptdash/models.py", without_title.as_str()),
    ];
    s.branch_with_files("drop-title", &files);
    let deploy_drop = [
        "staging",
        "--commit",
        "drop-title",
        "--migrate",
        "-e",
        "migration_lint=error",
        "--allow",
        "ban-drop-column",
        "--allow",
        "require-concurrent-index-creation",
    ];
    let refused = s.wptdeploy(&deploy_drop).failure(1);
    let said = format!(
        "dddd00000004_drop_title.py:12 (dddd00000004): breaks-live-code: drops pull_request.title, which the live release's model PullRequest (wptdash/models.py:{class_line}) still maps"
    );
    for said in [
        said.as_str(),
        "sql:    ALTER TABLE pull_request DROP COLUMN title;",
        "safe:   expand/contract",
        "nothing ran",
    ] {
        assert!(refused.stderr.contains(said), "{said}\n{}", refused.stderr);
    }
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    assert!(
        pg.psql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'pull_request'"
        )
        .lines()
        .any(|c| c == "title")
    );
    assert_eq!(s.live_release(), Some(master), "not switched");

    // The contract step: first a release whose model no longer maps it.
    s.branch_with_files("stop-using-title", &files[1..]);
    s.wptdeploy(&["staging", "--commit", "stop-using-title", "--migrate"])
        .success();
    let run = s.wptdeploy(&deploy_drop).success();
    assert!(!run.stderr.contains("breaks-live-code"), "{}", run.stderr);
    assert_eq!(pg.revision().as_deref(), Some("dddd00000004"));
    assert!(
        !pg.psql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'pull_request'"
        )
        .lines()
        .any(|c| c == "title")
    );
}

/// Off production the policy is `warn`: the findings are shown and the
/// migration runs.
#[test]
fn staging_warns_and_migrates() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    s.branch_with("risky", FILE, RISKY);
    let run = s
        .wptdeploy(&["staging", "--commit", "risky", "--migrate"])
        .success();
    assert!(
        run.stderr.contains(
            "warning: eeee00000005_add_reviewer.py:12 (eeee00000005): adding-required-field"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(pg.revision().as_deref(), Some("eeee00000005"));
}

#[test]
fn an_unknown_rule_is_refused_before_any_connection() {
    let (s, _pg) = sandbox_with_database(&[]);
    let run = s
        .wptdeploy(&["staging", "--migrate", "--allow", "prefer-text-field"])
        .failure(2);
    assert!(
        run.stderr.contains("not a rule wptdeploy checks"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("connected"), "{}", run.stderr);
}

/// `migration test` (and so `migration new` and the checklist, which apply
/// their file the same way) lints the file's SQL before it runs: refused
/// under `error`, with the database untouched; warned and applied under
/// staging's `warn`.
#[test]
fn migration_test_lints_the_file_before_it_runs() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let local = s.dir.join("eeee00000005_add_reviewer.py");
    std::fs::write(&local, RISKY).unwrap();
    let local = local.display().to_string();
    let refused = s
        .wptdeploy(&[
            "migration",
            "test",
            "staging",
            &local,
            "-e",
            "migration_lint=error",
        ])
        .failure(1);
    for said in [
        "lint the SQL of eeee00000005_add_reviewer.py",
        "eeee00000005_add_reviewer.py:12 (eeee00000005): adding-required-field",
        "sql:    ALTER TABLE pull_request ADD COLUMN reviewer TEXT NOT NULL;",
    ] {
        assert!(refused.stderr.contains(said), "{said}\n{}", refused.stderr);
    }
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"), "not run");
    let warned = s
        .wptdeploy(&["migration", "test", "staging", &local])
        .success();
    assert!(
        warned
            .stderr
            .contains("warning: eeee00000005_add_reviewer.py:13 (eeee00000005): require-concurrent-index-creation"),
        "{}",
        warned.stderr
    );
    assert_eq!(pg.revision().as_deref(), Some("eeee00000005"));
}

/// An index built `CONCURRENTLY` inside the migration's transaction cannot
/// run (PostgreSQL refuses it): refused before anything runs, even where
/// findings only warn, with alembic's recipe; written with
/// `autocommit_block()`, it lints clean and really runs outside the
/// transaction.
#[test]
fn concurrently_inside_the_transaction_is_refused_and_autocommit_block_runs() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let migration = |body: &str| {
        format!(
            "\"\"\"index numbers\"\"\"\nfrom alembic import op\n\nrevision = 'eeee00000006'\ndown_revision = '735093c03092'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n{body}\n\n\ndef downgrade():\n    op.drop_index('ix_pr_number', table_name='pull_request')\n"
        )
    };
    let file = "migrations/versions/eeee00000006_index_numbers.py";
    s.branch_with(
        "in-transaction",
        file,
        &migration(
            "    op.create_index('ix_pr_number', 'pull_request', ['number'], postgresql_concurrently=True)",
        ),
    );
    let refused = s
        .wptdeploy(&["staging", "--commit", "in-transaction", "--migrate"])
        .failure(1);
    for said in [
        "PostgreSQL would refuse this migration as it is written",
        "eeee00000006_index_numbers.py:11 (eeee00000006): ban-concurrent-index-creation-in-transaction",
        "autocommit_block()",
        "nothing ran",
    ] {
        assert!(refused.stderr.contains(said), "{said}\n{}", refused.stderr);
    }
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));

    s.branch_with(
        "autocommit",
        file,
        &migration(
            "    with op.get_context().autocommit_block():\n        op.create_index('ix_pr_number', 'pull_request', ['number'], postgresql_concurrently=True)",
        ),
    );
    let run = s
        .wptdeploy(&["staging", "--commit", "autocommit", "--migrate"])
        .success();
    assert!(
        run.stderr
            .contains("lint the SQL of the pending migrations")
            && !run.stderr.contains("warning: eeee00000006"),
        "{}",
        run.stderr
    );
    assert_eq!(pg.revision().as_deref(), Some("eeee00000006"));
    assert_eq!(
        pg.psql("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_pr_number'")
            .trim(),
        "CREATE INDEX ix_pr_number ON public.pull_request USING btree (number)"
    );
}

/// The lint findings in a JSON run's `host_finished` data.
fn host_findings(run: &crate::support::Run) -> Vec<serde_json::Value> {
    crate::support::events(run)
        .into_iter()
        .filter(|e| e["event"] == "host_finished")
        .flat_map(|e| e["summary"]["data"].as_array().cloned().unwrap_or_default())
        .filter_map(|d| d.get("lint").and_then(|l| l.as_array().cloned()))
        .flatten()
        .collect()
}

/// `migration lint ENV`: the live release's pending migrations, linted
/// against the database, changing nothing; `migration lint FILE.sql`: a
/// SQL file here (alembic's offline output or any SQL), placed by revision
/// or by line; both exit 1 on a finding not allowed, for CI.
#[test]
fn migration_lint_reads_a_hosts_pending_migrations_or_sql_files() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    s.branch_with("risky", FILE, RISKY);
    // Live without its migration (pending on purpose).
    s.wptdeploy(&[
        "staging",
        "--commit",
        "risky",
        "--no-migrate",
        "-e",
        "check_pending_migrations=false",
    ])
    .success();
    let found = s.wptdeploy(&["migration", "lint", "staging"]).failure(1);
    for said in [
        "eeee00000005_add_reviewer.py:12 (eeee00000005): adding-required-field",
        "eeee00000005_add_reviewer.py:13 (eeee00000005): require-concurrent-index-creation",
        "2 finding(s) in staging (sandbox-host) that can hurt the live database",
    ] {
        assert!(found.stderr.contains(said), "{said}\n{}", found.stderr);
    }
    let json = s
        .wptdeploy(&[
            "migration",
            "lint",
            "staging",
            "--allow",
            "adding-required-field",
            "--allow",
            "require-concurrent-index-creation",
            "--output",
            "json",
        ])
        .success();
    let lint = host_findings(&json);
    assert_eq!(lint.len(), 2, "{}", json.stdout);
    assert!(lint.iter().all(|f| f["allowed"] == "allowed with --allow"));
    assert_eq!(
        pg.revision().as_deref(),
        Some("735093c03092"),
        "nothing ran"
    );

    let offline = s.dir.join("upgrade.sql");
    std::fs::write(
        &offline,
        "BEGIN;\n\n-- Running upgrade 735093c03092 -> eeee00000005\n\nALTER TABLE pull_request ADD COLUMN reviewer TEXT NOT NULL;\n\nUPDATE alembic_version SET version_num='eeee00000005' WHERE alembic_version.version_num = '735093c03092';\n\nCOMMIT;\n",
    )
    .unwrap();
    let plain = s.dir.join("plain.sql");
    std::fs::write(
        &plain,
        "SELECT 1;\nCREATE INDEX ix_number ON pull_request (number);\n",
    )
    .unwrap();
    let files = s
        .wptdeploy(&[
            "migration",
            "lint",
            &offline.display().to_string(),
            &plain.display().to_string(),
        ])
        .failure(1);
    assert!(
        files.stdout.contains(&format!(
            "{} (eeee00000005): adding-required-field",
            offline.display()
        )),
        "{}",
        files.stdout
    );
    assert!(
        files.stdout.contains(&format!(
            "{}:2: require-concurrent-index-creation",
            plain.display()
        )),
        "{}",
        files.stdout
    );
    assert!(files.stderr.contains("2 finding(s) in"), "{}", files.stderr);
}

/// A chain of migrations, one revision per `(upgrade body)`, on master's
/// head: revision ids `rule000001`, `rule000002`, ...
fn chain(bodies: &[&str]) -> Vec<(String, String)> {
    let mut parent = "735093c03092".to_owned();
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let revision = format!("rule{:06}", i + 1);
            let text = format!(
                "\"\"\"step {n}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = '{revision}'\ndown_revision = '{parent}'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n",
                n = i + 1
            );
            parent.clone_from(&revision);
            (format!("migrations/versions/{revision}_step.py"), text)
        })
        .collect()
}

/// The rules' findings, per revision, for the chain on branch `name`, put
/// live with its migrations pending and linted with `migration lint`.
fn findings_of(s: &crate::support::Sandbox, name: &str, bodies: &[&str]) -> Vec<(String, String)> {
    let files = chain(bodies);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    s.branch_with_files(name, &files);
    s.wptdeploy(&[
        "staging",
        "--commit",
        name,
        "--no-migrate",
        "-e",
        "check_pending_migrations=false",
    ])
    .success();
    let run = s.wptdeploy(&["migration", "lint", "staging", "--output", "json"]);
    host_findings(&run)
        .into_iter()
        .map(|f| {
            (
                f["revision"].as_str().unwrap_or_default().to_owned(),
                f["rule"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The server's version decides a finding: a column with a constant
/// default rewrites the table before PostgreSQL 11, not since. The SQL is
/// alembic's, rendered on the host; `--server-version` lints it for the
/// version production runs.
#[test]
fn the_server_version_changes_a_finding_in_real_alembic_sql() {
    let (s, _pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let rules = |version: Option<&str>| {
        let mut args = vec!["migration", "lint", "staging", "--output", "json"];
        args.extend(
            version
                .map(|v| ["--server-version", v])
                .into_iter()
                .flatten(),
        );
        let run = s.wptdeploy(&args);
        host_findings(&run)
            .into_iter()
            .map(|f| {
                format!(
                    "{} {} {}",
                    f["revision"].as_str().unwrap_or_default(),
                    f["rule"].as_str().unwrap_or_default(),
                    f["sql"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
    };
    findings_of(
        &s,
        "label-default",
        &[
            "    op.add_column('pull_request', sa.Column('label', sa.Text(), server_default='open'))",
        ],
    );
    assert_eq!(
        rules(None),
        Vec::<String>::new(),
        "PostgreSQL 15: no rewrite"
    );
    assert_eq!(
        rules(Some("10.23")),
        [
            "rule000001 adding-field-with-default ALTER TABLE pull_request ADD COLUMN label TEXT DEFAULT 'open';"
        ]
    );
}

/// Each rule the issue names, caught in a real alembic migration that does
/// it (rendered by alembic's offline mode on the host, linted against the
/// sandbox's PostgreSQL 15), and not in its safe version.
#[test]
fn each_rule_is_caught_in_a_real_migration_and_not_in_its_safe_version() {
    let (s, pg) = sandbox_with_migrated_database(&[]);
    s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
        .success();
    let risky: [(&str, &str); 11] = [
        (
            "    op.add_column('pull_request', sa.Column('a1', sa.Text(), nullable=False))",
            "adding-required-field",
        ),
        (
            "    op.add_column('pull_request', sa.Column('a2', sa.Float(), server_default=sa.text('random()')))",
            "adding-field-with-default",
        ),
        (
            "    op.create_index('ix_a', 'pull_request', ['number'])",
            "require-concurrent-index-creation",
        ),
        (
            "    op.drop_index('ix_a', table_name='pull_request')",
            "require-concurrent-index-deletion",
        ),
        (
            "    op.create_index('ix_b', 'pull_request', ['number'], postgresql_concurrently=True)",
            "ban-concurrent-index-creation-in-transaction",
        ),
        (
            "    op.alter_column('pull_request', 'title', type_=sa.String(length=200))",
            "changing-column-type",
        ),
        (
            "    op.create_check_constraint('ck_number', 'pull_request', 'number > 0')",
            "constraint-missing-not-valid",
        ),
        (
            "    op.create_foreign_key('fk_repo', 'pull_request', 'repository', ['repository_id'], ['id'])",
            "adding-foreign-key-constraint",
        ),
        (
            "    op.create_unique_constraint('uq_number', 'pull_request', ['number'])",
            "disallowed-unique-constraint",
        ),
        (
            "    op.alter_column('pull_request', 'head_sha', new_column_name='head')",
            "renaming-column",
        ),
        (
            "    op.drop_column('pull_request', 'base_sha')",
            "ban-drop-column",
        ),
    ];
    let found = findings_of(&s, "every-rule", &risky.map(|(body, _)| body));
    for (i, (_, rule)) in risky.iter().enumerate() {
        let revision = format!("rule{:06}", i + 1);
        assert!(
            found.iter().any(|(r, f)| *r == revision && f == rule),
            "{rule} not found in {revision}: {found:?}"
        );
    }

    let safe = [
        "    op.add_column('pull_request', sa.Column('a1', sa.Text(), nullable=True))",
        "    op.add_column('pull_request', sa.Column('a2', sa.Integer(), server_default='0'))",
        "    with op.get_context().autocommit_block():\n        op.create_index('ix_a', 'pull_request', ['number'], postgresql_concurrently=True)",
        "    with op.get_context().autocommit_block():\n        op.drop_index('ix_a', table_name='pull_request', postgresql_concurrently=True)",
        "    op.execute('ALTER TABLE pull_request ADD CONSTRAINT ck_number CHECK (number > 0) NOT VALID')",
        // Validated in the same transaction as the NOT VALID add, it would
        // hold the lock after all: alembic runs every pending revision in
        // one transaction unless told otherwise.
        "    with op.get_context().autocommit_block():\n        op.execute('ALTER TABLE pull_request VALIDATE CONSTRAINT ck_number')",
        "    op.execute('ALTER TABLE pull_request ADD CONSTRAINT fk_repo FOREIGN KEY (repository_id) REFERENCES repository (id) NOT VALID')",
        "    with op.get_context().autocommit_block():\n        op.create_index('uq_number_ix', 'pull_request', ['number'], unique=True, postgresql_concurrently=True)",
        "    op.execute('ALTER TABLE pull_request ADD CONSTRAINT uq_number UNIQUE USING INDEX uq_number_ix')",
    ];
    let found = findings_of(&s, "every-rule-safe", &safe);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(
        pg.revision().as_deref(),
        Some("735093c03092"),
        "nothing ran"
    );
    // The safe versions really run, on production's policy too.
    s.wptdeploy(&[
        "staging",
        "--commit",
        "every-rule-safe",
        "--migrate",
        "-e",
        "migration_lint=error",
    ])
    .success();
    assert_eq!(pg.revision().as_deref(), Some("rule000009"));
    assert_eq!(
        pg.psql("SELECT conname FROM pg_constraint WHERE conname IN ('ck_number', 'fk_repo', 'uq_number') ORDER BY conname")
            .lines()
            .collect::<Vec<_>>(),
        ["ck_number", "fk_repo", "uq_number"]
    );
}
