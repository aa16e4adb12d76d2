//! A wptdash maintainer's checkout, its `ansible/` tree unchanged (a
//! fixture shaped like w3c/wptdash's, its vault made by the real
//! ansible-vault), deploying to a server Ansible deployed before: the app
//! user (www-data) has no sudo rights, the login user's sudo wants a
//! password, and the hosts are ssh config aliases. These need root (users,
//! sudo, files owned by www-data), as CI has; elsewhere they fail saying so.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use crate::support::ansible_tree::{
    self, AnsibleTree, COMMENTER_TOKEN, DB_PASSWORD, INLINE_SECRET, KEY_LINES, PRODUCTION, STAGING,
    WEBHOOK_TOKEN, as_ansible_left_it, assert_no_secret,
};
use crate::support::postgres::Postgres;
use crate::support::sandbox::password_sudo_user;
use crate::support::{Sandbox, is_root};

pub(crate) const WWW_DATA: u32 = 33;

/// A sandbox, its database, the tree, and the login user's sudo password in a file.
pub(crate) struct Setup {
    pub s: Sandbox,
    pub pg: Postgres,
    pub tree: AnsibleTree,
    become_file: String,
    become_password: &'static str,
}

pub(crate) fn setup() -> Setup {
    assert!(
        is_root(),
        "needs root (CI runs as root): www-data, sudo rules, files owned by others"
    );
    let (login, become_password) = password_sudo_user();
    let s = Sandbox::start();
    let pg = Postgres::start(&s.dir);
    let tree = AnsibleTree::write(&s, &pg, login, &[]);
    let become_file = s.dir.join("become-password");
    std::fs::write(&become_file, format!("{become_password}\n")).unwrap();
    Setup {
        become_file: become_file.display().to_string(),
        s,
        pg,
        tree,
        become_password,
    }
}

impl Setup {
    /// wptdeploy in the checkout with the vault and sudo passwords from files.
    pub fn run(&self, args: &[&str]) -> crate::support::Run {
        let mut all = vec!["--become-password-file", self.become_file.as_str()];
        all.extend(args);
        self.tree.with_vault(&self.s, &all)
    }
}

pub(crate) fn owner(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().uid()
}

