//! A local stand-in for a server: a real OpenSSH sshd on a free loopback
//! port with throwaway keys, a `git daemon` serving the example app's
//! repository (as a network remote would), and a directory for releases.
//!
//! Shared by the test suite and the sandbox (`scripts/sandbox`), so the
//! demo and the proof run against the same thing.

#![allow(dead_code)] // Each user of this file needs a different part of it.

use std::hash::RandomState;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running sandbox. Dropping it stops sshd and the git daemon.
pub struct Sandbox {
    /// Everything lives here.
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    sshd: Child,
    git_daemon: Child,
    /// sshd's port on 127.0.0.1.
    pub ssh_port: u16,
    /// The bare origin repository.
    pub origin: PathBuf,
    /// `git://127.0.0.1:PORT/origin.git`.
    pub origin_url: String,
    /// The login user (this process's user).
    pub user: String,
    /// The client's private key.
    pub key: PathBuf,
    /// known_hosts holding the sandbox host's key.
    pub known_hosts: PathBuf,
    /// Where releases go.
    pub base_path: PathBuf,
    /// The inventory directory (`staging` inside it).
    pub inventory: PathBuf,
    /// Variables over the sandbox's defaults, under each test's own
    /// (what [`Sandbox::write_inventory`] writes every time).
    pub defaults: Vec<(String, String)>,
}

/// Runs `cmd` to completion; panics with its output if it fails; its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git -C DIR ARGS` (commits by the tests' own identity); panics if it fails; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    run(Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=wptdeploy tests",
            "-c",
            "user.email=tests@wptdeploy.invalid",
        ])
        .args(args))
}

/// Starts an sshd listening on `address` (a free port), its files in
/// `dir`, with the host key and authorized_keys of the sandbox in `keys`.
/// Returns it and its port once it says it is listening.
/// A port taken between the check and sshd's bind (another test's server)
/// means another port, a few times.
pub fn start_sshd(dir: &Path, address: &str, keys: &Path) -> (Child, u16) {
    let mut attempts = 0;
    loop {
        let port = free_port_on(address);
        match try_start_sshd(dir, address, port, keys, &[]) {
            Ok(sshd) => return (sshd, port),
            Err(e) if e.contains("Address already in use") && attempts < 5 => attempts += 1,
            Err(e) => panic!("{e}"),
        }
    }
}

/// [`start_sshd`] on a given port, run through `wrapper` (e.g. `ip netns exec NS`).
pub fn start_sshd_with(
    dir: &Path,
    address: &str,
    port: u16,
    keys: &Path,
    wrapper: &[&str],
) -> Child {
    try_start_sshd(dir, address, port, keys, wrapper).unwrap_or_else(|e| panic!("{e}"))
}

/// [`start_sshd_with`], saying why sshd did not start instead of panicking.
fn try_start_sshd(
    dir: &Path,
    address: &str,
    port: u16,
    keys: &Path,
    wrapper: &[&str],
) -> Result<Child, String> {
    let sshd_bin = Path::new("/usr/sbin/sshd");
    assert!(
        sshd_bin.exists(),
        "OpenSSH's sshd is not installed: run `scripts/test` (it installs it) or `apt-get install openssh-server`"
    );
    std::fs::create_dir_all(dir).unwrap();
    let config = format!(
        "Port {port}\nListenAddress {address}\nHostKey {keys}/host_ed25519\nPidFile {dir}/sshd.pid\n\
         AuthorizedKeysFile {keys}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n\
         MaxStartups 100:30:200\nKexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n\
         SetEnv SHLVL=1{offline}\n",
        dir = dir.display(),
        keys = keys.display(),
        // curve25519: the key exchange russh makes, for the system ssh too;
        // OpenSSH's default post-quantum one costs about 100 ms of CPU on
        // each side of every connection, thousands of them in a run.
        // SHLVL=1: bash then reads no ~/.bashrc for a command over ssh.
        // The login user is this machine's (root in CI), whose .bashrc
        // (pyenv's init on the CI machines) costs 0.19 s of CPU a login
        // and is no part of a host wptdeploy is tested against.
        // A host in a network namespace has no internet: it installs from
        // uv's (shared, warm) cache, as a real one would from a local index.
        offline = if wrapper.is_empty() {
            ""
        } else {
            " UV_OFFLINE=1"
        },
    );
    std::fs::write(dir.join("sshd_config"), config).unwrap();
    if is_root() {
        std::fs::create_dir_all("/run/sshd").unwrap();
    }
    let log = dir.join("sshd.log");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(sshd_bin);
            c
        }
        None => Command::new(sshd_bin),
    };
    let mut sshd = command
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .process_group(0)
        .spawn()
        .expect("start sshd");
    wait_for_log(
        &mut sshd,
        &format!("Server listening on {address} port {port}"),
        "sshd",
        &log,
    )?;
    Ok(sshd)
}

