//! A throwaway PostgreSQL cluster for one sandbox: `initdb`, started on a
//! Unix socket in the sandbox (no TCP port, so clusters never collide).
//! As root the cluster runs as the `postgres` user, as on a server.

#![allow(dead_code)] // The sandbox example uses only part of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running cluster; dropping it stops it.
pub struct Postgres {
    data: PathBuf,
    /// The socket directory (libpq's `host`).
    pub socket_dir: PathBuf,
    /// The port that names the socket file.
    pub port: u16,
    bin: PathBuf,
    owner: Option<&'static str>,
}

/// The newest installed PostgreSQL's `bin` directory.
pub fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().expect("PostgreSQL is not installed: run `scripts/test` (it installs it) or `apt-get install postgresql`")
}

fn as_owner(owner: Option<&str>, program: &Path) -> Command {
    match owner {
        Some(user) => {
            let mut cmd = Command::new("sudo");
            cmd.args(["-n", "-u", user, "--"]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

fn check(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    /// Starts a cluster under `dir` with a database `wptdash`: a copy of
    /// the run's template cluster, made once by `initdb`.
    pub fn start(dir: &Path) -> Postgres {
        let bin = bin_dir();
        let owner = owner();
        Postgres::start_copy(dir, &template(&bin, owner).join("data"))
    }

    /// Starts a cluster under `dir`, a copy of the stopped cluster `from`
    /// (a data directory, as [`Postgres::start`]'s owner owns it).
    pub fn start_copy(dir: &Path, from: &Path) -> Postgres {
        let bin = bin_dir();
        let owner = owner();
        let data = dir.join("pg/data");
        let socket_dir = dir.join("pg/socket");
        let log = dir.join("pg/log");
        for d in [&socket_dir, &log] {
            std::fs::create_dir_all(d).unwrap();
        }
        check(Command::new("cp").arg("-a").arg(from).arg(&data));
        if let Some(user) = owner {
            check(Command::new("chown").args(["-R", user]).arg(dir.join("pg")));
        }
        let pg = Postgres {
            data,
            socket_dir,
            port: 5432,
            bin,
            owner,
        };
        pg.start_again();
        pg
    }

    /// Stops the server at once (`immediate`: as a crash would).
    pub fn stop(&self) {
        check(
            as_owner(self.owner, &self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"]),
        );
    }

    /// Stops the server cleanly (`fast`: a checkpoint, no recovery at the
    /// next start), to be copied.
    pub fn shut_down(&self) {
        check(
            as_owner(self.owner, &self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "stop"]),
        );
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Starts the stopped server again.
    pub fn start_again(&self) {
        self.start_again_logging_to(&self.data.parent().unwrap().join("log/postgres.log"));
    }

    fn start_again_logging_to(&self, log: &Path) {
        let options = format!(
            "-p {} -k {} -c listen_addresses='' -c fsync=off",
            self.port,
            self.socket_dir.display()
        );
        check(
            as_owner(self.owner, &self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(log)
                .args(["-w", "-o", &options, "start"]),
        );
    }

    /// Runs SQL in the `wptdash` database (or `postgres` to create it) and returns the output.
    pub fn psql(&self, sql: &str) -> String {
        let database = if sql.starts_with("CREATE DATABASE") {
            "postgres"
        } else {
            "wptdash"
        };
        self.psql_in(database, sql)
    }

    /// Runs SQL in `database` as `postgres` and returns the output.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.socket_dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A session that locks `table` (ACCESS SHARE, as a long read does:
    /// enough to keep an `ALTER TABLE` waiting) for `seconds`, holding the
    /// lock when this returns; its server session is ended when the holder
    /// is dropped.
    pub fn hold_lock(&self, table: &str, seconds: u32) -> LockHolder<'_> {
        let child = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", "wptdash", "-c"])
            .arg(format!(
                "BEGIN; LOCK TABLE {table} IN ACCESS SHARE MODE; SELECT pg_sleep({seconds}); COMMIT;"
            ))
            .env("PGAPPNAME", HOLDER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run psql");
        let holder = LockHolder { pg: self, child };
        let held = format!(
            "SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass AND granted AND pid <> pg_backend_pid()"
        );
        for _ in 0..100 {
            if self.psql(&held).trim() != "0" {
                return holder;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        drop(holder);
        panic!("the session never held its lock on {table}");
    }

    /// The database's alembic revision, if any.
    pub fn revision(&self) -> Option<String> {
        let exists = self.psql("SELECT to_regclass('alembic_version') IS NOT NULL");
        (exists.trim() == "t").then(|| {
            self.psql("SELECT version_num FROM alembic_version")
                .trim()
                .to_owned()
        })
    }

    /// `name type` lines for a table's columns.
    pub fn columns(&self, table: &str) -> Vec<String> {
        self.psql(&format!(
            "SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"
        ))
        .lines()
        .map(str::to_owned)
        .collect()
    }
}

/// Who runs the clusters: `postgres` as root, as on a server; else this user.
fn owner() -> Option<&'static str> {
    super::sandbox::is_root().then_some("postgres")
}

/// The name of the run's clusters made once (`what` says which), by this
/// PostgreSQL version and owner.
pub fn cluster_name(what: &str) -> String {
    format!(
        "postgresql-{}-{}-{what}",
        bin_dir()
            .parent()
            .and_then(|v| v.file_name())
            .map_or_else(String::new, |v| v.to_string_lossy().into_owned()),
        owner().unwrap_or("self")
    )
}

/// A cluster made by `initdb` (as `owner`) once per test run, with an
/// empty database `wptdash`, stopped cleanly: each test's cluster is a copy.
fn template(bin: &Path, owner: Option<&'static str>) -> PathBuf {
    super::sandbox::built_once(&cluster_name("wal1"), |dir| {
        // The socket's path must stay short (about 100 bytes at most).
        let socket = tempfile::Builder::new()
            .prefix("wptdeploy-pg-")
            .tempdir()
            .unwrap();
        if let Some(user) = owner {
            check(
                Command::new("chown")
                    .args([user])
                    .arg(dir)
                    .arg(socket.path()),
            );
        }
        let data = dir.join("data");
        check(
            as_owner(owner, &bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                // 1 MB WAL segments, not 16: each test copies the cluster.
                .args([
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--wal-segsize=1",
                ]),
        );
        let pg = Postgres {
            data,
            socket_dir: socket.path().to_owned(),
            port: 5432,
            bin: bin.to_owned(),
            owner,
        };
        pg.start_again_logging_to(&dir.join("postgres.log"));
        pg.psql("CREATE DATABASE wptdash");
        pg.shut_down();
        std::mem::forget(pg);
    })
}

/// `application_name` of the sessions [`Postgres::hold_lock`] starts.
const HOLDER: &str = "wptdeploy-test-lock-holder";

/// A session holding a lock (see [`Postgres::hold_lock`]).
pub struct LockHolder<'a> {
    pg: &'a Postgres,
    child: std::process::Child,
}

impl LockHolder<'_> {
    /// Waits until the session has let go by itself.
    pub fn wait(mut self) {
        let _ = self.child.wait();
    }
}

impl Drop for LockHolder<'_> {
    fn drop(&mut self) {
        // Ending the psql client alone leaves its server session sleeping.
        self.pg.psql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{HOLDER}'"
        ));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_owner(self.owner, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Postgres {
    /// The inventory variables (YAML values) that point wptdeploy and the
    /// app at this cluster. As root, the tools run as `postgres` (wptdeploy
    /// becomes it, as on a server); otherwise as this user, connecting as
    /// the `postgres` role.
    pub fn inventory_vars(&self) -> Vec<(String, String)> {
        let socket = self.socket_dir.display().to_string();
        let root = self.owner.is_some();
        let tool = |name: &str| {
            let bin = self.bin.join(name).display().to_string();
            if root {
                format!("{bin} -h {socket} -p {}", self.port)
            } else {
                format!("{bin} -h {socket} -p {} -U postgres", self.port)
            }
        };
        let json = |v: &str| serde_json::to_string(v).unwrap();
        vec![
            ("db_user".into(), json("postgres")),
            ("db_host".into(), json(&socket)),
            ("db_port".into(), self.port.to_string()),
            ("psql_command".into(), json(&tool("psql"))),
            ("pg_dump_command".into(), json(&tool("pg_dump"))),
            ("pg_restore_command".into(), json(&tool("pg_restore"))),
            (
                "db_superuser".into(),
                json(if root { "postgres" } else { "" }),
            ),
            ("check_pending_migrations".into(), "true".into()),
        ]
    }
}
