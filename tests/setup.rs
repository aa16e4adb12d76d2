//! `wptdeploy setup ENV` (docs/setup.md) against a host that has none of
//! it: no app user, no `base_path`, no PostgreSQL role or database, no
//! app server unit, no nginx site. It makes them; a second run changes
//! nothing; `--check` on a half-set-up host shows exactly what is missing.
//! This machine runs no systemd (CI's container): the unit and the site
//! are proved by their files, and the run must say loudly that nothing was
//! started.

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use crate::support::{events, is_root, sandbox_with_database};

/// A system user made for one test, removed (with its group) when dropped.
struct MadeUser(String);

impl Drop for MadeUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
        let _ = Command::new("groupdel")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A user name no one has (`PREFIX` and this process's id), removed when
/// the guard drops. The tests here make users, which needs root; they
/// prove the systemd parts by their files and by starting a unit's
/// `ExecStart` themselves, on a machine that runs no systemd (CI's).
fn new_app_user(prefix: &str) -> (String, MadeUser) {
    assert!(
        is_root(),
        "`setup` makes a system user, which needs root (CI runs as root)"
    );
    assert!(
        !std::path::Path::new("/run/systemd/system").exists(),
        "these tests start the units' ExecStart themselves, on a host without systemd; this machine runs systemd, where `setup` would start them for real"
    );
    let app_user = format!("{prefix}{}", std::process::id() % 1_000_000);
    assert!(!exists(&app_user), "{app_user} exists before the test");
    (app_user.clone(), MadeUser(app_user))
}

/// What every test here sets for a bare host: the database (a role and a
/// database named after `app_user`), `base`, `app_server` serving
/// `wptdash.wsgi:app`, the packages this machine has (apt is not run by a
/// test), and the unit and nginx files under `etc`.
fn bare_host_vars(
    pg: &crate::support::postgres::Postgres,
    app_user: &str,
    base: &std::path::Path,
    etc: &std::path::Path,
    app_server: &str,
) -> Vec<(String, String)> {
    let q = |p: &std::path::Path| crate::support::json(&p.display().to_string());
    let mut vars: Vec<(String, String)> = pg.inventory_vars();
    vars.extend(
        [
            ("app_user", crate::support::json(app_user)),
            ("base_path", q(base)),
            ("db_user", crate::support::json(&format!("{app_user}_role"))),
            ("db_name", crate::support::json(&format!("{app_user}_db"))),
            ("app_server", crate::support::json(app_server)),
            ("wsgi_app", "\"wptdash.wsgi:app\"".to_owned()),
            ("setup_packages", "[git, curl]".to_owned()),
            ("systemd_unit_dir", q(&etc.join("systemd"))),
            ("nginx_site", q(&etc.join("nginx/sites-available/wptdash"))),
            ("nginx_enabled", q(&etc.join("nginx/sites-enabled/wptdash"))),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    vars
}

fn exists(user: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(user)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn setup_makes_what_a_deploy_needs_and_a_second_run_changes_nothing() {
    let (app_user, _made) = new_app_user("wptds");
    let (s, pg) = sandbox_with_database(&[]);
    let base = s.dir.join("srv/fresh");
    let etc = s.dir.join("etc");
    let role = format!("{app_user}_role");
    let db = format!("{app_user}_db");
    let mut vars = bare_host_vars(&pg, &app_user, &base, &etc, "gunicorn");
    vars.push(("shared_paths".to_owned(), "[uploads]".to_owned()));
    s.write_inventory(&vars);

    // --check: every part missing, said; nothing made.
    let check = s.wptdeploy(&["setup", "staging", "--check"]).success();
    for said in [
        format!("missing: the user {app_user}"),
        format!("missing: {} owned by {app_user}", base.display()),
        format!("missing: the role {role}"),
        format!("missing: the database {db}, owned by {role}"),
        "in place".to_owned(),
    ] {
        assert!(check.stderr.contains(&said), "{said}:\n{}", check.stderr);
    }
    assert!(!exists(&app_user) && !base.exists() && !etc.exists());

    // The run makes each part, and says that nothing was started.
    let made = s.wptdeploy(&["setup", "staging"]).success();
    assert!(
        made.stderr.contains(&format!("made: the user {app_user}"))
            && made
                .stderr
                .contains("this host runs no systemd: nothing was started."),
        "{}",
        made.stderr
    );
    assert!(exists(&app_user));
    let owner = Command::new("stat")
        .args(["-c", "%U"])
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), app_user);
    assert!(base.join("shared/uploads").is_dir());
    let has = |sql: &str| pg.psql(sql).trim() == "1";
    assert!(has(&format!(
        "SELECT 1 FROM pg_roles WHERE rolname = '{role}'"
    )));
    assert!(has(&format!(
        "SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = '{db}' AND r.rolname = '{role}'"
    )));
    let unit = std::fs::read_to_string(etc.join("systemd/wptdash.service")).unwrap();
    assert!(
        unit.contains(&format!("User={app_user}"))
            && unit.contains(&format!(
                "ExecStart={}/venv/bin/python -m gunicorn --chdir {}/site",
                base.display(),
                base.display()
            ))
            && unit.contains("--bind unix:/tmp/wptdash.sock")
            && unit.contains(" wptdash.wsgi:app"),
        "{unit}"
    );
    let site = std::fs::read_to_string(etc.join("nginx/sites-available/wptdash")).unwrap();
    assert_eq!(
        site.matches("server unix:/tmp/wptdash.sock max_fails=0;")
            .count(),
        2,
        "the upstream that retries once:\n{site}"
    );
    assert_eq!(
        std::fs::read_link(etc.join("nginx/sites-enabled/wptdash")).unwrap(),
        etc.join("nginx/sites-available/wptdash")
    );
    // The database password never shows.
    assert!(
        !made.stderr.contains("sandbox-db-secret") && !made.stdout.contains("sandbox-db-secret")
    );

    // A second run changes nothing.
    let again = s
        .wptdeploy(&["setup", "staging", "--output", "json"])
        .success();
    let changed: Vec<String> = events(&again)
        .into_iter()
        .filter(|e| e["event"] == "step_finished" && e["status"] == "changed")
        .map(|e| e["name"].to_string())
        .collect();
    assert!(changed.is_empty(), "changed again: {changed:?}");

    // Half set up: the database and the site's link gone; --check names
    // exactly those (and the grant, which went with the database).
    std::fs::remove_file(etc.join("nginx/sites-enabled/wptdash")).unwrap();
    pg.psql(&format!("DROP DATABASE {db}"));
    let half = s.wptdeploy(&["setup", "staging", "--check"]).success();
    let missing: Vec<&str> = half
        .stderr
        .lines()
        .filter(|l| l.contains("missing: "))
        .collect();
    assert_eq!(missing.len(), 3, "{}", half.stderr);
    assert!(
        half.stderr
            .contains(&format!("missing: the database {db}, owned by {role}"))
            && half.stderr.contains(&format!(
                "missing: CREATE on the schema public of {db} for {role}"
            ))
            && half.stderr.contains("sites-enabled/wptdash, a link to"),
        "{}",
        half.stderr
    );
    // And the run puts back exactly those.
    s.wptdeploy(&["setup", "staging"]).success();
    assert!(has(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{db}'"
    )));
}

/// What serves the app on this machine once set up: nginx (including the
/// sites setup enabled, as the host's own would) and the app server the
/// test started as systemd would (its process group, or the gunicorn
/// master of a pid file); all stopped, and waited for, when dropped: the
/// app user is removed next, and nginx's workers hold the test's output
/// open until they go.
struct Front {
    nginx: std::process::Child,
    emperor: Option<std::process::Child>,
    pid_file: std::path::PathBuf,
}

impl Drop for Front {
    fn drop(&mut self) {
        let mut gone = Vec::new();
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            gone.push(pid.trim().to_owned());
        }
        if let Some(emperor) = &mut self.emperor {
            let _ = Command::new("kill")
                .args(["-INT", "--", &format!("-{}", emperor.id())])
                .status();
            let _ = emperor.wait();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while gone
            .iter()
            .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .arg(self.nginx.id().to_string())
            .status();
        let _ = self.nginx.wait();
    }
}

/// Starts nginx (as root, its workers as `nobody`) with a main
/// configuration that includes every file in `enabled`.
fn nginx_including(dir: &std::path::Path, enabled: &std::path::Path) -> std::process::Child {
    std::fs::create_dir_all(dir).unwrap();
    // What a site includes by a relative name, as the host's /etc/nginx has it.
    std::fs::copy("/etc/nginx/uwsgi_params", dir.join("uwsgi_params")).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\npid {n}/nginx.pid;\nerror_log {n}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {n}/body; proxy_temp_path {n}/proxy; fastcgi_temp_path {n}/fastcgi; uwsgi_temp_path {n}/uwsgi; scgi_temp_path {n}/scgi;\n  include {enabled}/*;\n}}\n",
            n = dir.display(),
            enabled = enabled.display(),
        ),
    )
    .unwrap();
    let test = Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "nginx -t refused the site setup wrote: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// `curl URL`'s status and body.
fn fetch(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_owned(), body.to_owned())
}

/// The unit file's `KEY=` value.
fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the unit:\n{unit}"))
}

/// A host with none of what a deploy needs (no app user, no `base_path`,
/// no role or database, no app server, no site), `setup` run against it
/// with `app_server`, and nginx serving the site it wrote on `port`.
struct SetUp {
    s: crate::support::Sandbox,
    pg: crate::support::postgres::Postgres,
    app_user: String,
    db: String,
    etc: std::path::PathBuf,
    run_dir: std::path::PathBuf,
    port: u16,
    vars: Vec<(String, String)>,
    _made: MadeUser,
}

impl SetUp {
    fn new(app_server: &str) -> SetUp {
        assert_eq!(
            crate::support::cutover::available(crate::support::cutover::Server::UwsgiEmperor),
            Ok(()),
            "nginx and uWSGI are needed"
        );
        let (app_user, made) = new_app_user("wptdn");
        let (mut s, pg) = sandbox_with_database(&[]);
        // The app user builds nothing here: its environment store holds a
        // link to the run's environment of the example app (tests/support),
        // as a server's store holds the environment an earlier deploy built.
        let store = s.dir.join("environments-of-the-app-user");
        crate::support::link_shared_environment(&store);
        let etc = s.dir.join("etc");
        // Where the app's socket and pid file live (systemd's RuntimeDirectory).
        let run_dir = s.dir.join("run");
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::set_permissions(
            &run_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        let port = crate::support::sandbox::free_port();
        let db = format!("{app_user}_db");
        let q = |p: &std::path::Path| crate::support::json(&p.display().to_string());
        let mut vars = bare_host_vars(&pg, &app_user, &s.dir.join("srv/fresh"), &etc, app_server);
        vars.extend(
            [
                ("app_socket", q(&run_dir.join("app.sock"))),
                ("gunicorn_pid_file", q(&run_dir.join("gunicorn.pid"))),
                ("uwsgi_vassal", q(&etc.join("uwsgi/vassals/wptdash.ini"))),
                ("uwsgi_emperor_ini", q(&etc.join("uwsgi/emperor.ini"))),
                (
                    "nginx_stock_site",
                    q(&etc.join("nginx/sites-enabled/default")),
                ),
                (
                    "nginx_listen",
                    crate::support::json(&format!("127.0.0.1:{port}")),
                ),
                ("site_fqdn", "localhost".to_owned()),
                // The cut-over waits until this answers, through nginx,
                // with the release the link points at.
                (
                    "release_url",
                    crate::support::json(&format!("http://127.0.0.1:{port}/version")),
                ),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        s.write_inventory(&vars);
        s.wptdeploy(&["setup", "staging"]).success();
        let chown = Command::new("chown")
            .args(["-h", "-R", &app_user])
            .arg(&store)
            .status();
        assert!(chown.unwrap().success());
        s.defaults.retain(|(name, _)| name != "venvs_path");
        s.defaults.push(("venvs_path".into(), q(&store)));
        s.write_inventory(&vars);
        SetUp {
            s,
            pg,
            app_user,
            db,
            etc,
            run_dir,
            port,
            vars,
            _made: made,
        }
    }

    /// Sets `name` (a YAML value) in the inventory.
    fn set(&mut self, name: &str, value: String) {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value));
        self.s.write_inventory(&self.vars);
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// nginx with the site setup enabled, and `emperor` beside it.
    fn front(&self, emperor: Option<std::process::Child>) -> Front {
        let front = Front {
            nginx: nginx_including(
                &self.s.dir.join("nginx"),
                &self.etc.join("nginx/sites-enabled"),
            ),
            emperor,
            pid_file: self.run_dir.join("gunicorn.pid"),
        };
        // Listening before the test asks it anything.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while fetch(&self.url("/")).0 == "000" {
            assert!(
                std::time::Instant::now() < deadline,
                "nginx did not listen on {} within 10 s",
                self.url("/")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        front
    }

    /// Deploys `reference` (with `more` arguments); asserts that the site
    /// answers through nginx from it, and returns what the deploy said.
    fn deploy_answering(&self, reference: &str, more: &[&str]) -> String {
        let mut args = vec!["staging", "--commit", reference];
        args.extend(more);
        let deployed = self.s.wptdeploy(&args).success();
        let (code, body) = fetch(&self.url("/version"));
        assert_eq!(
            (code.as_str(), body.contains(&self.s.sha(reference))),
            ("200", true),
            "{body}\n{}",
            deployed.stderr
        );
        deployed.stderr
    }

    /// The owner of process `pid`.
    fn owner_of(pid: &str) -> String {
        let owner = Command::new("stat")
            .args(["-c", "%U"])
            .arg(format!("/proc/{}", pid.trim()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&owner.stdout).trim().to_owned()
    }
}

#[test]
fn after_setup_the_first_deploy_starts_gunicorn_and_it_answers_through_nginx() {
    let mut t = SetUp::new("gunicorn");
    // What systemd would run: the unit's ExecStart, as its User, in its
    // WorkingDirectory, with its RuntimeDirectory (here `run_dir`).
    let unit = std::fs::read_to_string(t.etc.join("systemd/wptdash.service")).unwrap();
    let start = format!(
        "cd {dir} && setsid runuser -u {user} -- {exec} >> {log} 2>&1 < /dev/null &",
        dir = unit_value(&unit, "WorkingDirectory"),
        user = unit_value(&unit, "User"),
        exec = unit_value(&unit, "ExecStart"),
        log = t.run_dir.join("gunicorn.log").display(),
    );
    t.set("app_start_command", crate::support::json(&start));
    let _front = t.front(None);

    // Nothing serves yet: nginx answers 502.
    assert_eq!(fetch(&t.url("/version")).0, "502");

    // The first deploy starts gunicorn from the unit and is served.
    let first = t.deploy_answering("master", &["--migrate"]);
    assert!(
        first.contains("no gunicorn master was running: started one; serving it after"),
        "{first}"
    );
    let gunicorn = std::fs::read_to_string(t.run_dir.join("gunicorn.pid")).unwrap();
    assert_eq!(SetUp::owner_of(&gunicorn), t.app_user);
    // The database holds the app's tables, made by the role setup made.
    assert_eq!(
        t.pg.psql_in(
            &t.db,
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'alembic_version'"
        )
        .trim(),
        format!("{}_role", t.app_user)
    );

    // The next deploy reloads the same master (a HUP), served through nginx.
    t.s.new_branch("next");
    let second = t.deploy_answering("next", &[]);
    assert!(!second.contains("started one"), "{second}");
    assert_eq!(
        std::fs::read_to_string(t.run_dir.join("gunicorn.pid")).unwrap(),
        gunicorn,
        "the same master serves"
    );
}

#[test]
fn after_setup_the_uwsgi_emperor_serves_the_first_deploy_through_nginx() {
    let t = SetUp::new("uwsgi-emperor");
    // What systemd would run: the emperor unit's ExecStart (as root; the
    // emperor's ini drops to the app user), started before any release,
    // as setup's start does.
    let unit = std::fs::read_to_string(t.etc.join("systemd/emperor.uwsgi.service")).unwrap();
    let exec: Vec<&str> = unit_value(&unit, "ExecStart").split_whitespace().collect();
    let log = std::fs::File::create(t.run_dir.join("emperor.log")).unwrap();
    let emperor = Command::new(exec[0])
        .args(&exec[1..])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap();
    let _front = t.front(Some(emperor));
    // The vassal has nothing to serve yet, and the emperor keeps trying.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(fetch(&t.url("/version")).0, "502");

    let first = t.deploy_answering("master", &["--migrate"]);
    assert!(first.contains("serving it after"), "{first}");
    t.s.new_branch("next");
    t.deploy_answering("next", &[]);
}
