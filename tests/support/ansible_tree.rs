//! A checkout shaped like w3c/wptdash's, written from scratch for the tests:
//! its `ansible/` tree (INI inventories of one host each with `[all:vars]`,
//! `group_vars/all/` holding vars.yml with provisioning variables that use
//! Ansible facts, a vault made by the real `ansible-vault`, and a
//! vault.sample; host_vars with an inline `!vault` value;
//! `roles/deploy/templates/config.txt.j2`), its hosts reached through
//! `~/.ssh/config` aliases; and a server laid out as Ansible left it.

#![allow(dead_code)] // Each test uses a different part of it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::postgres::Postgres;
use super::sandbox::{ansible_vault, git, run, shared_venv};
use super::ssh::{ssh_wrapper, write_ssh_config};
use super::{Run, Sandbox, bin, json};

/// The staging host's inventory name (an ssh config alias).
pub const STAGING: &str = "pulls-staging.example.test";
/// The production host's.
pub const PRODUCTION: &str = "pulls.example.test";

/// The vault's values: none of them may ever appear in any output.
pub const DB_PASSWORD: &str = "Vault-DB-s3cret-1";
/// A token, as wptdash's `vault_github_commenter_token`.
pub const COMMENTER_TOKEN: &str = "ghp_VaultToken0123456789";
/// A secret that YAML reads as a number.
pub const WEBHOOK_TOKEN: &str = "90817263";
/// The lines of a multi-line secret.
pub const KEY_LINES: [&str; 2] = ["first-KEY-line-aaa", "second-KEY-line-bbb"];
/// The value of the inline `!vault` in host_vars.
pub const INLINE_SECRET: &str = "Inline-v4ult-value";
/// The vault password.
pub const VAULT_PASSWORD: &str = "Tree-vault-PW-42";

/// The checkout and how to run wptdeploy in it.
pub struct AnsibleTree {
    /// The maintainer's checkout, where wptdeploy runs.
    pub checkout: PathBuf,
    /// `checkout/ansible`.
    pub ansible: PathBuf,
    /// The vault password, in a file outside the checkout.
    pub password_file: PathBuf,
    /// PATH with an `ssh` that reads the sandbox's ssh config (for `--transport openssh`).
    path: String,
}

/// Every value that must never print.
pub fn secrets() -> Vec<&'static str> {
    let mut all = vec![
        DB_PASSWORD,
        COMMENTER_TOKEN,
        WEBHOOK_TOKEN,
        INLINE_SECRET,
        VAULT_PASSWORD,
    ];
    all.extend(KEY_LINES);
    all
}

