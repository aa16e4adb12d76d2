//! `wptdeploy init`: on a fresh checkout of an app (the example app, cloned
//! from the sandbox's origin), the inventory it writes deploys and migrates
//! for real; through a terminal it asks, with defaults; it never
//! overwrites a file unasked, and without a terminal it says which flag it needs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::sandbox::{SYSTEM_PYTHON, git, shared_uv, shared_uv_cache};
use crate::support::terminal::Terminal;
use crate::support::{Run, Sandbox, bin, json, sandbox, sandbox_with_database};

/// A developer's fresh clone of the app, with a config template of its own.
fn checkout(s: &Sandbox) -> PathBuf {
    git(
        &s.dir,
        &["clone", "-q", "-b", "master", &s.origin_url, "myapp"],
    );
    let project = s.dir.join("myapp");
    let templates = project.join("playbooks/templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/templates/config.txt.j2"),
        templates.join("config.txt.j2"),
    )
    .unwrap();
    project
}

/// wptdeploy in `project`, finding `inventory/` there as a user's would.
fn in_project(s: &Sandbox, project: &Path) -> Command {
    let mut command = Command::new(bin());
    command
        .current_dir(project)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("WPTDEPLOY_INVENTORY")
        .env("HOME", &s.dir)
        .env("WPTDEPLOY_KNOWN_HOSTS", &s.known_hosts);
    command
}

/// `init`'s flags for this sandbox's staging host and app, then `more`.
fn init_for_sandbox(s: &Sandbox, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "init",
        "--host",
        "127.0.0.1",
        "--port",
        &s.ssh_port.to_string(),
        "--user",
        &s.user,
        "--key",
        &s.key.display().to_string(),
        "--branch",
        "master",
        "--app-user",
        &s.user,
        "--base-path",
        &s.base_path.display().to_string(),
        // No app server runs on this "server" (it has no systemd to
        // start setup's unit): nothing is restarted.
        "--app-server",
        "command",
        "--db",
        "wptdash",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(more.iter().map(|a| (*a).to_owned()));
    args
}

/// What only this sandbox's "server" needs (its Python, uv, the database's
/// socket), then `more` (YAML lines), in inventory/group_vars/staging.yml.
fn write_stand_ins(project: &Path, pg: &crate::support::postgres::Postgres, more: &str) {
    let mut stand_ins = format!(
        "python: {}\ntools_path: {}\nuv_cache_path: {}\ndb_password: \"\"\n",
        json(SYSTEM_PYTHON),
        json(&shared_uv().display().to_string()),
        json(&shared_uv_cache().display().to_string())
    );
    for (key, value) in pg.inventory_vars() {
        stand_ins.push_str(&format!("{key}: {value}\n"));
    }
    stand_ins.push_str(more);
    std::fs::write(project.join("inventory/group_vars/staging.yml"), stand_ins).unwrap();
}

