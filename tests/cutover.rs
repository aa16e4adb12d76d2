//! The cut-over under load (issue 17): the example app served for real on
//! loopback, a steady load sent at it, and not one request failing while
//! wptdeploy deploys two releases back and forth, rolls back, and switches
//! back from a release whose health check fails.

use std::time::Duration;

use crate::support::cutover::{self, Report, Server};
use crate::support::load::{Load, Stats};
use crate::support::{Run, Sandbox, bin, sandbox_with_migrated_database};

/// Deploys under load in a test: each release goes live twice, then the
/// rollback and the failed health check. Each deploy takes the same
/// path (the 20 of `bench/cutover`, whose figures docs/benchmarks.md
/// gives, are for measuring, not for proving it again).
const DEPLOYS: usize = 4;

/// Deploys under load with `server`, and fails naming every request lost.
fn no_request_fails(server: Server) -> Report {
    if let Err(missing) = cutover::available(server) {
        panic!("{server:?} cannot run on this machine: {missing}");
    }
    let (s, pg) = sandbox_with_migrated_database(&[]);
    let vars = pg.inventory_vars();
    let (serving, report) = cutover::under_load(&s, bin(), server, DEPLOYS, 40, &vars);
    eprintln!("{}", report.row(server));
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.deploys, DEPLOYS);
    // 40 a second over the deploys: enough requests that a lost one shows.
    assert!(
        report.deploying.sent >= 200,
        "only {} requests were sent while deploying",
        report.deploying.sent
    );
    assert_eq!(
        report.all.failed,
        0,
        "{} of {} requests failed: {:#?}\n{}",
        report.all.failed,
        report.all.sent,
        report.all.failures,
        serving.logs()
    );
    report
}

#[test]
fn gunicorn_cuts_over_with_no_failed_request() {
    no_request_fails(Server::Gunicorn);
}

#[test]
fn a_uwsgi_emperor_behind_nginx_cuts_over_with_no_failed_request() {
    no_request_fails(Server::UwsgiEmperor);
}

/// `first` then `live` deployed, `server` started serving `live`, then,
/// under load, a deploy of `first` that must fail, leaving `live` live
/// and serving (refused before the switch, or switched back). Returns the deploy's run
/// and the requests sent meanwhile.
fn refused_under_load(
    s: &Sandbox,
    server: Server,
    vars: &[(String, String)],
    first: &str,
    live: &str,
) -> (Run, Stats, String) {
    for sha in [first, live] {
        s.wptdeploy(&["staging", "--commit", sha]).success();
    }
    let serving = cutover::serve(s, server);
    cutover::write_inventory(s, vars, &serving);
    let load = Load::start(serving.addr, "/version", 40, 4, Duration::from_secs(60));
    let run = s.wptdeploy(&["staging", "--commit", first]).failure(1);
    assert_eq!(s.live_release().as_deref(), Some(live));
    assert_eq!(cutover::served(serving.addr).as_deref(), Some(live));
    let all = Stats::of(&load.stop(), Duration::ZERO, Duration::MAX);
    (run, all, serving.logs())
}

/// A preloaded gunicorn keeps its old code on HUP: the cut-over sees the
/// release before still answering, switches back, and says so; the load
/// never notices.
#[test]
fn a_release_that_never_serves_is_switched_back_while_the_old_one_keeps_serving() {
    let s = crate::support::sandbox_checking_the_app();
    let master = s.sha("master");
    let next = s.new_branch("next");
    let timeout = [("cutover_timeout".to_owned(), "8".to_owned())];
    let (run, all, _) = refused_under_load(&s, Server::GunicornPreloaded, &timeout, &master, &next);
    run.stderr_has(&format!("did not answer from {master} within 8 s: it answered with the release {next}, which kept serving for"))
        .stderr_has("--preload")
        .stderr_has("ROLLED BACK");
    assert!(all.sent >= 100, "{all:?}");
    assert_eq!(all.failed, 0, "{all:#?}");
}

/// A release whose app does not import: a HUP would make gunicorn's master
/// stop ("Worker failed to boot"). Loaded from the new release before the
/// switch, it is refused there: nothing is switched, no HUP is sent, and
/// the old release goes on serving, under load.
#[test]
fn a_release_that_does_not_import_never_reaches_gunicorn() {
    let s = crate::support::sandbox_checking_the_app();
    let master = s.sha("master");
    let broken = s.branch_with(
        "broken-wsgi",
        "wptdash/wsgi.py",
        "raise RuntimeError('broken on purpose')\n",
    );
    let (run, all, logs) = refused_under_load(&s, Server::Gunicorn, &[], &broken, &master);
    let run = run
        .stderr_has("RuntimeError: broken on purpose")
        .stderr_has("the new release's app does not load (wptdash.wsgi:app")
        .stderr_has("nothing was switched");
    assert!(!run.stderr.contains("ROLLED BACK"), "{}", run.stderr);
    assert!(all.sent >= 20, "{all:?}");
    assert_eq!(all.failed, 0, "{all:#?}\n{logs}");
}
