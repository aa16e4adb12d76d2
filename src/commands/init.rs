//! `wptdeploy init`: sets a project up for its first deploy. Detects the
//! app ([`Project`]), asks for what only the person knows (the servers, the
//! restart and health-check commands), each with a default, or takes them
//! from flags (without a terminal, what no flag gives is the detected value
//! or the default), and writes `inventory/staging`, `inventory/production`
//! and `inventory/group_vars/all.yml`, with comments. It never overwrites a
//! file unless told to (`--force`), and writes nothing if it would.

use std::path::{Path, PathBuf};

use dialoguer::Input;
use serde_json::json;

use super::Context;
use crate::cli::InitArgs;
use crate::error::CommandError;
use crate::error::Error;
use crate::project::{Dependencies, Project};

/// What the inventory will say.
struct Answers {
    host: String,
    production_host: String,
    user: String,
    port: Option<u16>,
    key: String,
    repo: String,
    branch: String,
    app_user: String,
    base_path: String,
    app_server: String,
    restart: String,
    healthcheck: String,
    healthcheck_url: String,
    db: String,
    config_path: String,
    wsgi_app: String,
    shared_paths: Vec<String>,
}

/// Runs `init`.
pub async fn run(args: Box<InitArgs>, cx: &mut Context<'_>) -> Result<(), Error> {
    let args: &InitArgs = &args;
    if let Some(tree) = &args.from_ansible {
        return from_ansible(tree, cx);
    }
    if !args.dir.is_dir() {
        return Err(CommandError::InitNoProject(args.dir.clone()).into());
    }
    let project = Project::detect(&args.dir);
    let inventory = args.dir.join("inventory");
    let answers = ask(args, &project, cx.settings)?;
    let mut files: Vec<(PathBuf, String)> = vec![
        (
            inventory.join("staging"),
            hosts_file("staging", &answers.host, &answers),
        ),
        (
            inventory.join("group_vars/all.yml"),
            group_vars(&project, &answers),
        ),
    ];
    if !answers.production_host.is_empty() {
        files.push((
            inventory.join("production"),
            hosts_file("production", &answers.production_host, &answers),
        ));
    }
    let vault = inventory.join("group_vars/all/vault");
    if let Some(sealed) = secrets_vault(args, cx.settings)? {
        files.push((vault.clone(), sealed));
    }
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, _)| shown(path))
        .collect();
    if !existing.is_empty() && !args.force {
        return Err(CommandError::InitWouldOverwrite(existing).into());
    }
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(path, text)?;
    }
    let written: Vec<String> = files.iter().map(|(p, _)| shown(p)).collect();
    crate::printer::note(cx.settings, &format!("wrote {}", written.join(", ")));
    if files.iter().any(|(p, _)| *p == vault) {
        crate::printer::note(
            cx.settings,
            &format!(
                "{} is encrypted with your vault password (keep it in a password manager): `wptdeploy vault edit {}` adds the database password and other secrets; deploys need the password too (`--ask-vault-pass` or `--vault-password-file FILE`)",
                shown(&vault),
                shown(&vault)
            ),
        );
    }
    crate::printer::note(cx.settings, &next_steps(&args.dir, &project, &answers));
    Ok(())
}

