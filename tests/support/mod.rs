//! The test harness: a sandbox per test, and the real binary run against it.

pub mod ansible_tree;
pub mod cutover;
pub mod fleet;
pub mod load;
pub mod netns;
pub mod sandbox;
pub mod ssh;
pub mod terminal;
pub mod wheels;

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

/// A sandbox for a test whose subject is neither the building of a
/// release's environment nor the app's health: its environment store holds
/// a link to the example app's environment, which the run built once (so
/// its deploys reuse it, as a server's do once it has it), and its health
/// check proves that the release is there and its environment's Python
/// runs, without loading the app (which costs 0.5 to 3 s a deploy); the
/// load before the switch loads [`QUICK_WSGI_APP`], not the app.
pub fn sandbox() -> Sandbox {
    let mut s = Sandbox::start();
    let store = s.dir.join("environments");
    link_shared_environment(&store);
    s.defaults = vec![
        ("venvs_path".into(), json(&store.display().to_string())),
        ("healthcheck_command".into(), json(QUICK_HEALTH_CHECK)),
        ("wsgi_app".into(), json(QUICK_WSGI_APP)),
    ];
    s.write_inventory::<&str, &str>(&[]);
    s
}

/// Makes the environment store `store` with a link to the run's shared
/// environment of the example app. `prune:` leaves a link in a store alone,
/// so no test removes what the others use.
pub fn link_shared_environment(store: &Path) {
    let shared = shared_environment();
    std::fs::create_dir_all(store).unwrap();
    std::os::unix::fs::symlink(&shared, store.join(shared.file_name().unwrap())).unwrap();
}

/// A [`sandbox`] whose health check loads the app
/// ([`sandbox::APP_HEALTH_CHECK`]), as a real one does: for the tests of
/// health checks, rollback and what a failing app does.
pub fn sandbox_checking_the_app() -> Sandbox {
    let mut s = sandbox();
    s.defaults
        .retain(|(name, _)| name.as_str() != "healthcheck_command");
    s.write_inventory::<&str, &str>(&[]);
    s
}

/// A sandbox whose deploys do all a real server's do: each builds its own
/// environment, and the health check loads the app
/// ([`sandbox::APP_HEALTH_CHECK`]). For the tests of environments, of who
/// owns what, and of what a person reads of a first deploy.
pub fn faithful_sandbox() -> Sandbox {
    Sandbox::start()
}

/// [`sandbox`]'s entry point: the standard library's demo WSGI app,
/// imported from the release's environment in milliseconds.
pub const QUICK_WSGI_APP: &str = "wsgiref.simple_server:demo_app";

/// [`sandbox`]'s health check.
pub const QUICK_HEALTH_CHECK: &str = "test -f manage.py && {{ venv_path }}/bin/python -c ''";

/// The scheme of an environment's identity (`wptdeploy-venv-N` in
/// src/steps/virtualenv.rs): an environment built under another has
/// another name, so the shared one is rebuilt when the scheme changes.
const ENVIRONMENT_IDENTITY: &str = "venv-2";

/// The example app's environment, built once per run by a real deploy
/// (so its name is the one a deploy computes, and it lives where it was
/// built: a virtualenv cannot be moved), its bytecode compiled.
fn shared_environment() -> std::path::PathBuf {
    let digest = sandbox::digest_of(&[&sandbox::example_app()]);
    let made = sandbox::built_once(
        &format!("environment-{ENVIRONMENT_IDENTITY}-{digest:016x}"),
        |dir| {
            let s = Sandbox::start();
            s.write_inventory(&[("venvs_path", json(&dir.display().to_string()))]);
            s.wptdeploy(&["staging", "--commit", "master"]).success();
            let env = std::fs::read_link(s.base_path.join("site/.venv")).unwrap();
            sandbox::run(
                std::process::Command::new(env.join("bin/python"))
                    .args(["-m", "compileall", "-q"])
                    .arg(env.join("lib")),
            );
            sandbox::run(
                std::process::Command::new("chmod")
                    .args(["-R", "a+rX"])
                    .arg(dir),
            );
        },
    );
    let mut built = std::fs::read_dir(&made)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir());
    let env = built.next().expect("the shared environment was built");
    assert!(
        built.next().is_none(),
        "one environment in {}",
        made.display()
    );
    env
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

/// A [`sandbox`] whose host has a PostgreSQL database `wptdash` the app
/// uses, with `vars` on top; the database handle is returned too.
pub fn sandbox_with_database(vars: &[(&str, &str)]) -> (Sandbox, postgres::Postgres) {
    with_database(sandbox(), vars)
}

/// A [`sandbox_with_database`] whose database is as a first `master
/// --migrate` deploy leaves it (the example app's schema at master's
/// head): a copy of one that such a deploy migrated once per run. For the
/// tests whose first deploy is only the way to a migrated database; the
/// tests of a first upgrade start from [`sandbox_with_database`].
pub fn sandbox_with_migrated_database(vars: &[(&str, &str)]) -> (Sandbox, postgres::Postgres) {
    with_migrated_database(sandbox(), vars)
}

/// `s` with a database as [`sandbox_with_migrated_database`]'s.
pub fn with_migrated_database(s: Sandbox, vars: &[(&str, &str)]) -> (Sandbox, postgres::Postgres) {
    let pg = postgres::Postgres::start_copy(&s.dir, &migrated_cluster());
    with_cluster(s, pg, vars)
}

/// The data directory of a cluster that a real `master --migrate` deploy
/// of the example app upgraded, made once per run.
fn migrated_cluster() -> std::path::PathBuf {
    let digest = sandbox::digest_of(&[
        &sandbox::example_app(),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    ]);
    let name = postgres::cluster_name(&format!("migrated-{digest:016x}"));
    sandbox::built_once(&name, |dir| {
        let (s, pg) = sandbox_with_database(&[]);
        s.wptdeploy(&["staging", "--commit", "master", "--migrate"])
            .success();
        assert!(pg.revision().is_some(), "the deploy migrated the database");
        pg.shut_down();
        sandbox::run(
            std::process::Command::new("cp")
                .arg("-a")
                .arg(pg.data_dir())
                .arg(dir.join("data")),
        );
    })
    .join("data")
}

/// [`sandbox_with_database`] on a [`sandbox_checking_the_app`].
pub fn sandbox_checking_the_app_with_database(
    vars: &[(&str, &str)],
) -> (Sandbox, postgres::Postgres) {
    with_database(sandbox_checking_the_app(), vars)
}

fn with_database(s: Sandbox, vars: &[(&str, &str)]) -> (Sandbox, postgres::Postgres) {
    let pg = postgres::Postgres::start(&s.dir);
    with_cluster(s, pg, vars)
}

fn with_cluster(
    s: Sandbox,
    pg: postgres::Postgres,
    vars: &[(&str, &str)],
) -> (Sandbox, postgres::Postgres) {
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
