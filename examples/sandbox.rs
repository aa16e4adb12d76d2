//! The sandbox (`scripts/sandbox`): this machine plays "staging". It starts
//! a real sshd on a loopback port and a git origin holding the example app,
//! writes an inventory for them, and deploys with the real `wptdeploy`:
//! a first release (virtualenv built for real with pip), a second branch,
//! then back to the first commit (relinked, not rebuilt).
//!
//! `--keep` leaves sshd running and prints the commands to use it.

#[path = "../tests/support/sandbox.rs"]
mod sandbox;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sandbox::Sandbox;

fn main() -> ExitCode {
    let keep = std::env::args().any(|a| a == "--keep");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sandbox");
    if dir.exists() {
        // A sandbox kept by an earlier run: stop its servers first.
        for pid_file in ["sshd.pid", "git-daemon.pid"] {
            if let Ok(pid) = std::fs::read_to_string(dir.join(pid_file)) {
                let _ = std::process::Command::new("kill").arg(pid.trim()).status();
            }
        }
        std::fs::remove_dir_all(&dir).expect("remove the old .sandbox");
    }
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|d| d.join("wptdeploy")))
        .filter(|p| p.exists())
        .expect("build wptdeploy first (scripts/sandbox does)");
    let s = Sandbox::start_in(&dir);
    let venv = dir.join("srv/venv");
    s.write_inventory(&[(
        "venv_path",
        &serde_json::to_string(&venv.display().to_string()).unwrap(),
    )]);
    println!(
        "sandbox \"staging\": sshd on 127.0.0.1:{}, origin {}",
        s.ssh_port, s.origin_url
    );
    println!(
        "inventory {}, releases in {}\n",
        s.inventory.display(),
        s.base_path.display()
    );

    let master = s.sha("master");
    let deploys: [(&str, Vec<&str>); 3] = [
        (
            "first deploy of master (builds the virtualenv with pip)",
            vec!["staging", "--commit", "master"],
        ),
        (
            "a branch with a slash in its name",
            vec!["staging", "--commit", "feature/comment-url"],
        ),
        (
            "back to master's commit: relinked, not rebuilt",
            vec!["staging", "--commit", &master],
        ),
    ];
    for (what, args) in deploys {
        println!("==> wptdeploy {}    # {what}", args.join(" "));
        let status = s.command(&bin).args(&args).status().expect("run wptdeploy");
        if !status.success() {
            eprintln!(
                "sandbox: the deploy failed; everything is in {}",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
        println!();
    }
    show(&s);
    if keep {
        println!(
            "\nsshd keeps running (pid in {}/sshd.pid). Try:",
            dir.display()
        );
        println!(
            "  WPTDEPLOY_INVENTORY={} WPTDEPLOY_KNOWN_HOSTS={} HOME={} {} staging --commit feature/comment-url --check",
            s.inventory.display(),
            s.known_hosts.display(),
            dir.display(),
            bin.display()
        );
        std::mem::forget(s);
    }
    ExitCode::SUCCESS
}

fn show(s: &Sandbox) {
    let site: PathBuf = s.base_path.join("site");
    println!("==> the result on the \"server\"");
    println!("releases: {}", s.releases().join(", "));
    println!(
        "site -> {}",
        std::fs::read_link(&site)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    let build = std::fs::read_to_string(site.join("wptdash/static/build.txt")).unwrap_or_default();
    println!("build.txt: {}", build.trim().replace('\n', " | "));
}