/// The vault of the new app's secrets, encrypted (`None`: no vault): with
/// `--vault`, or at a terminal if the person says so. Its password is the
/// one the options give, else asked for twice.
fn secrets_vault(args: &InitArgs, settings: &crate::settings::Settings) -> Result<Option<String>, Error> {
    let wanted = if args.vault {
        true
    } else if args.no_vault || !settings.attended {
        false
    } else {
        dialoguer::Confirm::new()
            .with_prompt("Keep the app's secrets in an encrypted vault (inventory/group_vars/all/vault)?")
            .default(true)
            .interact()
            .map_err(|e| CommandError::VaultPassword(format!("could not read the answer: {e}")))?
    };
    if !wanted {
        return Ok(None);
    }
    let password = match settings.vault.encrypting(None) {
        Some(password) => password.clone(),
        None if settings.attended => crate::vault::VaultPassword {
            label: None,
            password: dialoguer::Password::new()
                .with_prompt("New vault password")
                .with_confirmation("Again", "the two passwords differ")
                .interact()
                .map_err(|e| CommandError::VaultPassword(format!("could not read the vault password: {e}")))?,
            source: "the prompt".into(),
        },
        None => {
            return Err(CommandError::VaultPassword(
                "`--vault` needs the vault password to encrypt with, and there is no terminal to ask on: give `--vault-password-file FILE`".into(),
            )
            .into());
        }
    };
    let key: String = {
        use rand::RngCore as _;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    let text = format!(
        "# The app's secrets, encrypted: `wptdeploy vault edit` changes them.\n# Every value here is masked in all of wptdeploy's output.\nsecret_key: {key}\n"
    );
    Ok(Some(crate::vault::seal(text.as_bytes(), &password)))
}

/// A path as the person gave it, without a leading `./`.
fn shown(path: &Path) -> String {
    path.strip_prefix(".").unwrap_or(path).display().to_string()
}

/// Each value: the flag's, else (with a terminal) the answer to a question
/// whose default is the detected value, else that value.
fn ask(
    args: &InitArgs,
    project: &Project,
    settings: &crate::settings::Settings,
) -> Result<Answers, Error> {
    let attended = settings.attended;
    let question = |prompt: &str, given: &Option<String>, default: &str| -> Result<String, Error> {
        if let Some(given) = given {
            return Ok(given.trim().to_owned());
        }
        if !attended {
            return Ok(default.to_owned());
        }
        let answer: String = Input::new()
            .with_prompt(prompt)
            .default(default.to_owned())
            .allow_empty(true)
            .interact_text()
            .map_err(|dialoguer::Error::IO(e)| e)?;
        Ok(answer.trim().to_owned())
    };
    let host = question("Staging server (host name or address)", &args.host, "")?;
    if host.is_empty() {
        return Err(CommandError::InitNeeds {
            what: "the staging server's address",
            flag: "--host HOST",
        }
        .into());
    }
    let user = question(
        "SSH user wptdeploy logs in as",
        &args.user,
        &crate::transport::local_user(),
    )?;
    let port = question(
        "SSH port",
        &args.port.map(|p| p.to_string()),
        "22",
    )?;
    let port: Option<u16> = match port.as_str() {
        "" | "22" => None,
        other => Some(other.parse().map_err(|_| CommandError::InitBadValue {
            what: "SSH port",
            value: other.to_owned(),
            why: "it must be a number from 1 to 65535",
        })?),
    };
    let key = question(
        "Private key file to log in with (empty: ssh-agent and ssh's own)",
        &args.key,
        "",
    )?;
    let production_host = question(
        "Production server (empty: none yet)",
        &args.production_host,
        "",
    )?;
    let name = &project.name;
    let repo = question(
        "Repository the servers clone",
        &args.repo,
        project.repo.as_deref().unwrap_or_default(),
    )?;
    let branch = question(
        "Branch deployed by default",
        &args.branch,
        project.branch.as_deref().unwrap_or("main"),
    )?;
    let app_user = question("User the app runs as", &args.app_user, "www-data")?;
    let base_path = question(
        "Where releases live on the servers",
        &args.base_path,
        &format!("/srv/{name}"),
    )?;
    let app_server = question(
        "App server: gunicorn (`wptdeploy setup` writes its unit and nginx's site), uwsgi-emperor, systemd, or command (a restart command)",
        &args.app_server,
        if project.gunicorn { "gunicorn" } else { "command" },
    )?;
    if !crate::steps::reload::APP_SERVERS.contains(&app_server.as_str()) {
        return Err(CommandError::InitNeeds {
            what: "an app server: one of gunicorn, uwsgi-emperor, systemd, command",
            flag: "--app-server",
        }
        .into());
    }
    let restart = if app_server == "command" {
        question(
            "Command that restarts the app, as root (empty: none)",
            &args.restart,
            "",
        )?
    } else {
        args.restart.clone().unwrap_or_default()
    };
    let healthcheck = question(
        "Command that must succeed in the new release (empty: none)",
        &args.healthcheck,
        "",
    )?;
    let healthcheck_url = question(
        "URL that must answer 2xx on the server (empty: none)",
        &args.healthcheck_url,
        "",
    )?;
    let db_default = if project.migrations_dir.is_some() {
        name.replace('-', "_")
    } else {
        String::new()
    };
    let db = question(
        "PostgreSQL database the migrations run on (empty: none)",
        &args.db,
        &db_default,
    )?;
    if args.config_path.is_none() || args.wsgi_app.is_none() {
        crate::printer::note(settings, &detected(project));
    }
    let config_path = question(
        "Where the app reads its config file, relative to a release (empty: none is written)",
        &args.config_path,
        &project
            .config_files
            .first()
            .map(|c| c.path.clone())
            .unwrap_or_default(),
    )?;
    let wsgi_app = question(
        "The app's WSGI entry point, loaded before each switch (MODULE:VARIABLE; empty: read from the app server)",
        &args.wsgi_app,
        project.wsgi_app.as_deref().unwrap_or_default(),
    )?;
    let shared_paths = question(
        "Directories that outlive a release, kept in base_path/shared (comma-separated; empty: none)",
        &args.shared_paths,
        &project.shared_dirs.join(", "),
    )?
    .split(',')
    .map(|p| p.trim().trim_end_matches('/').to_owned())
    .filter(|p| !p.is_empty())
    .collect();
    let answers = Answers {
        host,
        production_host,
        user,
        port,
        key,
        repo,
        branch,
        app_user,
        base_path,
        app_server,
        restart,
        healthcheck,
        healthcheck_url,
        db,
        config_path,
        wsgi_app,
        shared_paths,
    };
    check_inline("host", &answers.host)?;
    check_inline("production host", &answers.production_host)?;
    check_inline("user", &answers.user)?;
    check_inline("key file", &answers.key)?;
    Ok(answers)
}

/// What was found of the app's config files and entry point, said
/// before anything is asked or written.
fn detected(project: &Project) -> String {
    let config = if project.config_files.is_empty() {
        "detected config files: none (no .env, instance/ folder or config template in the checkout)"
            .to_owned()
    } else {
        let found: Vec<String> = project
            .config_files
            .iter()
            .map(|c| format!("  {} ({})", c.path, c.because))
            .collect();
        format!(
            "detected config files the app may read, likeliest first:\n{}",
            found.join("\n")
        )
    };
    let entry = project.wsgi_app.as_deref().map_or_else(
        || "detected WSGI entry point: none (no wsgi.py, app.py or package with an `app` or `create_app`)".to_owned(),
        |e| format!("detected WSGI entry point: {e}"),
    );
    format!("{config}\n{entry}")
}

/// A value written into an INI host line: one word.
fn check_inline(what: &'static str, value: &str) -> Result<(), Error> {
    if value
        .chars()
        .any(|c| c.is_whitespace() || "\"'#;=".contains(c))
    {
        return Err(CommandError::InitBadValue {
            what,
            value: value.to_owned(),
            why: "it must be one word, without quotes, `#`, `;` or `=`",
        }
        .into());
    }
    Ok(())
}

/// `inventory/ENV`: the group and its one host, with how to log in.
fn hosts_file(env: &str, host: &str, answers: &Answers) -> String {
    let mut line = host.to_owned();
    if !answers.user.is_empty() {
        line.push_str(&format!(" ansible_user={}", answers.user));
    }
    if let Some(port) = answers.port {
        line.push_str(&format!(" ansible_port={port}"));
    }
    if !answers.key.is_empty() {
        line.push_str(&format!(" ansible_ssh_private_key_file={}", answers.key));
    }
    format!(
        "# `wptdeploy {env}` deploys to the hosts of [{env}] (written by `wptdeploy init`).\n\
         # More hosts: one a line. Their variables: group_vars/{env}.yml, or on the line.\n\
         [{env}]\n{line}\n"
    )
}

/// `inventory/group_vars/all.yml`: every value with what it does.
fn group_vars(project: &Project, answers: &Answers) -> String {
    let q = |s: &str| json!(s).to_string();
    let dependencies = match project.dependencies {
        Dependencies::Requirements => {
            "requirements.txt is installed into each release's virtualenv."
        }
        Dependencies::Package => {
            "No requirements.txt: the release itself is installed (pyproject.toml or setup.py)."
        }
        Dependencies::None => "No requirements.txt, pyproject.toml or setup.py was found: add one.",
    };
    // (comment, variable, value): an empty comment continues the one before.
    let mut lines: Vec<(&str, &str, String)> = vec![
        ("", "project_name", q(&project.name)),
        (
            "The repository the servers clone (they need read access).",
            "git_repo",
            q(&answers.repo),
        ),
        (
            "The ref deployed when no --commit is given.",
            "commit",
            q(&answers.branch),
        ),
        (
            "Each release is base_path/SHA; base_path/site points at the live one.",
            "base_path",
            q(&answers.base_path),
        ),
        (
            "Owns the releases; the build, the migrations and the switch run as this user.",
            "app_user",
            q(&answers.app_user),
        ),
        (
            "How a new release is served (docs/cutover.md): gunicorn (a HUP to the master\n# of the unit `wptdeploy setup` writes), uwsgi-emperor, systemd, command.",
            "app_server",
            q(&answers.app_server),
        ),
        (
            "Run as root after the switch, and after a switch back (empty: no restart).",
            "restart_command",
            q(&answers.restart),
        ),
        (
            "Run as app_user in the new release after the switch; if it fails, the\n# previous release goes back (empty: no check).",
            "healthcheck_command",
            q(&answers.healthcheck),
        ),
        (
            "Fetched on the server; must answer 2xx (empty: no check).",
            "healthcheck_url",
            q(&answers.healthcheck_url),
        ),
        (dependencies, "requirements_file", q("requirements.txt")),
    ];
    match (&project.migrations_dir, &project.launcher) {
        (Some(dir), Some(launcher)) if !answers.db.is_empty() => lines.extend([
            (
                "Flask-Migrate: `--migrate` upgrades this database with this command's `upgrade`.",
                "db_name",
                q(&answers.db),
            ),
            (
                "",
                "migrate_command",
                q(&format!("{} db", launcher.command())),
            ),
            ("", "migrations_dir", q(dir)),
            (
                "PostgreSQL's role the app and its migrations log in as (`wptdeploy setup`\n# makes it). Without a password (`postgresql:///DB`), PostgreSQL lets a
# user of the host in as the role of its own name: the app's user.",
                "db_user",
                q("{{ app_user }}"),
            ),
        ]),
        _ => lines.push((
            "No Flask-Migrate found (or no database given): deploys do not look at a database.",
            "check_pending_migrations",
            "false".into(),
        )),
    }
    if let Some(build) = &project.served_build_file {
        lines.push((
            "The release's build file (its SHA), in the app's static folder: after the\n# switch the cut-over waits until /static/build.txt names the new release.",
            "build_info_path",
            q(build),
        ));
    }
    lines.push((
        "The WSGI entry point each new release is loaded with before the switch\n# (empty: read from the running app server: gunicorn, the uWSGI vassal).",
        "wsgi_app",
        q(&answers.wsgi_app),
    ));
    let config = if answers.config_path.is_empty() {
        "No config file is written into releases; to write one, add\n# playbooks/templates/config.txt.j2 and set its path here."
    } else {
        "playbooks/templates/config.txt.j2 is written here in each release (mode 0640)."
    };
    lines.push((config, "config_path", q(&answers.config_path)));
    lines.push((
        "Directories that outlive a release: kept once in base_path/shared and linked\n# into each release before the switch (shared_files does the same for files).",
        "shared_paths",
        json!(answers.shared_paths).to_string(),
    ));
    let mut out = String::from(
        "# Written by `wptdeploy init`: what every deploy of this project uses.\n\
         # Every variable and its default: docs/variables.md. Per environment:\n\
         # group_vars/staging.yml and group_vars/production.yml.\n",
    );
    for (comment, name, value) in lines {
        if !comment.is_empty() {
            out.push_str(&format!("\n# {comment}\n"));
        }
        out.push_str(&format!("{name}: {value}\n"));
    }
    out
}

/// What to type next.
fn next_steps(dir: &Path, project: &Project, answers: &Answers) -> String {
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!(
            "cd {} && ",
            crate::transport::quote(&dir.display().to_string())
        )
    };
    let mut text = format!(
        "next:\n  {cd}wptdeploy setup staging --check  # what the server lacks (user, directories, database, app server, nginx); nothing changes\n  {cd}wptdeploy setup staging          # make it so, as root\n  {cd}wptdeploy staging --check    # the plan, step by step (-v: the exact commands); nothing changes\n  {cd}wptdeploy staging            # the first deploy of {}",
        answers.branch
    );
    if project.migrations_dir.is_some() && !answers.db.is_empty() {
        text.push_str(&format!(
            "\n  {cd}wptdeploy staging --migrate  # and upgrade {} with the release's migrations",
            answers.db
        ));
    }
    if !answers.config_path.is_empty()
        && answers.config_path != "config.txt"
        && !project.config_template
    {
        text.push_str(&format!(
            "\nwrite playbooks/templates/config.txt.j2 as {} should read (the built-in one is the INI file wptdash reads as config.txt)",
            answers.config_path
        ));
    }
    if answers.repo.is_empty() {
        text.push_str(
            "\nset `git_repo` in inventory/group_vars/all.yml first: this checkout has no `origin`",
        );
    }
    text
}