/// The known_hosts line for the sandbox host key (in `keys`) at `address:port`.
pub fn known_hosts_line(keys: &Path, address: &str, port: u16) -> String {
    let host_key = std::fs::read_to_string(keys.join("host_ed25519.pub")).unwrap();
    let key_fields: Vec<&str> = host_key.split_whitespace().take(2).collect();
    format!("[{address}]:{port} {}\n", key_fields.join(" "))
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A random port below the kernel's ephemeral range: one from that range
/// (what binding port 0 gives) can become an outgoing connection's source
/// port between this check and the server's bind, and the suite's tests
/// make thousands of connections at once.
fn free_port_on(address: &str) -> u16 {
    const LOWEST: u64 = 10_000;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(32_768);
    let span = ephemeral.max(LOWEST + 1_000) - LOWEST;
    for attempt in 0..1_000_u32 {
        // A new RandomState has new random keys: a fresh pick each time.
        let pick = std::hash::BuildHasher::hash_one(&RandomState::new(), attempt);
        let port = u16::try_from(LOWEST + pick % span).expect("below 65536");
        if TcpListener::bind((address, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {address} below {ephemeral} in 1,000 tries")
}

/// Waits until `child` writes `ready` to its log: readiness from the server
/// itself, not from a connection that another sandbox's server on a
/// colliding port could have answered.
fn wait_for_log(child: &mut Child, ready: &str, what: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(ready) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited ({status}) before it was ready: {text}"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    Err(format!(
        "{what} was not ready within 10s: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    ))
}

/// Where sandboxes live: in memory (`/dev/shm`) when the machine has it.
/// A sandbox makes thousands of files (clones, environments, a PostgreSQL
/// cluster's 1,271), and on the CI machines' ext4 each costs about 1 ms of
/// kernel time: copying the cluster takes 1.24 s there, 0.17 s in memory.
pub fn scratch() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let writable =
        std::fs::metadata(shm).is_ok_and(|m| m.is_dir()) && tempfile::tempdir_in(shm).is_ok();
    if writable {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// The release `base_path/site` points at, if any.
pub fn live_release_in(base_path: &Path) -> Option<String> {
    std::fs::read_link(base_path.join("site"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// Stops a server and everything it forked (its process group).
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("--")
        .arg(format!("-{}", child.id()))
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The current user's name.
pub fn current_user() -> String {
    run(Command::new("id").arg("-un")).trim().to_owned()
}

/// Makes an ed25519 key pair at `path` and `path.pub`.
pub fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "wptdeploy-sandbox",
            "-f",
        ])
        .arg(path));
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    run(Command::new("id").arg("-u")).trim() == "0"
}

/// A login user whose sudo asks for a password (created once; needs root).
/// Returns its name and password.
pub fn password_sudo_user() -> (&'static str, &'static str) {
    const USER: &str = "wptd-sudo-pw";
    const PASSWORD: &str = "Correct-Horse-7";
    assert!(
        is_root(),
        "this test creates a user and a sudoers rule, so it needs root (CI runs as root); run `scripts/test` as root"
    );
    if !Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        run(Command::new("useradd").args(["-m", "-s", "/bin/sh", USER]));
    }
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("echo '{USER}:{PASSWORD}' | chpasswd")));
    let rule = format!("{USER} ALL=(ALL:ALL) ALL\n");
    let path = Path::new("/etc/sudoers.d/wptdeploy-tests");
    if std::fs::read_to_string(path).ok().as_deref() != Some(rule.as_str()) {
        std::fs::write(path, rule).unwrap();
        run(Command::new("chmod").arg("0440").arg(path));
        run(Command::new("visudo").arg("-cf").arg(path));
    }
    (USER, PASSWORD)
}

/// The example app's source.
pub fn example_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl Sandbox {
    /// Starts a sandbox in a fresh temporary directory.
    pub fn start() -> Sandbox {
        let tmp = tempfile::Builder::new()
            .prefix("wptdeploy-sandbox-")
            .tempdir_in(scratch())
            .unwrap();
        let dir = tmp.path().to_owned();
        let mut sandbox = Sandbox::start_in(&dir);
        sandbox._tmp = Some(tmp);
        sandbox
    }

    /// Starts a sandbox in `dir` (which is kept).
    pub fn start_in(dir: &Path) -> Sandbox {
        std::fs::create_dir_all(dir).unwrap();
        // Other users (become tests, a root sshd reading authorized_keys as the user) must get in.
        run(Command::new("chmod").arg("755").arg(dir));
        let user = current_user();
        // The keys, the origin and the work tree that made it: copied from
        // the run's template, each sandbox then changing its own copy.
        run(Command::new("cp")
            .arg("-a")
            .arg(template().join("."))
            .arg(dir));
        let (sshd, ssh_port) = start_sshd(dir, "127.0.0.1", dir);
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, known_hosts_line(dir, "127.0.0.1", ssh_port)).unwrap();

        let origin = dir.join("git/origin.git");
        let git_port = free_port();
        let git_log = dir.join("git-daemon.log");
        // `git daemon` would fork `git-daemon` and leave it behind when killed.
        let exec_path = run(Command::new("git").arg("--exec-path"));
        let mut git_daemon = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .args([
                "--verbose",
                "--timeout=120",
                "--init-timeout=10",
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={git_port}"))
            .arg(format!(
                "--pid-file={}",
                dir.join("git-daemon.pid").display()
            ))
            .arg(format!("--base-path={}", dir.join("git").display()))
            .arg(dir.join("git"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&git_log).unwrap())
            .process_group(0)
            .spawn()
            .expect("start git daemon");
        wait_for_log(&mut git_daemon, "Ready to rumble", "git daemon", &git_log)
            .unwrap_or_else(|e| panic!("{e}"));

        let sandbox = Sandbox {
            dir: dir.to_owned(),
            _tmp: None,
            sshd,
            git_daemon,
            ssh_port,
            origin,
            origin_url: format!("git://127.0.0.1:{git_port}/origin.git"),
            user,
            key: dir.join("client_key"),
            known_hosts,
            base_path: dir.join("srv/wptdash"),
            inventory: dir.join("inventory"),
            defaults: Vec::new(),
        };
        sandbox.write_inventory::<&str, &str>(&[]);
        sandbox
    }

    /// The full SHA of a branch or tag of the origin.
    pub fn sha(&self, reference: &str) -> String {
        git(
            &self.origin,
            &["rev-parse", &format!("{reference}^{{commit}}")],
        )
        .trim()
        .to_owned()
    }

    /// Adds a branch with one more commit on top of master; returns its SHA.
    pub fn new_branch(&self, name: &str) -> String {
        self.branch_with(name, &format!("{name}.txt"), name)
    }

    /// Adds a branch whose one commit on top of master writes `file`
    /// (relative to the repository) with `text`; returns its SHA.
    pub fn branch_with(&self, name: &str, file: &str, text: &str) -> String {
        self.branch_with_files(name, &[(file, text)])
    }

    /// A branch `name` off master with `files` (`(path, text)`) written,
    /// pushed to the origin; its SHA.
    pub fn branch_with_files(&self, name: &str, files: &[(&str, &str)]) -> String {
        let work = self.dir.join("work");
        git(&work, &["checkout", "-q", "-B", name, "master"]);
        for (file, text) in files {
            let path = work.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", name]);
        run(Command::new("git")
            .arg("-C")
            .arg(&work)
            .args(["push", "-q", "--force"])
            .arg(&self.origin)
            .arg(format!("{name}:{name}")));
        self.sha(name)
    }

    /// Writes `inventory/staging`: this host, logging in as `user` with `key`.
    pub fn write_host(&self, user: &str, key: &Path) {
        std::fs::write(
            self.inventory.join("staging"),
            format!(
                "[staging]\nsandbox-host ansible_host=127.0.0.1 ansible_port={} ansible_user={user} ansible_ssh_private_key_file={}\n",
                self.ssh_port,
                key.display()
            ),
        )
        .unwrap();
    }

    /// Writes `inventory/staging` for this host, and `group_vars/all.yml`
    /// with the sandbox defaults, overridden by `vars` (YAML values).
    pub fn write_inventory<K: AsRef<str>, V: AsRef<str>>(&self, vars: &[(K, V)]) {
        std::fs::create_dir_all(self.inventory.join("group_vars")).unwrap();
        self.write_host(&self.user, &self.key);
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut defaults: Vec<(String, String)> = vec![
            ("project_name".into(), q("wptdash")),
            ("git_repo".into(), q(&self.origin_url)),
            ("base_path".into(), q(&self.base_path.display().to_string())),
            // Root's state on this "host" is the sandbox's own.
            (
                "root_state_path".into(),
                q(&self.dir.join("root-state").display().to_string()),
            ),
            ("app_user".into(), q(&self.user)),
            ("env".into(), q("staging")),
            ("build_info_path".into(), q("wptdash/static/build.txt")),
            ("restart_command".into(), q("")),
            // The example app reads its database from config.txt (the
            // built-in template, as wptdash's).
            ("config_path".into(), q("config.txt")),
            ("healthcheck_command".into(), q(APP_HEALTH_CHECK)),
            ("db_password".into(), q("sandbox-db-secret")),
            ("python".into(), q(SYSTEM_PYTHON)),
            // uv, installed once for every test, and its cache (the
            // virtualenvs hard-link from it): a release's environment
            // builds in about a second.
            ("tools_path".into(), q(&shared_uv().display().to_string())),
            (
                "uv_cache_path".into(),
                q(&shared_uv_cache().display().to_string()),
            ),
            // This host has no database (`sandbox_with_database` has one).
            ("check_pending_migrations".into(), "false".into()),
        ];
        let own = self.defaults.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let given = vars.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
        for (key, value) in own.chain(given) {
            defaults.retain(|(k, _)| k != key);
            defaults.push((key.to_owned(), value.to_owned()));
        }
        let text: String = defaults
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect();
        std::fs::write(self.inventory.join("group_vars/all.yml"), text).unwrap();
    }

    /// A `wptdeploy` command pointed at this sandbox, run from its directory
    /// (so the built-in playbooks apply) with no ssh-agent.
    pub fn command(&self, bin: &Path) -> Command {
        let mut cmd = Command::new(bin);
        cmd.current_dir(&self.dir)
            .env_remove("SSH_AUTH_SOCK")
            .env("HOME", &self.dir)
            .env("WPTDEPLOY_INVENTORY", &self.inventory)
            .env("WPTDEPLOY_KNOWN_HOSTS", &self.known_hosts);
        cmd
    }

    /// The pid of the host's sshd (the listener; sessions are its children).
    pub fn sshd_pid(&self) -> u32 {
        self.sshd.id()
    }

    /// Kills the host's sshd and every session it runs (its process
    /// group), the way a crashed or OOM-killed sshd drops every connection.
    pub fn kill_sshd(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.sshd.id())])
            .status();
        let _ = self.sshd.wait();
    }

    /// Starts the host's sshd again, on the same port.
    pub fn restart_sshd(&mut self) {
        stop(&mut self.sshd);
        self.sshd = start_sshd_with(&self.dir, "127.0.0.1", self.ssh_port, &self.dir, &[]);
    }

    /// The release the `site` symlink points at, if any.
    pub fn live_release(&self) -> Option<String> {
        live_release_in(&self.base_path)
    }

    /// The release directories (40-hex names) under `base_path`, sorted.
    pub fn releases(&self) -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(&self.base_path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.len() == 40 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        stop(&mut self.sshd);
        stop(&mut self.git_daemon);
    }
}

