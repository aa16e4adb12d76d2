//! `wptdeploy setup ENV` (docs/setup.md) against a host that has none of
//! it: no app user, no `base_path`, no PostgreSQL role or database, no
//! app server unit, no nginx site. It makes them; a second run changes
//! nothing; `--check` on a half-set-up host shows exactly what is missing.
//! This machine runs no systemd (CI's container): the unit and the site
//! are proved by their files, and the run must say loudly that nothing was
//! started.

use std::process::Command;

use crate::support::{events, is_root, sandbox_with_database};

/// A system user made for one test, removed (with its group) when dropped.
struct MadeUser(String);

impl Drop for MadeUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
        let _ = Command::new("groupdel").arg(&self.0).status();
    }
}

fn exists(user: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(user)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn setup_makes_what_a_deploy_needs_and_a_second_run_changes_nothing() {
    assert!(
        is_root(),
        "`setup` makes a system user, which needs root (CI runs as root)"
    );
    assert!(
        !std::path::Path::new("/run/systemd/system").exists(),
        "this test proves the units by their files on a host without systemd; this machine runs systemd, where `setup` would start them for real"
    );
    let app_user = format!("wptds{}", std::process::id() % 1_000_000);
    assert!(!exists(&app_user), "{app_user} exists before the test");
    let _made = MadeUser(app_user.clone());
    let (s, pg) = sandbox_with_database(&[]);
    let base = s.dir.join("srv/fresh");
    let etc = s.dir.join("etc");
    let role = format!("{app_user}_role");
    let db = format!("{app_user}_db");
    let q = |p: &std::path::Path| crate::support::json(&p.display().to_string());
    let mut vars: Vec<(String, String)> = pg.inventory_vars();
    vars.extend(
        [
            ("app_user", crate::support::json(&app_user)),
            ("base_path", q(&base)),
            ("db_user", crate::support::json(&role)),
            ("db_name", crate::support::json(&db)),
            ("shared_paths", "[uploads]".to_owned()),
            ("app_server", "gunicorn".to_owned()),
            ("wsgi_app", "\"wptdash.wsgi:app\"".to_owned()),
            // Packages this machine has (apt is not run by a test).
            ("setup_packages", "[git, curl]".to_owned()),
            ("systemd_unit_dir", q(&etc.join("systemd"))),
            ("nginx_site", q(&etc.join("nginx/sites-available/wptdash"))),
            ("nginx_enabled", q(&etc.join("nginx/sites-enabled/wptdash"))),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    s.write_inventory(&vars);

    // --check: every part missing, said; nothing made.
    let check = s.wptdeploy(&["setup", "staging", "--check"]).success();
    for said in [
        format!("missing: the user {app_user}"),
        format!("missing: {} owned by {app_user}", base.display()),
        format!("missing: the role {role}"),
        format!("missing: the database {db}, owned by {role}"),
        "in place".to_owned(),
    ] {
        assert!(check.stderr.contains(&said), "{said}:\n{}", check.stderr);
    }
    assert!(!exists(&app_user) && !base.exists() && !etc.exists());

    // The run makes each part, and says that nothing was started.
    let made = s.wptdeploy(&["setup", "staging"]).success();
    assert!(
        made.stderr.contains(&format!("made: the user {app_user}"))
            && made
                .stderr
                .contains("this host runs no systemd: nothing was started."),
        "{}",
        made.stderr
    );
    assert!(exists(&app_user));
    let owner = Command::new("stat")
        .args(["-c", "%U"])
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), app_user);
    assert!(base.join("shared/uploads").is_dir());
    let has = |sql: &str| pg.psql(sql).trim() == "1";
    assert!(has(&format!(
        "SELECT 1 FROM pg_roles WHERE rolname = '{role}'"
    )));
    assert!(has(&format!(
        "SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = '{db}' AND r.rolname = '{role}'"
    )));
    let unit = std::fs::read_to_string(etc.join("systemd/wptdash.service")).unwrap();
    assert!(
        unit.contains(&format!("User={app_user}"))
            && unit.contains(&format!(
                "ExecStart={}/venv/bin/python -m gunicorn --chdir {}/site",
                base.display(),
                base.display()
            ))
            && unit.contains("--bind unix:/tmp/wptdash.sock")
            && unit.contains(" wptdash.wsgi:app"),
        "{unit}"
    );
    let site = std::fs::read_to_string(etc.join("nginx/sites-available/wptdash")).unwrap();
    assert_eq!(
        site.matches("server unix:/tmp/wptdash.sock max_fails=0;")
            .count(),
        2,
        "the upstream that retries once:\n{site}"
    );
    assert_eq!(
        std::fs::read_link(etc.join("nginx/sites-enabled/wptdash")).unwrap(),
        etc.join("nginx/sites-available/wptdash")
    );
    // The database password never shows.
    assert!(
        !made.stderr.contains("sandbox-db-secret") && !made.stdout.contains("sandbox-db-secret")
    );

    // A second run changes nothing.
    let again = s
        .wptdeploy(&["setup", "staging", "--output", "json"])
        .success();
    let changed: Vec<String> = events(&again)
        .into_iter()
        .filter(|e| e["event"] == "step_finished" && e["status"] == "changed")
        .map(|e| e["name"].to_string())
        .collect();
    assert!(changed.is_empty(), "changed again: {changed:?}");

    // Half set up: the database and the site's link gone; --check names
    // exactly those (and the grant, which went with the database).
    std::fs::remove_file(etc.join("nginx/sites-enabled/wptdash")).unwrap();
    pg.psql(&format!("DROP DATABASE {db}"));
    let half = s.wptdeploy(&["setup", "staging", "--check"]).success();
    let missing: Vec<&str> = half
        .stderr
        .lines()
        .filter(|l| l.contains("missing: "))
        .collect();
    assert_eq!(missing.len(), 3, "{}", half.stderr);
    assert!(
        half.stderr
            .contains(&format!("missing: the database {db}, owned by {role}"))
            && half.stderr.contains(&format!(
                "missing: CREATE on the schema public of {db} for {role}"
            ))
            && half.stderr.contains("sites-enabled/wptdash, a link to"),
        "{}",
        half.stderr
    );
    // And the run puts back exactly those.
    s.wptdeploy(&["setup", "staging"]).success();
    assert!(has(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{db}'"
    )));
}
