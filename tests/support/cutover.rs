//! The cut-over under load, for the suite and for `bench/`: the example
//! app served for real on loopback (gunicorn, or nginx in front of a uWSGI
//! emperor laid out like wptdash's), a steady load sent at it, and
//! wptdeploy deploying two releases back and forth, a rollback and a
//! release whose health check fails, with every request counted.

#![allow(dead_code)] // The sandbox example uses only part of it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::load::{Load, Stats};
use super::sandbox::{Sandbox, free_port};

/// What serves the app, and how wptdeploy tells it about a new release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// gunicorn, `app_server: gunicorn` (HUP).
    Gunicorn,
    /// gunicorn with `--preload`: HUP cannot load new code.
    GunicornPreloaded,
    /// nginx in front of a uWSGI emperor, `app_server: uwsgi-emperor`.
    UwsgiEmperor,
    /// gunicorn stopped and started again by `restart_command`.
    PlainRestart,
}

impl Server {
    /// As the bench's table names it.
    pub fn label(self) -> &'static str {
        match self {
            Server::Gunicorn => "gunicorn (HUP)",
            Server::GunicornPreloaded => "gunicorn --preload (HUP)",
            Server::UwsgiEmperor => "nginx + uwsgi-emperor (touch)",
            Server::PlainRestart => "command (a plain gunicorn restart)",
        }
    }
}

/// The app being served; stopped when dropped.
pub struct Serving {
    /// Where the app answers.
    pub addr: SocketAddr,
    /// The inventory variables that tell wptdeploy about it.
    pub vars: Vec<(String, String)>,
    children: Vec<Child>,
    pid_file: PathBuf,
    dir: PathBuf,
}

impl Serving {
    /// The last lines of the app server's logs, to say why requests failed.
    pub fn logs(&self) -> String {
        [
            "gunicorn.log",
            "emperor.err",
            "uwsgi.log",
            "nginx/error.log",
        ]
        .iter()
        .filter_map(|name| {
            let text = std::fs::read_to_string(self.dir.join(name)).ok()?;
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            Some(format!("== {name}\n{tail}\n"))
        })
        .collect()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        for child in &mut self.children {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }
}

/// nginx's upstream for the vassal's socket, as docs/cutover.md gives it:
/// the socket twice, never marked as failed, so that a request a worker
/// closes unanswered while the vassal reloads (uWSGI's graceful reload can
/// close one it had just accepted: "upstream prematurely closed
/// connection") is sent again, once, instead of answered 502.
const UWSGI_UPSTREAM: &str = "  upstream app {\n    server unix:{socket} max_fails=0;\n    server unix:{socket} max_fails=0;\n  }\n";

/// The shell command that starts gunicorn in the background, as a person
/// would (through the links, so that a reload finds the new release).
fn gunicorn_start(base: &Path, port: u16, pid_file: &Path, log: &Path, preload: bool) -> String {
    format!(
        "cd {base} && {base}/venv/bin/python -m gunicorn --chdir {base}/site --pid {pid} --bind 127.0.0.1:{port} --workers 2 --daemon --error-logfile {log}{preload} wptdash.wsgi:app",
        base = base.display(),
        pid = pid_file.display(),
        log = log.display(),
        preload = if preload { " --preload" } else { "" },
    )
}

/// Whether what `server` needs is on this machine (Debian's uwsgi,
/// uwsgi-plugin-python3 and nginx for the emperor); `Err` says what is not.
pub fn available(server: Server) -> Result<(), String> {
    if server != Server::UwsgiEmperor {
        return Ok(());
    }
    let missing: Vec<&str> = [
        ("uwsgi", "/usr/bin/uwsgi"),
        (
            "uwsgi-plugin-python3",
            "/usr/lib/uwsgi/plugins/python3_plugin.so",
        ),
        ("nginx", "/usr/sbin/nginx"),
    ]
    .iter()
    .filter(|(_, path)| !Path::new(path).exists())
    .map(|(package, _)| *package)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing {}: scripts/system-packages installs them (as root)",
            missing.join(", ")
        ))
    }
}

