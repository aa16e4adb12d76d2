//! `bench/run`'s cut-over scenario (docs/benchmarks.md): for each app
//! server, a fresh sandbox serving the example app on loopback, a steady
//! load, 20 deploys alternating two releases, a rollback and a deploy whose
//! health check fails; prints a Markdown row per server: requests sent and
//! failed, p50/p99 latency while idle and while deploying, a deploy's
//! median time.
//!
//!     cargo run --example cutover -- [DEPLOYS] [RATE]

// Shares the test harness, which builds fixtures with std::fs.
#![allow(clippy::disallowed_methods, clippy::pedantic)]

#[path = "../tests/support/cutover.rs"]
mod cutover;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/postgres.rs"]
mod postgres;
#[path = "../tests/support/sandbox.rs"]
mod sandbox;

use std::process::ExitCode;

use cutover::Server;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let deploys: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let rate: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|d| d.join("wptdeploy")))
        .filter(|p| p.exists())
        .expect("build wptdeploy first (bench/run does)");
    println!("{deploys} deploys, {rate} requests a second\n");
    println!(
        "| app server | requests | failed | p50 / p99 idle | p50 / p99 deploying | deploy (median) |"
    );
    println!("|---|---|---|---|---|---|");
    let mut lost = false;
    let servers = match std::env::var("CUTOVER_SERVERS").ok().as_deref() {
        Some("uwsgi-emperor") => vec![Server::UwsgiEmperor],
        Some("gunicorn") => vec![Server::Gunicorn],
        _ => vec![Server::Gunicorn, Server::UwsgiEmperor, Server::PlainRestart],
    };
    for server in servers {
        if let Err(missing) = cutover::available(server) {
            println!("| {} | not run: {missing} | | | | |", server.label());
            lost = true;
            continue;
        }
        let s = sandbox::Sandbox::start();
        let pg = postgres::Postgres::start(&s.dir);
        let (serving, report) =
            cutover::under_load(&s, &bin, server, deploys, rate, &pg.inventory_vars());
        println!("{}", report.row(server));
        for problem in &report.problems {
            eprintln!("  {}: {problem}", server.label());
        }
        for failure in &report.all.failures {
            eprintln!("  {}: lost {failure}", server.label());
        }
        if server != Server::PlainRestart && report.all.failed > 0 {
            eprintln!("{}", serving.logs());
        }
        // Only the graceful servers are expected to lose nothing.
        lost |= !report.problems.is_empty()
            || (server != Server::PlainRestart && report.all.failed > 0);
    }
    if lost {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