/// Where each host's releases go in the sandbox.
pub fn base_path(s: &Sandbox, host: &str) -> PathBuf {
    if host == PRODUCTION {
        s.dir.join("srv/production")
    } else {
        s.base_path.clone()
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

impl AnsibleTree {
    /// Writes the tree for `s`, whose hosts are logged into as `login`,
    /// using `pg` for the database; `vars` (YAML values) go into both
    /// hosts' host_vars, over the sandbox's stand-ins.
    pub fn write(s: &Sandbox, pg: &Postgres, login: &str, vars: &[(&str, &str)]) -> AnsibleTree {
        let checkout = s.dir.join("checkout");
        let ansible = checkout.join("ansible");
        let password_file = s.dir.join("vault-password");
        write(&password_file, &format!("{VAULT_PASSWORD}\n"));
        for (host, file) in [(STAGING, "staging"), (PRODUCTION, "production")] {
            write(
                &ansible.join("inventory").join(file),
                &format!(
                    "# The {file} server. site_fqdn is set on the host's line.\n{host} site_fqdn={host}\n\n[all:vars]\nansible_python_interpreter=python3\n"
                ),
            );
        }
        write(
            &ansible.join("group_vars/all/vars.yml"),
            &vars_yml(&s.origin_url),
        );
        let vault = ansible.join("group_vars/all/vault");
        write(
            &vault,
            &format!(
                "vault_db_password: {DB_PASSWORD}\nvault_github_commenter_token: {COMMENTER_TOKEN}\nvault_github_webhook_token: {WEBHOOK_TOKEN}\nvault_deploy_key: |\n  {}\n  {}\n",
                KEY_LINES[0], KEY_LINES[1]
            ),
        );
        run(Command::new(ansible_vault())
            .args(["encrypt", "--vault-password-file"])
            .arg(&password_file)
            .arg(&vault));
        // Not YAML that Ansible reads: its extension keeps it out.
        write(
            &ansible.join("group_vars/all/vault.sample"),
            "# vault_db_password: MY_DB_PASSWORD\n# vault_github_commenter_token: 1234\nthis is: not: yaml\n",
        );
        write(
            &ansible.join("roles/deploy/templates/config.txt.j2"),
            CONFIG_TEMPLATE,
        );
        // Ansible-only values (facts, a registered `sha`): never rendered by a deploy.
        write(
            &ansible.join("roles/deploy/templates/build.txt.j2"),
            "date: {{ansible_date_time.iso8601}}\nsha: {{sha.stdout}}\nenv: {{env}}\n",
        );
        // wptdash's: the handler restarts the uwsgi emperor, and the role
        // writes config.txt into the release (what wptdeploy reads the
        // restart and config_path from).
        write(
            &ansible.join("deploy.yml"),
            "- hosts: all\n  become: yes\n  roles:\n    - {name: deploy, tags: deploy}\n  handlers:\n    - name: restart uwsgi\n      systemd: name=emperor.uwsgi state=restarted\n",
        );
        // wptdash's build: pip installs the checkout into a virtualenv with
        // the system's site-packages (what `venv_site_packages` is read from).
        write(
            &ansible.join("roles/deploy/tasks/build.yml"),
            "- name: Install Flask App\n  pip:\n    name: \"{{clone_path}}\"\n    state: present\n    virtualenv: \"{{base_path}}/venv\"\n    virtualenv_python: python3\n    virtualenv_site_packages: yes\n  become: yes\n  become_user: www-data\n  notify: restart uwsgi\n",
        );
        write(
            &ansible.join("roles/deploy/tasks/main.yml"),
            "- name: Add config file to app\n  template:\n    src: config.txt.j2\n    dest: \"{{site_path}}/config.txt\"\n    backup: no\n  notify: restart uwsgi\n",
        );
        // wptdash's uwsgi role installs the vassal the emperor runs (what
        // wptdeploy reads `app_server: uwsgi-emperor` and `uwsgi_vassal`
        // from); this host has a stand-in file, touched at each cut-over.
        write(
            &ansible.join("roles/uwsgi/tasks/main.yml"),
            "- name: Create /etc/uwsgi\n  file:\n    path: /etc/uwsgi/vassals\n    state: directory\n- name: uwsgi.ini is loaded\n  template:\n    src: uwsgi.ini.j2\n    dest: /etc/uwsgi/vassals/{{project_name}}_uwsgi.ini\n    backup: no\n- name: emperor.ini is loaded\n  template:\n    src: emperor.ini.j2\n    dest: /etc/uwsgi/emperor.ini\n",
        );
        let vassal = s.dir.join("vassals/wptdash_uwsgi.ini");
        write(&vassal, "[uwsgi]\nchdir = site\n");
        let inline = run(Command::new(ansible_vault())
            .args(["encrypt_string", "--vault-password-file"])
            .arg(&password_file)
            .args(["--name", "inline_note", INLINE_SECRET]));
        let mut stand_ins: Vec<(String, String)> = vec![
            ("restart_command".into(), json("")),
            ("uwsgi_vassal".into(), json(&vassal.display().to_string())),
            ("python".into(), json(super::sandbox::SYSTEM_PYTHON)),
            // The tree says system site-packages (so pip); here uv builds
            // from the run's shared cache in a second. The system
            // site-packages build is deploy.rs's test.
            ("venv_site_packages".into(), "false".into()),
            (
                "root_state_path".into(),
                json(&s.dir.join("root-state").display().to_string()),
            ),
            (
                "healthcheck_command".into(),
                json("{{ venv_path }}/bin/python manage.py routes"),
            ),
        ];
        stand_ins.extend(pg.inventory_vars());
        for (key, value) in vars {
            stand_ins.retain(|(k, _)| k != key);
            stand_ins.push(((*key).to_owned(), (*value).to_owned()));
        }
        for host in [STAGING, PRODUCTION] {
            let mut text = format!(
                "# This sandbox's stand-ins for what the real server has.\nbase_path: {}\n",
                json(&base_path(s, host).display().to_string())
            );
            for (key, value) in &stand_ins {
                text.push_str(&format!("{key}: {value}\n"));
            }
            text.push_str(&inline);
            write(
                &ansible.join("host_vars").join(format!("{host}.yml")),
                &text,
            );
        }
        let config = write_ssh_config(
            s,
            &format!(
                "Host {STAGING} {PRODUCTION}\n    HostName 127.0.0.1\n    Port {}\n    User {login}\n    IdentityFile {}\n",
                s.ssh_port,
                s.key.display()
            ),
        );
        let path = ssh_wrapper(s, &format!("-F {}", config.display()));
        AnsibleTree {
            checkout,
            ansible,
            password_file,
            path,
        }
    }

    /// `wptdeploy` in the checkout, as its maintainer runs it (no
    /// `--inventory`: ./ansible/inventory is found).
    pub fn command(&self, s: &Sandbox) -> Command {
        let mut command = s.command(bin());
        command
            .current_dir(&self.checkout)
            .env_remove("WPTDEPLOY_INVENTORY")
            .env("PATH", &self.path)
            .arg("--no-progress");
        command
    }

    /// `wptdeploy ARGS` in the checkout, plain output.
    pub fn wptdeploy(&self, s: &Sandbox, args: &[&str]) -> Run {
        Run::from_command(self.command(s).args(args))
    }

    /// The same with the vault password file.
    pub fn with_vault(&self, s: &Sandbox, args: &[&str]) -> Run {
        let file = self.password_file.display().to_string();
        let mut all = vec!["--vault-password-file", file.as_str()];
        all.extend(args);
        self.wptdeploy(s, &all)
    }
}

/// Asserts that no secret of the tree appears in what `run` printed.
#[track_caller]
pub fn assert_no_secret(run: &Run) {
    for secret in secrets() {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{secret} was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// wptdash's group_vars/all/vars.yml, in shape: deploy variables mixed with
/// provisioning ones a deploy never uses (one of them needs a fact).
fn vars_yml(origin: &str) -> String {
    format!(
        r#"---
# PROJECT
env: production
project_name: wpt-pullresults
hostname: "{{{{project_name}}}}"
site_fqdn: "pulls.example.test"

# PROVISIONING (configure.yml; a deploy never uses these)
apt_keys:
  - "https://apt.example.test/ACCC4CF8.asc"
apt_repos:
  - "ppa:git-core/ppa"
  - "deb http://apt.example.test/pub/repos/apt/ {{{{ ansible_distribution_release }}}}-pgdg main"
apt_packages: [build-essential, nginx, git, libpq-dev]
pip3_packages: [virtualenv, uwsgi]
ssl: true
letsencrypt_email: ops@example.test
nginx_dir: /etc/nginx
conf_dir: "{{{{nginx_dir}}}}/conf.d"
users:
  - name: alice
    state: present
    groups: sudo,www-data
    shadow_pass: $1$abcdefgh$0123456789abcdefghijk.
    public_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExample alice

# DEPLOY
base_path: "/var/www/{{{{project_name}}}}"
clone_path: "{{{{base_path}}}}/temp"
site_path: "{{{{base_path}}}}/site"
keep_n_most_recent: 3
build_info_path: "wptdash/static/build.txt"
remote: w3c
commit: master
git_repo: {origin}
force: false
local: false

# APPLICATION CONFIGURATION
db_name: wptdash
db_user: wptdash
github_org: w3c
github_repo: web-platform-tests
github_commenter: w3c-bots
db_password: "{{{{ vault_db_password }}}}"
github_commenter_token: "{{{{ vault_github_commenter_token }}}}"
github_webhook_token: "{{{{ vault_github_webhook_token }}}}"
"#
    )
}

/// wptdash's roles/deploy/templates/config.txt.j2, in shape, with the
/// sandbox's database socket and two more secrets.
const CONFIG_TEMPLATE: &str = "[app]
APP_DOMAIN = {{site_fqdn}}

[postgresql]
WPTDASH_DB = {{db_name}}
WPTDASH_DB_USER = {{db_user}}
WPTDASH_DB_PASS = {{db_password}}
WPTDASH_DB_HOST = {{ db_host | default('') }}
WPTDASH_DB_PORT = {{ db_port | default('') }}

[GitHub]
GH_COMMENTER = {{github_commenter}}
GH_TOKEN = {{github_commenter_token}}
GH_WEBHOOK_TOKEN = {{github_webhook_token}}
ORG = {{github_org}}
REPO = {{github_repo}}

[deploy]
NOTE = {{ inline_note }}
KEY = {{ vault_deploy_key | indent(4) }}
";

/// Lays `base` out as wptdash's Ansible deploy left it: created by root;
/// the release of `reference` checked out in `base/SHA`, owned by
/// `app_user`, with a root-owned config.txt; `site` pointing at it; a
/// real virtualenv in `base/venv`; a root-owned `temp` from a failed run;
/// and the database upgraded by that release, as Ansible's last step did.
/// Returns the release's SHA.
pub fn as_ansible_left_it(
    s: &Sandbox,
    pg: &Postgres,
    base: &Path,
    reference: &str,
    app_user: &str,
) -> String {
    let sha = s.sha(reference);
    std::fs::create_dir_all(base).unwrap();
    run(Command::new("chmod").arg("755").arg(base));
    let release = base.join(&sha);
    run(Command::new("git")
        .args(["clone", "-q", "--no-checkout"])
        .arg(&s.origin)
        .arg(&release));
    git(&release, &["checkout", "-q", "--detach", &sha]);
    run(Command::new("cp")
        .arg("-a")
        .arg(shared_venv())
        .arg(base.join("venv")));
    let _ = std::fs::remove_file(base.join("venv/.wptdeploy-requirements"));
    for owned in [&release, &base.join("venv")] {
        run(Command::new("chown").args(["-R", app_user]).arg(owned));
    }
    std::os::unix::fs::symlink(&release, base.join("site")).unwrap();
    run(Command::new("chown")
        .args(["-h", app_user])
        .arg(base.join("site")));
    // Templated as root after the chown, as Ansible's role did.
    write(
        &release.join("config.txt"),
        &format!(
            "[postgresql]\nWPTDASH_DB = wptdash\nWPTDASH_DB_USER = postgres\nWPTDASH_DB_HOST = {}\nWPTDASH_DB_PORT = {}\n",
            pg.socket_dir.display(),
            pg.port
        ),
    );
    write(
        &base.join("temp/setup.py"),
        "# left by a failed run, as root\n",
    );
    run(Command::new(base.join("venv/bin/python"))
        .args(["manage.py", "db", "upgrade"])
        .current_dir(base.join("site")));
    sha
}