/// `init --from-ansible DIR`: the tree is wptdeploy's inventory as it is;
/// says what wptdeploy reads from it, environment by environment.
fn from_ansible(tree: &Path, cx: &Context<'_>) -> Result<(), Error> {
    let inventory = tree.join("inventory");
    let mut environments: Vec<String> = fs_err::read_dir(&inventory)?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && !name.contains('.'))
        .collect();
    environments.sort();
    let mut lines = vec![format!(
        "{} is read as it is: nothing to write. What wptdeploy reads from it:",
        shown(tree)
    )];
    for env in &environments {
        match crate::inventory::load(env, Some(&inventory), &cx.settings.vault) {
            Ok(loaded) => {
                let hosts: Vec<&str> = loaded.hosts.iter().map(|h| h.name.as_str()).collect();
                lines.push(format!("  {env}: {}", hosts.join(", ")));
            }
            Err(error) => lines.push(format!(
                "  {env}: its hosts cannot be listed yet: {error} (`--ask-vault-pass` or `--vault-password-file FILE`)"
            )),
        }
    }
    let implied = crate::inventory::implied_by_tree(tree);
    for (name, value) in &implied.values {
        let place = implied
            .origins
            .get(name)
            .map(|o| o.place.clone())
            .unwrap_or_default();
        let value = match value {
            serde_yaml::Value::String(text) => text.clone(),
            other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
        };
        lines.push(format!("  {name}: {value} (from {place})"));
    }
    let found_here = crate::inventory::DEFAULT_LOCATIONS
        .iter()
        .any(|l| Path::new(l).canonicalize().ok() == inventory.canonicalize().ok());
    let from = if found_here {
        String::new()
    } else {
        format!(" -i {}", crate::transport::quote(&shown(&inventory)))
    };
    let first = if environments.iter().any(|e| e == "staging") {
        "staging"
    } else {
        environments.first().map_or("staging", String::as_str)
    };
    lines.push(format!(
        "next:\n  wptdeploy {first}{from} --check --ask-vault-pass    # the plan against the server as Ansible left it; nothing changes"
    ));
    crate::printer::note(cx.settings, &lines.join("\n"));
    Ok(())
}