/// What every sandbox starts from, made once per test run (and kept in
/// target/ while what it is made of is unchanged): the host key, the
/// client's key pair and `authorized_keys`, and the origin with its
/// branches (`git/origin.git`) and the work tree that made them (`work`).
fn template() -> PathBuf {
    let digest = digest_of(&[
        &example_app(),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    ]);
    built_once(&format!("sandbox-{digest:016x}"), |dir| {
        for name in ["host_ed25519", "client_key"] {
            keygen(&dir.join(name));
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        run(Command::new("chmod")
            .arg("644")
            .arg(dir.join("authorized_keys")));
        build_origin(dir);
    })
}

/// A digest of the files under `dirs` (names and contents, `__pycache__`
/// aside) and of this harness's own source, which says what is made of them.
pub fn digest_of(dirs: &[&Path]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    fn walk(path: &Path, hasher: &mut std::hash::DefaultHasher) {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for entry in entries {
            if entry.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            entry.hash(hasher);
            if entry.is_dir() {
                walk(&entry, hasher);
            } else {
                std::fs::read(&entry).unwrap_or_default().hash(hasher);
            }
        }
    }
    let mut hasher = std::hash::DefaultHasher::new();
    include_str!("sandbox.rs").hash(&mut hasher);
    for dir in dirs {
        walk(dir, &mut hasher);
    }
    hasher.finish()
}

/// `target/wptdeploy-fixtures/NAME`, made by `build` (in place) the first
/// time any test process of any run asks for it, and kept: the next asker
/// waits for the one building it. A build that failed or was killed left
/// no `.complete` marker and is made again from nothing.
pub fn built_once(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let root = target_dir().join("wptdeploy-fixtures");
    let dir = root.join(name);
    let complete = root.join(format!("{name}.complete"));
    if complete.exists() {
        return dir;
    }
    std::fs::create_dir_all(&root).unwrap();
    // An flock is let go of however its holder ends, so none is ever stale.
    let lock = std::fs::File::create(root.join(format!("{name}.lock"))).unwrap();
    lock.lock().unwrap();
    if !complete.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Others (become tests, PostgreSQL's own user) read what is made here.
        run(Command::new("chmod").arg("755").arg(&dir));
        build(&dir);
        std::fs::write(&complete, "").unwrap();
    }
    dir
}

/// Builds `git/origin.git` from the example app, with a branch per scenario.
fn build_origin(dir: &Path) -> PathBuf {
    let work = dir.join("work");
    copy_tree(&example_app(), &work);
    git(&work, &["init", "-q", "-b", "master"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "The example app"]);
    git(&work, &["tag", "v1.0"]);

    git(&work, &["checkout", "-q", "-b", "feature/comment-url"]);
    let models = work.join("wptdash/models.py");
    let text = std::fs::read_to_string(&models).unwrap();
    std::fs::write(
        &models,
        text.replace(
            "    repository_id = db.Column",
            "    comment_url = db.Column(db.Text)\n    repository_id = db.Column",
        ),
    )
    .unwrap();
    git(
        &work,
        &["commit", "-q", "-am", "Add pull_request.comment_url"],
    );

    git(&work, &["checkout", "-q", "-b", "broken-build", "master"]);
    git(&work, &["rm", "-q", "requirements.txt"]);
    git(&work, &["commit", "-q", "-m", "Lose the requirements file"]);

    git(&work, &["checkout", "-q", "-b", "broken-app", "master"]);
    std::fs::write(
        work.join("manage.py"),
        "import sys\nsys.exit('broken on purpose')\n",
    )
    .unwrap();
    git(&work, &["commit", "-q", "-am", "Break the app"]);

    // Migration scenarios, on top of `feature/comment-url`'s model change.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/4dafe3eac60e_add_comment_url.py");
    let versions = work.join("migrations/versions");
    git(
        &work,
        &[
            "checkout",
            "-q",
            "-b",
            "feature/with-migration",
            "feature/comment-url",
        ],
    );
    std::fs::copy(&fixture, versions.join("4dafe3eac60e_add_comment_url.py")).unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "commit",
            "-q",
            "-m",
            "Migration: add pull_request.comment_url",
        ],
    );

    git(&work, &["checkout", "-q", "-b", "two-heads", "master"]);
    for (rev, column) in [("aaaa00000001", "one"), ("bbbb00000002", "two")] {
        std::fs::write(
            versions.join(format!("{rev}_{column}.py")),
            migration(
                rev,
                &format!("op.add_column('pull_request', sa.Column('{column}', sa.Text()))"),
            ),
        )
        .unwrap();
    }
    git(&work, &["add", "-A"]);
    git(
        &work,
        &["commit", "-q", "-m", "Two migrations from the same parent"],
    );

    git(
        &work,
        &["checkout", "-q", "-b", "broken-migration", "master"],
    );
    std::fs::write(
        versions.join("cccc00000003_broken.py"),
        migration("cccc00000003", "op.add_column('pull_request', sa.Column('half', sa.Text()))\n    op.execute('SELECT 1/0')"),
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &["commit", "-q", "-m", "A migration that fails halfway"],
    );

    git(&work, &["checkout", "-q", "-b", "rename-title", "master"]);
    let text = std::fs::read_to_string(&models).unwrap();
    std::fs::write(
        &models,
        text.replace(
            "    title = db.Column(db.Text)",
            "    headline = db.Column(db.Text)",
        ),
    )
    .unwrap();
    git(
        &work,
        &[
            "commit",
            "-q",
            "-am",
            "Rename pull_request.title to headline",
        ],
    );

    // wptdash's shape: a setup.py and no requirements file; `pip install
    // RELEASE` installs it (and its install_requires) into the virtualenv.
    git(&work, &["checkout", "-q", "-b", "packaged", "master"]);
    let requirements = std::fs::read_to_string(work.join("requirements.txt")).unwrap();
    let install_requires: Vec<String> = requirements
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("        {l:?},"))
        .collect();
    std::fs::write(
        work.join("setup.py"),
        format!(
            "from setuptools import setup, find_packages\n\nsetup(\n    name='wptdash-example',\n    version='1.0',\n    packages=find_packages(include=['wptdash', 'wptdash.*']),\n    include_package_data=True,\n    install_requires=[\n{}\n    ],\n)\n",
            install_requires.join("\n")
        ),
    )
    .unwrap();
    git(&work, &["rm", "-q", "requirements.txt"]);
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "commit",
            "-q",
            "-m",
            "Package the app with setup.py, as wptdash does",
        ],
    );

    let origin = dir.join("git/origin.git");
    std::fs::create_dir_all(dir.join("git")).unwrap();
    run(Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&work)
        .arg(&origin));
    git(&origin, &["update-server-info"]);
    origin
}