#[test]
fn a_wptdash_checkout_deploys_to_the_server_ansible_left() {
    let t = setup();
    let s = &t.s;
    let base = &s.base_path;
    let ansible_release = as_ansible_left_it(s, &t.pg, base, "master", "www-data");
    assert_eq!(owner(base), 0, "Ansible left base_path root's");

    // --check: the handover and the project's own config template are shown,
    // with the diff against the live config; nothing changes.
    let check = t
        .run(&["staging", "--commit", "packaged", "--check", "-v"])
        .success();
    assert_no_secret(&check);
    let said = &check.stderr;
    assert!(
        said.contains(&format!("planned make {} www-data's", base.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "{} is not all www-data's",
            base.join("temp").display()
        )),
        "{said}"
    );
    // config.txt because the role's template task writes it there.
    assert!(
        said.contains("from ansible/roles/deploy/templates/config.txt.j2"),
        "{said}"
    );
    // The cut-over is the uwsgi role's: its vassal touched, so that the
    // emperor reloads it gracefully (a stand-in file on this host).
    let vassal = s.dir.join("vassals/wptdash_uwsgi.ini");
    assert!(
        said.contains(&format!("touch the uWSGI vassal {}", vassal.display())),
        "{said}"
    );
    let touched = || {
        std::fs::symlink_metadata(&vassal)
            .unwrap()
            .modified()
            .unwrap()
    };
    let before_deploy = touched();
    assert!(
        said.contains("+GH_TOKEN = ********"),
        "the diff shows the change, masked: {said}"
    );
    assert!(said.contains(&format!("+APP_DOMAIN = {STAGING}")), "{said}");
    assert!(
        said.contains(&s.sha("packaged")),
        "the ref resolved to its SHA: {said}"
    );
    assert_eq!(owner(base), 0, "--check changed nothing");
    assert_eq!(s.live_release(), Some(ansible_release.clone()));

    // The deploy, with every line of output shown.
    let run = t.run(&["staging", "--commit", "packaged", "-v"]).success();
    assert_no_secret(&run);
    assert!(!run.stderr.contains(t.become_password), "{}", run.stderr);
    let packaged = s.sha("packaged");
    assert_eq!(s.live_release(), Some(packaged.clone()));
    assert!(touched() > before_deploy, "the vassal was touched");
    assert_eq!(
        owner(base),
        WWW_DATA,
        "base_path handed over to the app user"
    );
    assert!(
        s.releases().contains(&ansible_release),
        "Ansible's release is kept for rollback"
    );
    let config_path = base.join("site/config.txt");
    let config = std::fs::read_to_string(&config_path).unwrap();
    for expected in [
        format!("APP_DOMAIN = {STAGING}"),
        format!("WPTDASH_DB_PASS = {DB_PASSWORD}"),
        format!("GH_TOKEN = {COMMENTER_TOKEN}"),
        format!("GH_WEBHOOK_TOKEN = {WEBHOOK_TOKEN}"),
        format!("NOTE = {INLINE_SECRET}"),
        format!("KEY = {}\n    {}", KEY_LINES[0], KEY_LINES[1]),
    ] {
        assert!(
            config.contains(&expected),
            "config.txt lacks {expected:?}:\n{config}"
        );
    }
    let meta = std::fs::metadata(&config_path).unwrap();
    assert_eq!(
        (meta.uid(), meta.permissions().mode() & 0o777),
        (WWW_DATA, 0o640)
    );
    // Ansible's shared virtualenv is kept for Ansible's release, and
    // `venv` (which the uwsgi config names) follows the live release.
    assert_eq!(
        std::fs::read_link(base.join("venv")).unwrap(),
        base.join("site/.venv")
    );
    let kept = std::fs::read_link(base.join(&ansible_release).join(".venv")).unwrap();
    assert!(
        kept.starts_with(base.join("venvs"))
            && kept
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("adopted-"),
        "{}",
        kept.display()
    );
    assert!(kept.join("bin/python").exists());
    // The new release's own environment, built from setup.py (no
    // requirements file): uv installed under base_path, as the app user.
    assert!(
        run.stderr.contains("with uv"),
        "the environment was built with uv: {}",
        run.stderr
    );
    assert_eq!(owner(&base.join(".wptdeploy/tools/bin/uv")), WWW_DATA);
    let installed = std::process::Command::new(base.join("venv/bin/python"))
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('wptdash-example'))",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&installed.stdout).trim(), "1.0");

    // Back to the release Ansible made: adopted, relinked, not rebuilt.
    let back = t
        .run(&[
            "staging",
            "--commit",
            &ansible_release,
            "--output",
            "json",
            "-v",
        ])
        .success();
    assert_no_secret(&back);
    assert_eq!(s.live_release(), Some(ansible_release));
    // With the environment it ran with under Ansible.
    assert_eq!(
        std::fs::canonicalize(base.join("venv")).unwrap(),
        std::fs::canonicalize(&kept).unwrap()
    );
}

#[test]
fn production_migrates_with_a_backup_though_the_app_user_has_no_sudo() {
    let t = setup();
    let s = &t.s;
    let sudo_rights = std::process::Command::new("sudo")
        .args(["-l", "-U", "www-data"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sudo_rights.stdout).contains("not allowed"),
        "www-data has no sudo rights: {}",
        String::from_utf8_lossy(&sudo_rights.stdout)
    );
    let base = ansible_tree::base_path(s, PRODUCTION);
    let run = t
        .run(&[
            "prod",
            "--migrate",
            "--yes",
            "--commit",
            "feature/with-migration",
            "-v",
        ])
        .success();
    assert_no_secret(&run);
    assert!(!run.stderr.contains(t.become_password), "{}", run.stderr);
    assert_eq!(t.pg.revision().as_deref(), Some("4dafe3eac60e"));
    assert_eq!(
        owner(&base),
        WWW_DATA,
        "base_path created for the app user, as root"
    );
    let backups = base.join("backups");
    let dumps: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(dumps.len(), 1, "one backup before the one migration run");
    let dump = std::fs::metadata(dumps[0].path()).unwrap();
    assert_eq!(
        (dump.uid(), dump.permissions().mode() & 0o777),
        (WWW_DATA, 0o600)
    );
    assert_eq!(
        owner(&backups),
        WWW_DATA,
        "pruning, as the app user, can remove it"
    );
    assert!(
        run.stderr.contains("to restore: sudo -u postgres "),
        "{}",
        run.stderr
    );
}