#[test]
fn init_on_a_fresh_checkout_writes_an_inventory_that_deploys_and_migrates() {
    let (s, pg) = sandbox_with_database(&[]);
    let project = checkout(&s);
    // What a Flask app keeps across releases, where the checkout has it.
    std::fs::create_dir_all(project.join("uploads")).unwrap();
    std::fs::create_dir_all(project.join("logs")).unwrap();
    let init = Run::from_command(in_project(&s, &project).args(init_for_sandbox(
        &s,
        &[
            "--healthcheck",
            "{{ venv_path }}/bin/python manage.py routes",
        ],
    )));
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert!(
        init.stderr.contains("wptdeploy staging --migrate"),
        "the next command: {}",
        init.stderr
    );
    let all = std::fs::read_to_string(project.join("inventory/group_vars/all.yml")).unwrap();
    // Detected: the origin, manage.py, Flask-Migrate, the config template.
    for line in [
        format!("git_repo: {}", json(&s.origin_url)),
        "migrate_command: \"{{ venv_path }}/bin/python manage.py db\"".to_owned(),
        "migrations_dir: \"migrations\"".to_owned(),
        "config_path: \"config.txt\"".to_owned(),
        "restart_command: \"\"".to_owned(),
        "wsgi_app: \"wptdash.wsgi:app\"".to_owned(),
        "build_info_path: \"wptdash/static/build.txt\"".to_owned(),
        "shared_paths: [\"logs\",\"uploads\"]".to_owned(),
    ] {
        assert!(all.contains(&line), "{line}:\n{all}");
    }
    // What was detected is said before anything is written.
    assert!(
        init.stderr
            .contains("detected WSGI entry point: wptdash.wsgi:app")
            && init
                .stderr
                .contains("  config.txt (playbooks/templates/config.txt.j2)"),
        "{}",
        init.stderr
    );
    assert!(!project.join("inventory/production").exists());

    write_stand_ins(&project, &pg, "");
    let deploy =
        Run::from_command(in_project(&s, &project).args(["staging", "--migrate", "--no-progress"]));
    assert_eq!(deploy.code, 0, "{}", deploy.stderr);
    assert!(
        deploy.stderr.contains("wptdash.wsgi:app loads"),
        "the app was loaded before the switch: {}",
        deploy.stderr
    );
    assert_eq!(s.live_release(), Some(s.sha("master")));
    assert_eq!(pg.revision().as_deref(), Some("735093c03092"));
    let config = std::fs::read_to_string(s.base_path.join("site/config.txt")).unwrap();
    assert!(config.contains("name = wptdash"), "{config}");
    assert_eq!(
        std::fs::read_link(s.base_path.join("site/uploads")).unwrap(),
        s.base_path.join("shared/uploads")
    );

    // Run again, it refuses to overwrite, and writes nothing.
    std::fs::write(project.join("inventory/staging"), "[staging]\nmine\n").unwrap();
    let again = Run::from_command(in_project(&s, &project).args(["init", "--host", "x"]));
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("already exist: nothing was written"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(project.join("inventory/staging")).unwrap(),
        "[staging]\nmine\n"
    );
}

#[test]
fn init_asks_with_defaults_on_a_terminal_and_needs_a_host_without_one() {
    let s = sandbox();
    let project = checkout(&s);
    let refused = Run::from_command(in_project(&s, &project).arg("init"));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "error: `init` needs the staging server's address, and there is no terminal to ask on"
        ) && refused.stderr.contains("hint: pass `--host HOST`"),
        "{}",
        refused.stderr
    );
    assert!(!project.join("inventory").exists());
    let nowhere = Run::from_command(in_project(&s, &project).args([
        "init",
        "--dir",
        "no-such-app",
        "--host",
        "x",
    ]));
    assert_eq!(nowhere.code, 2, "{}", nowhere.stderr);
    assert!(
        nowhere
            .stderr
            .contains("`--dir no-such-app`: not a directory"),
        "{}",
        nowhere.stderr
    );
    assert!(!project.join("no-such-app").exists());

    // The vault's password from a file: what is asked here is whether to
    // keep a vault.
    let password = s.dir.join("term-pass");
    std::fs::write(&password, "term-Pa55\n").unwrap();
    let mut terminal = Terminal::start(in_project(&s, &project).args([
        "--vault-password-file",
        &password.display().to_string(),
        "init",
    ]));
    terminal.wait_for("Staging server (host name or address)", 1);
    terminal.type_line("web1.example.org");
    terminal.wait_for("SSH user wptdeploy logs in as", 1);
    terminal.type_line("");
    terminal.wait_for("SSH port", 1);
    terminal.type_line("2222");
    terminal.wait_for("Private key file to log in with", 1);
    terminal.type_line("");
    terminal.wait_for("Production server (empty: none yet)", 1);
    terminal.type_line("web2.example.org");
    // Every other question: Enter takes the default shown.
    for prompt in [
        "Repository the servers clone",
        "Branch deployed by default",
        "User the app runs as",
        "Where releases live on the servers",
        // gunicorn, detected (the app depends on it): no restart asked.
        "App server",
        "Command that must succeed",
        "URL that must answer 2xx",
        "PostgreSQL database the migrations run on",
        "Where the app reads its config file",
        "The app's WSGI entry point",
        "Directories that outlive a release",
    ] {
        terminal.wait_for(prompt, 1);
        terminal.type_line("");
    }
    // The vault of secrets, offered by default (its password from the file).
    terminal.wait_for("Keep the app's secrets in an encrypted vault", 1);
    terminal.type_line("y");
    let (ok, screen) = terminal.finish();
    assert!(ok, "{screen}");
    let viewed = Run::from_command(in_project(&s, &project).args([
        "--vault-password-file",
        &password.display().to_string(),
        "vault",
        "view",
        "inventory/group_vars/all/vault",
    ]));
    assert_eq!(viewed.code, 0, "{}", viewed.stderr);
    assert!(viewed.stdout.contains("secret_key: "), "{}", viewed.stdout);
    let staging = std::fs::read_to_string(project.join("inventory/staging")).unwrap();
    assert!(
        staging.contains("[staging]\nweb1.example.org ansible_user=")
            && staging.contains(" ansible_port=2222\n"),
        "{staging}"
    );
    let production = std::fs::read_to_string(project.join("inventory/production")).unwrap();
    assert!(
        production.contains("[production]\nweb2.example.org"),
        "{production}"
    );
    let all = std::fs::read_to_string(project.join("inventory/group_vars/all.yml")).unwrap();
    assert!(all.contains("base_path: \"/srv/myapp\""), "{all}");
    assert!(all.contains("db_name: \"myapp\""), "{all}");
    assert!(all.contains("app_user: \"www-data\""), "{all}");
    assert!(all.contains("app_server: \"gunicorn\""), "{all}");
    assert!(
        !screen.contains("Command that restarts the app"),
        "{screen}"
    );
    // The detected config file and entry point were shown, then taken by Enter.
    assert!(
        screen.contains("detected WSGI entry point: wptdash.wsgi:app"),
        "{screen}"
    );
    assert!(all.contains("config_path: \"config.txt\""), "{all}");
    assert!(all.contains("wsgi_app: \"wptdash.wsgi:app\""), "{all}");
}