/// The health check that loads the app (Flask, its models, the database
/// settings): what a real one does, 0.5 to 3 s a time.
pub const APP_HEALTH_CHECK: &str = "{{ venv_path }}/bin/python manage.py routes";

/// The Python every user on the machine can run.
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// A migration file on top of the example app's first revision.
fn migration(revision: &str, upgrade: &str) -> String {
    format!(
        "\"\"\"{revision}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = '{revision}'\ndown_revision = '735093c03092'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    pass\n"
    )
}

/// A virtualenv with the example app's requirements, built once and reused
/// (the deploy's `pip` step sees its stamp and skips the install).
pub fn shared_venv() -> PathBuf {
    let requirements = example_app().join("requirements.txt");
    let digest = run(Command::new("sh")
        .arg("-c")
        .arg("sha256sum < \"$1\" | cut -d ' ' -f 1")
        .arg("sh")
        .arg(&requirements));
    let digest = digest.trim();
    let requirements = requirements.display().to_string();
    cached_venv(
        &format!("venv-{}", &digest[..12]),
        digest,
        &["-r", &requirements],
    )
}

/// A tools directory with uv in `bin/`, as `tools_path` names it.
pub fn shared_uv() -> PathBuf {
    cached_venv("uv", "uv", &["uv"])
}

