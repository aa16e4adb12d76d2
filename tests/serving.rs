//! "deployed" means serving (issue 27): with no variable naming a health
//! check or a URL, a deploy loads the new release's app before the switch
//! (its entry point read from the running app server) and, after it, waits
//! for the new release to answer its build file where real requests reach
//! it (gunicorn's bind; the nginx site in front of a uWSGI vassal's
//! socket). Real gunicorn, a real uWSGI emperor behind a real nginx, real
//! PostgreSQL.

use crate::support::cutover::{self, Server, Serving};
use crate::support::sandbox::example_app;
use crate::support::{Sandbox, events, sandbox_with_migrated_database};

/// The example app's `wptdash/__init__.py` with `change` applied.
fn app_init(change: impl Fn(&str) -> String) -> String {
    let text = std::fs::read_to_string(example_app().join("wptdash/__init__.py")).unwrap();
    change(&text)
}

/// A release whose app does not import: a module it needs is missing.
fn missing_module(s: &Sandbox) -> String {
    s.branch_with_files(
        "missing-module",
        &[(
            "wptdash/__init__.py",
            &app_init(|t| format!("import psycopg_not_installed  # noqa\n{t}")),
        )],
    )
}

/// A release that loads but fails every request (a hook that raises), as
/// wptdash's `before_request` would with a broken setting.
fn failing_every_request(s: &Sandbox) -> String {
    s.branch_with_files(
        "fails-requests",
        &[(
            "wptdash/__init__.py",
            &app_init(|t| {
                t.replacen(
                    "    return app\n",
                    "    @app.before_request\n    def broken():\n        raise RuntimeError(\"every request fails\")\n\n    return app\n",
                    1,
                )
            }),
        )],
    )
}

/// `server` serving master, told to wptdeploy only as the app server it
/// is (no `release_url`, no health check, no `wsgi_app`).
fn serving_with_nothing_set(
    server: Server,
) -> (Sandbox, crate::support::postgres::Postgres, Serving) {
    if let Err(missing) = cutover::available(server) {
        panic!("{server:?} cannot run on this machine: {missing}");
    }
    let (s, pg) =
        sandbox_with_migrated_database(&[("healthcheck_command", "''"), ("wsgi_app", "''")]);
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    let mut serving = cutover::serve(&s, server);
    serving.vars.retain(|(name, _)| {
        !matches!(
            name.as_str(),
            "release_url" | "healthcheck_url" | "healthcheck_command"
        )
    });
    let mut vars = pg.inventory_vars();
    vars.push(("healthcheck_command".into(), "''".into()));
    vars.push(("wsgi_app".into(), "''".into()));
    cutover::write_inventory(&s, &vars, &serving);
    (s, pg, serving)
}

/// The three releases against `server`: a good one is gated on its
/// answer and ends `deployed`; one that does not import is refused before
/// the switch; one that answers 500 is switched back, and says so.
fn gated_with_nothing_set(server: Server, entry_from: &str) {
    let (s, _pg, serving) = serving_with_nothing_set(server);
    let master = s.sha("master");

    let next = s.new_branch("next");
    let run = s.wptdeploy(&["staging", "--commit", "next"]).success();
    let said = &run.stderr;
    assert!(
        said.contains(&format!("wptdash.wsgi:app (from {entry_from})")),
        "{said}"
    );
    assert!(said.contains("wptdash.wsgi:app loads"), "{said}");
    assert!(
        said.contains("/static/build.txt") && said.contains("serving it after"),
        "the cut-over waited for the new release's build file: {said}"
    );
    assert!(
        said.contains(" deployed ") && !said.contains("unchecked"),
        "{said}"
    );
    assert_eq!(
        cutover::served(serving.addr).as_deref(),
        Some(next.as_str())
    );

    let broken = missing_module(&s);
    let run = s.wptdeploy(&["staging", "--commit", &broken]).failure(1);
    let said = &run.stderr;
    assert!(
        said.contains("No module named 'psycopg_not_installed'"),
        "{said}"
    );
    assert!(
        said.contains("the new release's app does not load (wptdash.wsgi:app"),
        "{said}"
    );
    assert!(
        !said.contains("ROLLED BACK"),
        "nothing was switched: {said}"
    );
    assert_eq!(s.live_release().as_deref(), Some(next.as_str()));
    assert_eq!(
        cutover::served(serving.addr).as_deref(),
        Some(next.as_str())
    );

    let failing = failing_every_request(&s);
    let run = s.wptdeploy(&["staging", "--commit", &failing]).failure(1);
    let said = &run.stderr;
    assert!(said.contains("ROLLED BACK"), "{said}");
    assert!(said.contains("the new release answers 500"), "{said}");
    assert!(
        !said.contains("check uwsgi_vassal is the file"),
        "the hint names the 500, not the vassal: {said}"
    );
    assert_eq!(s.live_release().as_deref(), Some(next.as_str()));
    assert_eq!(
        cutover::served(serving.addr).as_deref(),
        Some(next.as_str()),
        "{}",
        serving.logs()
    );
    assert_ne!(master, next);
}

#[test]
fn gunicorn_is_gated_on_loading_and_answering_with_nothing_set() {
    gated_with_nothing_set(Server::Gunicorn, "gunicorn's command line");
}

#[test]
fn a_uwsgi_emperor_behind_nginx_is_gated_with_nothing_set() {
    gated_with_nothing_set(Server::UwsgiEmperor, "the uWSGI vassal");
}

#[test]
fn a_deploy_that_nothing_checked_says_so() {
    let s = crate::support::sandbox();
    s.write_inventory(&[("healthcheck_command", "''"), ("wsgi_app", "''")]);
    let run = s.wptdeploy(&["staging", "--commit", "master"]).success();
    let said = &run.stderr;
    assert!(said.contains("deployed (unchecked)"), "{said}");
    assert!(said.contains("nothing saw the new release work"), "{said}");
    assert!(said.contains("set `wsgi_app`"), "{said}");
    let json_run = crate::support::Run::from(
        s.command(crate::support::bin())
            .args(["staging", "--commit", "master", "--output", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(json_run.code, 0, "{}", json_run.stderr);
    let finished: Vec<_> = events(&json_run)
        .into_iter()
        .filter(|e| e["event"] == "host_finished")
        .collect();
    assert_eq!(finished.len(), 1);
    assert_eq!(
        finished[0]["summary"]["result"], "deployed_unchecked",
        "{finished:?}"
    );
    // With a health check it is `deployed`.
    s.write_inventory(&[("wsgi_app", "''")]);
    let run = s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert!(!run.stderr.contains("unchecked"), "{}", run.stderr);
}