/// `init --vault`: the new app's secrets in an encrypted vault beside the
/// variables, which ansible-vault opens, and which the next deploy reads
/// (with the vault password) without ever printing what it holds.
#[test]
fn init_with_a_vault_keeps_the_secrets_encrypted_and_the_deploy_reads_them() {
    let (s, pg) = sandbox_with_database(&[]);
    let project = checkout(&s);
    let password = s.dir.join("vault-pass");
    std::fs::write(&password, "init-vault-Pa55\n").unwrap();
    let password = password.display().to_string();
    let init = Run::from_command(
        in_project(&s, &project)
            .args(["--vault-password-file", &password])
            .args(init_for_sandbox(&s, &["--vault"])),
    );
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert!(
        init.stderr
            .contains("wptdeploy vault edit inventory/group_vars/all/vault"),
        "{}",
        init.stderr
    );
    let vault = project.join("inventory/group_vars/all/vault");
    let sealed = std::fs::read_to_string(&vault).unwrap();
    assert!(
        sealed.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"),
        "{sealed}"
    );
    let opened = Command::new(crate::support::sandbox::ansible_vault())
        .args(["view", "--vault-password-file", &password])
        .arg(&vault)
        .output()
        .unwrap();
    let plain = String::from_utf8_lossy(&opened.stdout).into_owned();
    let secret = plain
        .lines()
        .find_map(|l| l.strip_prefix("secret_key: "))
        .unwrap_or_else(|| panic!("no secret_key: {plain}"))
        .to_owned();
    assert_eq!(secret.len(), 64, "{secret}");

    // The app's config carries the secret, as a real one would.
    write_stand_ins(
        &project,
        &pg,
        "healthcheck_command: \"cat config.txt && echo key={{ secret_key }}\"\n",
    );
    let deploy = Run::from_command(in_project(&s, &project).args([
        "--vault-password-file",
        &password,
        "staging",
        "--migrate",
        "--no-progress",
        "-v",
    ]));
    assert_eq!(deploy.code, 0, "{}", deploy.stderr);
    assert!(deploy.stderr.contains("key=********"), "{}", deploy.stderr);
    assert!(!deploy.stderr.contains(&secret) && !deploy.stdout.contains(&secret));
}