/// uv's cache, shared by the tests that run as this user.
pub fn shared_uv_cache() -> PathBuf {
    target_dir().join("wptdeploy-uv-cache")
}

/// Cargo's target directory, where the tests keep what they build once.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

/// ansible-core's `ansible-vault`, installed once into a throwaway
/// virtualenv under target/, to make the vaults the tests open.
pub fn ansible_vault() -> PathBuf {
    const ANSIBLE: &str = "ansible-core~=2.19.0";
    cached_venv("ansible-2.19", ANSIBLE, &[ANSIBLE]).join("bin/ansible-vault")
}

/// What is wrong with each line of `json_lines` against the JSON Schema
/// `schema`, in words (empty when every line is valid), as the reference
/// implementation (Python's `jsonschema`, installed once under target/)
/// sees it.
pub fn schema_problems(schema: &Path, json_lines: &str) -> String {
    const JSONSCHEMA: &str = "jsonschema>=4.18,<5";
    let venv = cached_venv("jsonschema-4", JSONSCHEMA, &[JSONSCHEMA]);
    let lines = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(lines.path(), json_lines).unwrap();
    run(Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             check = jsonschema.Draft202012Validator(schema)\n\
             for number, line in enumerate(open(sys.argv[2]), 1):\n\
             \x20   for e in check.iter_errors(json.loads(line)):\n\
             \x20       print(f'line {number}: {e.message} at /{\"/\".join(map(str, e.absolute_path))}: {line.strip()}')\n",
        )
        .arg(schema)
        .arg(lines.path()))
}