#[test]
fn vault_password_problems_are_named_and_never_wait() {
    let t = setup();
    let s = &t.s;
    let tree = &t.tree;
    tree.wptdeploy(s, &["staging", "--check"])
        .failure(2)
        .stderr_has("error: ansible/group_vars/all/vault is encrypted with ansible-vault, and no vault password was given")
        .stderr_has("hint: give the vault password: `--ask-vault-pass`, `--vault-password-file FILE`");
    tree.wptdeploy(s, &["staging", "--check", "--ask-vault-pass"])
        .failure(2)
        .stderr_has("asking for the vault password needs a terminal");
    let wrong = s.dir.join("wrong-password");
    std::fs::write(&wrong, "not-it\n").unwrap();
    let wrong = wrong.display().to_string();
    tree.wptdeploy(s, &["staging", "--check", "--vault-password-file", &wrong])
        .failure(2)
        .stderr_has("error: the vault password does not open ansible/group_vars/all/vault");
    // An executable password file is run, as Ansible does; here through the environment.
    let script = s.dir.join("vault-pass.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncat {}\n", tree.password_file.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = crate::support::Run::from_command(
        tree.command(s)
            .env("ANSIBLE_VAULT_PASSWORD_FILE", &script)
            .args([
                "--become-password-file",
                &t.become_file,
                "staging",
                "--check",
            ]),
    );
    let run = run.success();
    assert_no_secret(&run);
    // Or where Ansible itself reads it: ansible.cfg's vault_password_file.
    std::fs::write(
        tree.checkout.join("ansible.cfg"),
        format!("[defaults]\nvault_password_file = {}\n", script.display()),
    )
    .unwrap();
    let run = crate::support::Run::from_command(tree.command(s).args([
        "--become-password-file",
        &t.become_file,
        "staging",
        "--check",
    ]));
    assert_no_secret(&run.success());
}

#[test]
fn global_options_go_before_the_subcommand_too() {
    let t = setup();
    let s = &t.s;
    as_ansible_left_it(s, &t.pg, &s.base_path, "master", "www-data");
    let vault = t.tree.password_file.display().to_string();
    t.tree
        .wptdeploy(
            s,
            &[
                "-i",
                "ansible/inventory",
                "--vault-password-file",
                &vault,
                "--become-password-file",
                &t.become_file,
                "migration",
                "status",
                "staging",
            ],
        )
        .success()
        .stderr_has("database at the head, 735093c03092");
}

#[test]
fn a_lock_that_cannot_be_made_says_why_and_leaves_nothing() {
    let t = setup();
    let s = &t.s;
    let live = as_ansible_left_it(s, &t.pg, &s.base_path, "master", "www-data");
    // A directory the deploy does not hand over, root's: the lock cannot go there.
    let locks = s.base_path.join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    t.run(&[
        "staging",
        "--commit",
        "packaged",
        "-e",
        "lock_path='{{ base_path }}/locks/deploy'",
    ])
    .failure(1)
    .stderr_has(&format!(
        "step `take the deploy lock` cannot create the deploy lock {}/deploy: Permission denied",
        locks.display()
    ))
    .stderr_has(&format!(
        "hint: {} must be writable by `www-data`",
        locks.display()
    ))
    .stderr_has("hint: no lock was left behind");
    assert!(!locks.join("deploy").exists());
    assert_eq!(s.live_release(), Some(live));
}

#[test]
fn init_from_ansible_reports_what_the_tree_gives_and_writes_nothing() {
    let t = setup();
    let before = files_under(&t.tree.checkout);
    // Without the vault password: the hosts wait for it, the rest is read.
    let locked = t
        .tree
        .wptdeploy(&t.s, &["init", "--from-ansible", "ansible"])
        .success();
    assert!(
        locked
            .stderr
            .contains("staging: its hosts cannot be listed yet")
            && locked.stderr.contains("--ask-vault-pass"),
        "{}",
        locked.stderr
    );
    let run = t
        .tree
        .with_vault(&t.s, &["init", "--from-ansible", "ansible"])
        .success();
    assert_no_secret(&run);
    for said in [
        "ansible is read as it is: nothing to write".to_owned(),
        format!("  staging: {STAGING}"),
        format!("  production: {PRODUCTION}"),
        "restart_command: systemctl restart emperor.uwsgi (from ansible/deploy.yml (its handler))"
            .to_owned(),
        "config_path: config.txt (from ansible/roles/deploy/tasks/main.yml (its template task))"
            .to_owned(),
        "app_server: uwsgi-emperor (from ansible/roles/uwsgi/tasks/main.yml (its vassal template task))".to_owned(),
        "uwsgi_vassal: /etc/uwsgi/vassals/{{project_name}}_uwsgi.ini (from ansible/roles/uwsgi/tasks/main.yml (its vassal template task))".to_owned(),
        "venv_site_packages: true (from ansible/roles/deploy/tasks/build.yml (its pip task's virtualenv_site_packages))".to_owned(),
        "wptdeploy staging --check --ask-vault-pass".to_owned(),
    ] {
        assert!(run.stderr.contains(&said), "{said}:\n{}", run.stderr);
    }
    assert_eq!(files_under(&t.tree.checkout), before, "nothing written");
}

/// Every file under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut left = vec![dir.to_owned()];
    while let Some(next) = left.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                left.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The README's rotation (decrypt the vault, edit, encrypt) and a token
/// given with `-e @file`: `--check` shows which lines change, never the
/// value that was live on the host nor the new one, in any output.
#[test]
fn a_rotated_secret_shows_neither_its_old_nor_its_new_value() {
    use crate::support::sandbox::ansible_vault;
    let t = setup();
    let s = &t.s;
    t.run(&["staging", "--commit", "master", "--no-migrate"])
        .success();
    let vault = t.tree.ansible.join("group_vars/all/vault");
    let new_password = "Rotated-DB-pw-93c1";
    let plain = std::process::Command::new(ansible_vault())
        .args(["view", "--vault-password-file"])
        .arg(&t.tree.password_file)
        .arg(&vault)
        .output()
        .unwrap();
    let rotated = String::from_utf8(plain.stdout)
        .unwrap()
        .replace(DB_PASSWORD, new_password);
    std::fs::write(&vault, rotated).unwrap();
    let encrypted = std::process::Command::new(ansible_vault())
        .args(["encrypt", "--vault-password-file"])
        .arg(&t.tree.password_file)
        .arg(&vault)
        .output()
        .unwrap();
    assert!(encrypted.status.success(), "{encrypted:?}");
    let new_token = "ghp_RotatedToken987654321";
    let extra = s.dir.join("rotated.yml");
    std::fs::write(&extra, format!("github_commenter_token: {new_token}\n")).unwrap();
    let extra = format!("@{}", extra.display());
    let runs = [
        t.run(&["staging", "--check", "--no-migrate", "-e", &extra])
            .success(),
        t.run(&["staging", "--check", "--no-migrate", "-v", "-e", &extra])
            .success(),
        t.run(&[
            "staging",
            "--check",
            "--no-migrate",
            "--output",
            "json",
            "-e",
            &extra,
        ])
        .success(),
    ];
    let said = &runs[0].stderr;
    assert!(said.contains("-WPTDASH_DB_PASS = ********\n"), "{said}");
    assert!(
        said.contains("+WPTDASH_DB_PASS = ******** (changed)"),
        "{said}"
    );
    assert!(said.contains("-GH_TOKEN = ********\n"), "{said}");
    assert!(said.contains("+GH_TOKEN = ******** (changed)"), "{said}");
    for run in &runs {
        for value in [DB_PASSWORD, new_password, COMMENTER_TOKEN, new_token] {
            assert!(
                !run.stdout.contains(value) && !run.stderr.contains(value),
                "{value} shown:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
}

/// wptdash's nginx and uwsgi roles, in shape (our own text): the nginx
/// role writes its `confs` and `shared` lists from their templates, the
/// site serves TLS and includes the shared files, the vassal and the
/// emperor's unit are the uwsgi role's (its uWSGI from pip3, in
/// /usr/local/bin).
fn add_wptdash_server_roles(ansible: &Path) {
    let write = |file: &str, text: &str| {
        let path = ansible.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "group_vars/all/nginx.yml",
        "ssl_cert_path: /etc/ssl/cert.pem\nssl_key_path: /etc/ssl/privkey.pem\nshared:\n  - file: ssl_params.j2\n    dest: \"{{nginx_dir}}/ssl_params\"\n  - file: gzip_params.j2\n    dest: \"{{nginx_dir}}/gzip_params\"\nconfs:\n  - file: site.conf.j2\n    dest: \"{{conf_dir}}/site.conf\"\n",
    );
    write(
        "roles/nginx/tasks/main.yml",
        "- name: ensure nginx config files exist\n  shell: touch {{item.dest}}\n  args:\n    creates: \"{{item.dest}}\"\n  with_flattened:\n    - \"{{confs}}\"\n    - \"{{shared}}\"\n- name: generate new nginx config files\n  template:\n    src: \"{{item.file}}\"\n    dest: \"{{item.dest}}\"\n  register: nginx_conf\n  with_flattened:\n    - \"{{confs}}\"\n    - \"{{shared}}\"\n",
    );
    write(
        "roles/nginx/templates/site.conf.j2",
        "server {\n{% if ssl %}\n  listen 443 ssl;\n  include ssl_params;\n{% else %}\n  listen 80;\n{% endif %}\n  include gzip_params;\n  server_name {{site_fqdn}};\n  access_log {{site_path}}/logs/access.log;\n  location / {\n    include uwsgi_params;\n    uwsgi_pass unix:/tmp/{{project_name}}.sock;\n  }\n}\n",
    );
    write(
        "roles/nginx/templates/ssl_params.j2",
        "ssl_certificate_key {{ssl_key_path}};\nssl_certificate {{ssl_cert_path}};\n",
    );
    write(
        "roles/nginx/templates/gzip_params.j2",
        "gzip on;\ngzip_types text/plain text/css application/json;\n",
    );
    write(
        "roles/uwsgi/templates/uwsgi.ini.j2",
        "# {{project_name}}_uwsgi.ini\n[uwsgi]\nsocket = /tmp/{{project_name}}.sock\nchdir = {{site_path}}\nmaster = true\nmodule = wptdash.wsgi:app\nlazy-apps = true\nvirtualenv = {{base_path}}/venv\n",
    );
    write(
        "roles/uwsgi/templates/emperor.ini.j2",
        "[uwsgi]\nemperor = /etc/uwsgi/vassals\nuid = www-data\ngid = www-data\n",
    );
    write(
        "roles/uwsgi/templates/emperor.uwsgi.service.j2",
        "[Unit]\nDescription=uWSGI Emperor\n\n[Service]\nExecStart=/usr/local/bin/uwsgi --ini /etc/uwsgi/emperor.ini\nRuntimeDirectory=uwsgi\nType=notify\n\n[Install]\nWantedBy=multi-user.target\n",
    );
}

#[test]
fn setup_in_a_wptdash_checkout_writes_its_own_vassal_and_nginx_files_with_its_variables() {
    let t = setup();
    add_wptdash_server_roles(&t.tree.ansible);
    let etc = t.s.dir.join("etc");
    let base = &t.s.base_path;
    // This machine's /etc is left alone: every file setup writes goes
    // under the sandbox (the tree's own `nginx_dir` included).
    let at = |name: &str, path: &Path| format!("{name}={}", path.display());
    let extra = [
        at("nginx_dir", &etc.join("nginx")),
        at("systemd_unit_dir", &etc.join("systemd")),
        at("uwsgi_emperor_ini", &etc.join("uwsgi/emperor.ini")),
        at("nginx_stock_site", &etc.join("nginx/sites-enabled/default")),
        "{setup_packages: [git, curl]}".to_owned(),
    ];
    let args = |more: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = vec!["setup".into(), "staging".into()];
        for e in &extra {
            all.push("-e".into());
            all.push(e.clone());
        }
        all.extend(more.iter().map(|m| (*m).to_owned()));
        all
    };
    let run = |more: &[&str]| {
        let all = args(more);
        t.run(&all.iter().map(String::as_str).collect::<Vec<_>>())
    };
    std::fs::create_dir_all(etc.join("nginx/sites-enabled")).unwrap();
    std::os::unix::fs::symlink(
        "/etc/nginx/sites-available/default",
        etc.join("nginx/sites-enabled/default"),
    )
    .unwrap();

    // --check: the tree's own templates, rendered with its variables,
    // shown as the files they would be; the certificate left to the user.
    let check = run(&["--check"]).success();
    assert_no_secret(&check);
    let said = &check.stderr;
    for shown in [
        "from ansible/roles/uwsgi/templates/uwsgi.ini.j2",
        "+socket = /tmp/wpt-pullresults.sock",
        "from ansible/roles/nginx/templates/site.conf.j2",
        &format!("+  server_name {STAGING};"),
        "+  include gzip_params;",
        "+ssl_certificate /etc/ssl/cert.pem;",
        "nginx needs the certificate /etc/ssl/cert.pem and its key /etc/ssl/privkey.pem",
    ] {
        assert!(said.contains(shown), "{shown}:\n{said}");
    }
    assert!(!etc.join("nginx/conf.d/site.conf").exists());

    // The run writes them where the tree says (conf.d: no link to make),
    // and takes Debian's stock site out.
    let made = run(&[]).success();
    assert_no_secret(&made);
    let site = std::fs::read_to_string(etc.join("nginx/conf.d/site.conf")).unwrap();
    assert!(
        site.contains("listen 443 ssl;")
            && site.contains(&format!(
                "access_log {}/site/logs/access.log;",
                base.display()
            )),
        "{site}"
    );
    assert_eq!(
        std::fs::read_to_string(etc.join("nginx/gzip_params")).unwrap(),
        "gzip on;\ngzip_types text/plain text/css application/json;\n"
    );
    assert!(!etc.join("nginx/sites-enabled/wpt-pullresults").exists());
    assert!(std::fs::symlink_metadata(etc.join("nginx/sites-enabled/default")).is_err());
    let vassal = std::fs::read_to_string(t.s.dir.join("vassals/wptdash_uwsgi.ini")).unwrap();
    assert!(
        vassal.contains(&format!("chdir = {}/site", base.display()))
            && vassal.contains(&format!("virtualenv = {}/venv", base.display())),
        "{vassal}"
    );
    let unit = std::fs::read_to_string(etc.join("systemd/emperor.uwsgi.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/uwsgi --ini /etc/uwsgi/emperor.ini"));

    // Again: nothing changes.
    let again = run(&[]).success();
    assert!(
        !again
            .stderr
            .lines()
            .any(|l| l.starts_with('[') && l.contains(" changed ")),
        "changed again:\n{}",
        again.stderr
    );
}

#[test]
fn logs_in_a_wptdash_checkout_reads_the_log_its_vassal_names_with_no_variable_set() {
    let t = setup();
    let s = &t.s;
    let base = &s.base_path;
    as_ansible_left_it(s, &t.pg, base, "master", "www-data");
    // The server's vassal, as wptdash's uwsgi role renders it: its log is
    // `logger = file:SITE/logs/uwsgi.log`.
    let log = base.join("site/logs/uwsgi.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "spawned uWSGI worker 1\nGET / => generated 200\n").unwrap();
    std::fs::write(
        s.dir.join("vassals/wptdash_uwsgi.ini"),
        format!(
            "[uwsgi]\nsocket          = /tmp/wpt-pullresults.sock\nchdir           = {}/site\nlogger          = file:{}/site/logs/uwsgi.log\n",
            base.display(),
            base.display()
        ),
    )
    .unwrap();
    let logs = t.run(&["logs", "staging", "-n", "1"]).success();
    assert_eq!(logs.stdout, "GET / => generated 200\n", "{}", logs.stderr);
    assert_no_secret(&logs);
}
