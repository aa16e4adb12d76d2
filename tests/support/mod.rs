//! The test harness: a sandbox per test, and the real binary run against it.

pub mod ansible_tree;
pub mod cutover;
pub mod fleet;
pub mod load;
pub mod netns;
pub mod sandbox;
pub mod ssh;
pub mod terminal;

use std::path::Path;
use std::process::Output;

pub use sandbox::{Sandbox, is_root};

/// The binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_wptdeploy"))
}

/// What a run of the binary did.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Runs `command` to completion.
    pub fn from_command(command: &mut std::process::Command) -> Run {
        Run::from(command.output().expect("run wptdeploy"))
    }

    /// What a finished process left.
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success, showing the output if not.
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit code `code`.
    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that stderr contains `text`.
    #[track_caller]
    pub fn stderr_has(self, text: &str) -> Run {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// A sandbox with the default inventory.
pub fn sandbox() -> Sandbox {
    Sandbox::start()
}

/// The JSON events a `--output json` run printed.
pub fn events(run: &Run) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A YAML (JSON) string literal.
pub fn json(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

impl Sandbox {
    /// Runs `wptdeploy ARGS` against the sandbox, with plain output.
    pub fn wptdeploy(&self, args: &[&str]) -> Run {
        // Last, so that it follows any subcommand's name.
        Run::from(
            self.command(bin())
                .args(args)
                .arg("--no-progress")
                .output()
                .expect("run wptdeploy"),
        )
    }
}

pub mod postgres;

/// A sandbox whose host has a PostgreSQL database `wptdash` the app uses,
/// with `vars` on top; the database handle is returned too.
pub fn sandbox_with_database(vars: &[(&str, &str)]) -> (Sandbox, postgres::Postgres) {
    let s = sandbox();
    let pg = postgres::Postgres::start(&s.dir);
    let mut all: Vec<(String, String)> = pg.inventory_vars();
    all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    s.write_inventory(&all);
    (s, pg)
}

/// Leaves a lock on the sandbox host as a dead deploy by alice would.
pub fn stale_lock(s: &Sandbox) -> std::path::PathBuf {
    let lock = s.base_path.join(".wptdeploy-lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(
        lock.join("info"),
        "token=t\nwho=alice@laptop\ncommit=old-branch\ncommand=wptdeploy staging --commit old-branch\nstarted=1\n",
    )
    .unwrap();
    lock
}