/// `target/wptdeploy-NAME`: a virtualenv of Debian's Python with `install`
/// (pip's arguments), built once across test processes; its stamp (the
/// deploy's pip stamp, `stamp` as its text) is written last.
fn cached_venv(name: &str, stamp_text: &str, install: &[&str]) -> PathBuf {
    let target = target_dir();
    let venv = target.join(format!("wptdeploy-{name}"));
    let stamp = venv.join(".wptdeploy-requirements");
    if stamp.exists() {
        return venv;
    }
    // One builder at a time, across test processes.
    let lock = target.join(format!("wptdeploy-{name}.lock"));
    std::fs::create_dir_all(&target).unwrap();
    let deadline = Instant::now() + Duration::from_secs(900);
    struct Unlock(PathBuf);
    impl Drop for Unlock {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    while std::fs::create_dir(&lock).is_err() {
        if stamp.exists() {
            return venv;
        }
        assert!(
            Instant::now() < deadline,
            "waited 15 minutes for {}",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _unlock = Unlock(lock);
    if !stamp.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        // Debian's python, not a per-user one: other users (become) must run it.
        run(Command::new(SYSTEM_PYTHON).args(["-m", "venv"]).arg(&venv));
        run(Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .args(install));
        run(Command::new("chmod").args(["-R", "a+rX"]).arg(&venv));
        std::fs::write(&stamp, format!("{stamp_text}\n")).unwrap();
    }
    venv
}
