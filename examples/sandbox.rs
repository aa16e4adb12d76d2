//! The sandbox (`scripts/sandbox`): this machine plays "staging". It starts
//! a real sshd on a loopback port, a PostgreSQL cluster and a git origin
//! holding the example app, writes an inventory for them, and runs the real
//! `wptdeploy`: the first release with `--migrate` (virtualenv built for real
//! with pip, database upgraded before the switch), a branch whose migration
//! adds a column, the seed's column check with `verify`, back to the first
//! commit (relinked, not rebuilt), and last the branch again while gunicorn
//! serves the app on loopback under a steady load, with the count of
//! requests that failed (docs/cutover.md).
//!
//! `--keep` leaves sshd, PostgreSQL and gunicorn running and prints how to
//! use them.

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

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use sandbox::Sandbox;

/// Stops the servers of a sandbox kept by an earlier run.
fn stop_kept(dir: &Path) {
    for pid_file in [
        "sshd.pid",
        "git-daemon.pid",
        "pg/data/postmaster.pid",
        "serving/gunicorn.pid",
    ] {
        let pid = std::fs::read_to_string(dir.join(pid_file))
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned));
        if let Some(pid) = pid {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
}

fn main() -> ExitCode {
    let keep = std::env::args().any(|a| a == "--keep");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sandbox");
    if dir.exists() {
        stop_kept(&dir);
        std::fs::remove_dir_all(&dir).expect("remove the old .sandbox");
    }
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|d| d.join("wptdeploy")))
        .filter(|p| p.exists())
        .expect("build wptdeploy first (scripts/sandbox does)");
    let s = Sandbox::start_in(&dir);
    let pg = postgres::Postgres::start(&dir);
    let socket = pg.socket_dir.display().to_string();
    let vars = pg.inventory_vars();
    s.write_inventory(&vars);
    println!(
        "sandbox \"staging\": sshd on 127.0.0.1:{}, origin {}",
        s.ssh_port, s.origin_url
    );
    println!("PostgreSQL on the socket in {socket}, database wptdash");
    println!(
        "inventory {}, releases in {}\n",
        s.inventory.display(),
        s.base_path.display()
    );

    let master = s.sha("master");
    let runs: [(&str, Vec<&str>); 4] = [
        (
            "first deploy: virtualenv built with pip, database upgraded before the switch",
            vec!["staging", "--commit", "master", "--migrate"],
        ),
        (
            "a branch whose migration adds pull_request.comment_url",
            vec!["staging", "--commit", "feature/with-migration", "--migrate"],
        ),
        (
            "the checklist's step 8: the table's columns",
            vec!["verify", "staging", "--table", "pull_request"],
        ),
        (
            "back to master's commit: relinked, not rebuilt",
            vec!["staging", "--commit", &master],
        ),
    ];
    for (what, args) in runs {
        println!("==> wptdeploy {}    # {what}", args.join(" "));
        let status = s.command(&bin).args(&args).status().expect("run wptdeploy");
        if !status.success() {
            eprintln!("sandbox: that failed; everything is in {}", dir.display());
            return ExitCode::FAILURE;
        }
        println!();
    }
    // The cut-over under load: gunicorn serves the live release on
    // loopback while wptdeploy deploys the branch again, every request
    // counted.
    let serving = cutover::serve(&s, cutover::Server::Gunicorn);
    cutover::write_inventory(&s, &vars, &serving);
    let args = ["staging", "--commit", "feature/with-migration"];
    println!(
        "==> wptdeploy {}    # under load: gunicorn on http://{}, 40 requests a second",
        args.join(" "),
        serving.addr
    );
    let load = load::Load::start(serving.addr, "/version", 40, 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(1));
    let from = load.elapsed();
    let status = s.command(&bin).args(args).status().expect("run wptdeploy");
    let to = load.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let samples = load.stop();
    let during = load::Stats::of(&samples, from, to);
    let all = load::Stats::of(&samples, Duration::ZERO, Duration::MAX);
    println!(
        "{} requests while deploying, {} failed (p50 {} ms, p99 {} ms); {} in all, {} failed\n",
        during.sent,
        during.failed,
        during.p50.as_millis(),
        during.p99.as_millis(),
        all.sent,
        all.failed
    );
    for failure in &all.failures {
        eprintln!("  lost: {failure}");
    }
    if !status.success() || all.failed > 0 {
        eprintln!("sandbox: that failed; everything is in {}", dir.display());
        return ExitCode::FAILURE;
    }
    println!("==> the result on the \"server\"");
    println!("releases: {}", s.releases().join(", "));
    println!("site -> {}", s.live_release().unwrap_or_default());
    let build = std::fs::read_to_string(s.base_path.join("site/wptdash/static/build.txt"))
        .unwrap_or_default();
    println!("build.txt: {}", build.trim().replace('\n', " | "));
    println!("database revision: {}", pg.revision().unwrap_or_default());
    if keep {
        println!("\nsshd and PostgreSQL keep running. Try:");
        println!(
            "  WPTDEPLOY_INVENTORY={} WPTDEPLOY_KNOWN_HOSTS={} HOME={} {} staging --commit feature/with-migration --migrate --check",
            s.inventory.display(),
            s.known_hosts.display(),
            dir.display(),
            bin.display()
        );
        println!(
            "  curl http://{}/version    # gunicorn serves the live release",
            serving.addr
        );
        std::mem::forget(s);
        std::mem::forget(pg);
        std::mem::forget(serving);
    }
    ExitCode::SUCCESS
}