/// Starts `server` serving the sandbox's live release and waits until it
/// answers.
pub fn serve(s: &Sandbox, server: Server) -> Serving {
    let dir = s.dir.join("serving");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let base = &s.base_path;
    let pid_file = dir.join("gunicorn.pid");
    let log = dir.join("gunicorn.log");
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let mut vars = vec![
        ("release_url".to_owned(), url("/version")),
        ("healthcheck_url".to_owned(), url("/health")),
        ("healthcheck_command".to_owned(), String::new()),
        // The entry point is the one the server runs, read from it.
        ("wsgi_app".to_owned(), String::new()),
        ("cutover_timeout".to_owned(), "20".to_owned()),
    ];
    let mut children = Vec::new();
    match server {
        Server::Gunicorn | Server::GunicornPreloaded | Server::PlainRestart => {
            let preload = server == Server::GunicornPreloaded;
            let start = gunicorn_start(base, port, &pid_file, &log, preload);
            let status = Command::new("sh").arg("-c").arg(&start).status().unwrap();
            assert!(status.success(), "gunicorn did not start: {start}");
            if server == Server::PlainRestart {
                let pid = pid_file.display();
                vars.push(("app_server".into(), "command".into()));
                vars.push((
                    "restart_command".into(),
                    format!(
                        "pid=$(cat {pid}); kill -TERM $pid; while kill -0 $pid 2>/dev/null; do sleep 0.05; done; {start}"
                    ),
                ));
            } else {
                vars.push(("app_server".into(), "gunicorn".into()));
                vars.push(("gunicorn_pid_file".into(), pid_file.display().to_string()));
            }
        }
        Server::UwsgiEmperor => {
            let vassals = dir.join("vassals");
            std::fs::create_dir_all(&vassals).unwrap();
            let socket = dir.join("app.sock");
            // wptdash's vassal (roles/uwsgi/templates/uwsgi.ini.j2), with
            // Debian's plugin and a log file Debian's build can write.
            let vassal = vassals.join("wptdash_uwsgi.ini");
            std::fs::write(
                &vassal,
                format!(
                    "[uwsgi]\nplugins = python3\nsocket = {socket}\nchmod-socket = 666\nchdir = {base}/site\nmaster = true\nmodule = wptdash.wsgi:app\nprocesses = 2\nlogto = {dir}/uwsgi.log\nvacuum = true\nenable-threads = true\ndie-on-term = true\nlazy-apps = true\nvirtualenv = {base}/venv\n",
                    socket = socket.display(),
                    base = base.display(),
                    dir = dir.display(),
                ),
            )
            .unwrap();
            children.push(spawn(
                Command::new("uwsgi")
                    .arg("--emperor")
                    .arg(&vassals)
                    .args(["--emperor-freq", "1"]),
                &dir.join("emperor.log"),
            ));
            let nginx = dir.join("nginx");
            std::fs::create_dir_all(&nginx).unwrap();
            std::fs::write(
                nginx.join("nginx.conf"),
                format!(
                    "daemon off;\npid {n}/nginx.pid;\nerror_log {n}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {n}/body; proxy_temp_path {n}/proxy; fastcgi_temp_path {n}/fastcgi; uwsgi_temp_path {n}/uwsgi; scgi_temp_path {n}/scgi;\n{upstream}  server {{\n    listen 127.0.0.1:{port};\n    location / {{ include /etc/nginx/uwsgi_params; uwsgi_pass app; }}\n  }}\n}}\n",
                    n = nginx.display(),
                    upstream = UWSGI_UPSTREAM.replace("{socket}", &socket.display().to_string()),
                ),
            )
            .unwrap();
            children.push(spawn(
                Command::new("nginx")
                    .arg("-e")
                    .arg(nginx.join("error.log"))
                    .arg("-p")
                    .arg(&nginx)
                    .arg("-c")
                    .arg(nginx.join("nginx.conf")),
                &nginx.join("stderr.log"),
            ));
            vars.push(("app_server".into(), "uwsgi-emperor".into()));
            vars.push(("uwsgi_vassal".into(), vassal.display().to_string()));
        }
    }
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let serving = Serving {
        addr,
        vars,
        children,
        pid_file,
        dir: dir.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while served(addr).is_none() {
        assert!(
            Instant::now() < deadline,
            "{server:?} did not answer on {addr} within 30 s; its logs are in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    serving
}

fn spawn(command: &mut Command, log: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::from(
            std::fs::File::create(log.with_extension("err")).unwrap(),
        ))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"))
}

/// The SHA of the release answering `/version` now, if one answers.
pub fn served(addr: SocketAddr) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET /version HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    if !text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.0 200") {
        return None;
    }
    text.split_whitespace()
        .find(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// What a run under load measured.
#[derive(Debug)]
pub struct Report {
    /// The quiet period before the first deploy.
    pub idle: Stats,
    /// From the first deploy to the end of the last.
    pub deploying: Stats,
    /// The whole run.
    pub all: Stats,
    /// Deploys made (each one cut over).
    pub deploys: usize,
    /// Median wall time of a deploy.
    pub deploy_median: Duration,
    /// What went wrong in the scenario itself (not in a request), if anything.
    pub problems: Vec<String>,
}

/// Runs wptdeploy with `args` against the sandbox; its exit code and output.
fn wptdeploy(s: &Sandbox, bin: &Path, args: &[&str]) -> (i32, String) {
    let output = s
        .command(bin)
        .args(args)
        .arg("--no-progress")
        .output()
        .expect("run wptdeploy");
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Writes the sandbox's inventory with what tells wptdeploy about
/// `serving`, and `vars` (YAML values) on top.
pub fn write_inventory(s: &Sandbox, vars: &[(String, String)], serving: &Serving) {
    let mut all: Vec<(String, String)> = serving
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_string(v).unwrap()))
        .collect();
    all.extend(vars.iter().cloned());
    s.write_inventory(&all);
}

/// The scenario: master (its database migrated) and a second release
/// built, `server` started, then under a steady load (`rate` requests a
/// second) a quiet period, `deploys` deploys alternating the two releases,
/// a rollback, a deploy whose health check fails (switched back), and a
/// quiet end. `vars` (YAML values) are the sandbox's inventory, its
/// database's among them.
pub fn under_load(
    s: &Sandbox,
    bin: &Path,
    server: Server,
    deploys: usize,
    rate: u32,
    vars: &[(String, String)],
) -> (Serving, Report) {
    let master = s.sha("master");
    let next = s.new_branch("next");
    let mut problems = Vec::new();
    s.write_inventory(vars);
    for args in [
        ["staging", "--commit", &master, "--migrate"].as_slice(),
        &["staging", "--commit", &next],
    ] {
        let (code, out) = wptdeploy(s, bin, args);
        assert_eq!(code, 0, "{args:?} failed:\n{out}");
    }
    let serving = serve(s, server);
    write_inventory(s, vars, &serving);

    let load = Load::start(serving.addr, "/version", rate, 4, Duration::from_secs(600));
    std::thread::sleep(Duration::from_secs(3));
    let idle_end = load.elapsed();
    let mut times = Vec::new();
    let mut expect = |what: &str, want: &str, code: i32, wanted_code: i32, out: &str| {
        if code != wanted_code {
            problems.push(format!("{what}: exit {code}, not {wanted_code}:\n{out}"));
        }
        let live = s.live_release();
        let now = served(serving.addr);
        if live.as_deref() != Some(want) || now.as_deref() != Some(want) {
            problems.push(format!(
                "{what}: {want} should be live and serving; live {live:?}, serving {now:?}:\n{out}"
            ));
        }
    };
    for n in 0..deploys {
        let sha = if n % 2 == 0 { &master } else { &next };
        let started = Instant::now();
        let (code, out) = wptdeploy(s, bin, &["staging", "--commit", sha]);
        times.push(started.elapsed());
        expect(&format!("deploy {}", n + 1), sha, code, 0, &out);
    }
    let live = s.live_release().unwrap_or_default();
    let other = if live == master { &next } else { &master };
    let (code, out) = wptdeploy(s, bin, &["rollback", "staging"]);
    expect("rollback", other, code, 0, &out);
    let (code, out) = wptdeploy(
        s,
        bin,
        &[
            "staging",
            "--commit",
            &live,
            "-e",
            &format!("healthcheck_url=http://{}/missing", serving.addr),
            "-e",
            "healthcheck_retries=1",
        ],
    );
    expect("a failed health check", other, code, 1, &out);
    let deploying_end = load.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let samples = load.stop();
    times.sort();
    let report = Report {
        idle: Stats::of(&samples, Duration::from_millis(500), idle_end),
        deploying: Stats::of(&samples, idle_end, deploying_end),
        all: Stats::of(&samples, Duration::ZERO, Duration::MAX),
        deploys: times.len(),
        deploy_median: times.get(times.len() / 2).copied().unwrap_or_default(),
        problems,
    };
    (serving, report)
}

impl Report {
    /// One row of the bench's table: requests sent and failed, p50/p99
    /// while idle and while deploying, and a deploy's median time.
    pub fn row(&self, server: Server) -> String {
        let ms = |d: Duration| d.as_millis();
        format!(
            "| {} | {} | {} | {} / {} ms | {} / {} ms | {} ms |",
            server.label(),
            self.all.sent,
            self.all.failed,
            ms(self.idle.p50),
            ms(self.idle.p99),
            ms(self.deploying.p50),
            ms(self.deploying.p99),
            ms(self.deploy_median),
        )
    }
}
