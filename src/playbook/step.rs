//! The step vocabulary of a playbook.
//!
//! ```yaml
//! - name: install dependencies
//!   pip:
//!     venv: "{{ venv_path }}"
//!     requirements: "{{ release.build_path }}/requirements.txt"
//!   become: "{{ app_user }}"
//!   when: release.new
//!   timeout: 10m
//! ```
//!
//! Every value is a template, rendered when the step runs (so it can use
//! what earlier steps registered). Exactly one kind key per step.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A template: any YAML scalar, kept as text until the step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpl(pub String);

impl<'de> Deserialize<'de> for Tmpl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(s) => Ok(Tmpl(s)),
            serde_yaml::Value::Number(n) => Ok(Tmpl(n.to_string())),
            serde_yaml::Value::Bool(b) => Ok(Tmpl(b.to_string())),
            _ => Err(D::Error::custom("expected a string, number or boolean")),
        }
    }
}

/// `checkout:` clone `repo` at `ref` and resolve it to a full SHA.
///
/// Registers `{sha, new, path, build_path}`: `path` is `releases/SHA`;
/// `build_path` is where to build (`clone_path` for a new release).
/// An already-deployed SHA is not cloned again unless `force` is true.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutArgs {
    /// The git repository URL or path.
    pub repo: Tmpl,
    /// Branch, tag or commit.
    #[serde(rename = "ref")]
    pub reference: Tmpl,
    /// The directory holding one directory per release, named by SHA.
    pub releases: Tmpl,
    /// Where a new release is cloned and built before it is published.
    pub clone_path: Tmpl,
    /// Rebuild even if the release exists.
    #[serde(default)]
    pub force: Option<Tmpl>,
    /// The live symlink: the note then says which release is live now.
    #[serde(default)]
    pub live: Option<Tmpl>,
}

/// `pip:` install requirements into a virtualenv (created if missing);
/// skipped when the requirements are unchanged since the last install.
/// Without a requirements file, a `project` with `setup.py` or
/// `pyproject.toml` is installed itself (`pip install PROJECT`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipArgs {
    /// The virtualenv directory.
    pub venv: Tmpl,
    /// The requirements file.
    pub requirements: Tmpl,
    /// The release directory, installed when there is no requirements file.
    #[serde(default)]
    pub project: Option<Tmpl>,
    /// The Python that creates the virtualenv (default `python3`).
    #[serde(default)]
    pub python: Option<Tmpl>,
    /// Create the virtualenv with the system's site packages (`true`/`false`).
    #[serde(default)]
    pub site_packages: Option<Tmpl>,
}

/// `template:` render a file locally and write it on the host, atomically.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateArgs {
    /// A template file, relative to the playbooks directory.
    #[serde(default)]
    pub src: Option<String>,
    /// Or the template text itself.
    #[serde(default)]
    pub content: Option<String>,
    /// Destination path on the host.
    pub dest: Tmpl,
    /// Octal file mode (default `0644`); a file that holds a secret is
    /// never written readable by others or writable by its group.
    #[serde(default)]
    pub mode: Option<Tmpl>,
    /// The file this one replaces, which `--check` shows the diff against
    /// (default: `dest`).
    #[serde(default)]
    pub current: Option<Tmpl>,
}

/// `own:` make `path` (`base_path`) and what the app user must write in
/// it its own. `action: check` (read-only) registers `{needed, paths}`;
/// `action: fix` (run it as root) creates `path` if missing and hands
/// over, recursively, the listed paths inside it and the release
/// directories that are not all the user's. Symlinks are never followed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnArgs {
    /// The directory (`base_path`).
    pub path: Tmpl,
    /// The user who must own it.
    pub user: Tmpl,
    /// Paths inside it that must be the user's too, if they exist.
    #[serde(default)]
    pub inside: Vec<Tmpl>,
    /// `check` or `fix`.
    pub action: Tmpl,
}

/// `switch:` point the symlink `link` at `target`, atomically.
/// Registers `{previous, current}`; a later failure switches back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchArgs {
    /// The symlink (e.g. `site_path`).
    pub link: Tmpl,
    /// The release it should point at.
    pub target: Tmpl,
}

/// `prune:` keep the `keep` newest release directories (40-hex names) in
/// `releases`, never removing the live one or those in `protect`; with
/// `backups`, a removed release's database backups go with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneArgs {
    /// The directory holding the releases.
    pub releases: Tmpl,
    /// How many to keep.
    pub keep: Tmpl,
    /// The live symlink, whose target is never removed.
    pub link: Tmpl,
    /// More release paths never to remove.
    #[serde(default)]
    pub protect: Vec<Tmpl>,
    /// The directory of database backups named after releases.
    #[serde(default)]
    pub backups: Option<Tmpl>,
}

/// `healthcheck:` a command that must exit 0, or a URL that must answer
/// 2xx (fetched on the host with curl), retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckArgs {
    /// A shell command.
    #[serde(default)]
    pub command: Option<Tmpl>,
    /// A URL.
    #[serde(default)]
    pub url: Option<Tmpl>,
    /// Attempts before failing (default 5).
    #[serde(default)]
    pub retries: Option<Tmpl>,
    /// Seconds between attempts (default 2).
    #[serde(default)]
    pub delay: Option<Tmpl>,
}

/// `lock:` take the deploy lock (a directory created atomically);
/// released when the run ends, however it ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockArgs {
    /// The lock directory.
    pub path: Tmpl,
}

/// `migrations:` Flask-Migrate/alembic through `command` (e.g.
/// `{{ venv_path }}/bin/python manage.py db`) in the release at `path`.
///
/// `action: check` (read-only, so it also runs under `--check`) requires
/// exactly one head and a database revision this release knows, and
/// registers `{head, current, pending}`. `action: upgrade` runs `upgrade`
/// (`action: downgrade`, `downgrade TO`)
/// and requires the database to be at `head` afterwards; when it fails it
/// says which revision the database is at. `action: pending` (read-only,
/// no migrate command: the files are read in Rust and the revision with
/// `psql`) fails when the release brings migrations the database has not had.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationsArgs {
    /// The migrate command, without the subcommand (a shell template; all
    /// actions but `pending`).
    #[serde(default)]
    pub command: Option<Tmpl>,
    /// The release directory to run it in.
    pub path: Tmpl,
    /// `check`, `upgrade`, `downgrade`, `describe`, `generate` or `pending`.
    pub action: Tmpl,
    /// `pending`: the psql command (a shell template).
    #[serde(default)]
    pub psql: Option<Tmpl>,
    /// `pending`: the database.
    #[serde(default)]
    pub database: Option<Tmpl>,
    /// `upgrade`: the revision the database must reach.
    #[serde(default)]
    pub head: Option<Tmpl>,
    /// `upgrade`: the revision the database was at before.
    #[serde(default)]
    pub from: Option<Tmpl>,
    /// The migration files' directory, relative to `path` (default `migrations/versions`).
    #[serde(default)]
    pub versions: Option<Tmpl>,
    /// `describe`: the revisions to read, comma-separated.
    #[serde(default)]
    pub revisions: Option<Tmpl>,
    /// `downgrade`: the revision to go back to (empty: `base`).
    #[serde(default)]
    pub to: Option<Tmpl>,
    /// `generate`: the migration's message (`migrate -m`).
    #[serde(default)]
    pub message: Option<Tmpl>,
    /// `generate`: the revision id to use (`migrate --rev-id`); empty: alembic picks one.
    #[serde(default)]
    pub rev_id: Option<Tmpl>,
}

/// `backup:` a `pg_dump -Fc` of `database` into `dir`, named after the
/// release, that fails closed: it must be non-empty and readable by
/// `pg_restore --list`, is written with mode 0600, and its restore command
/// is shown. Registers `{file}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupArgs {
    /// The pg_dump command (a shell template, e.g. `pg_dump`).
    pub dump: Tmpl,
    /// The pg_restore command, to check the backup reads back.
    pub restore: Tmpl,
    /// The database.
    pub database: Tmpl,
    /// The directory for backups.
    pub dir: Tmpl,
    /// The release the backup belongs to (pruned with it).
    pub release: Tmpl,
    /// The user pg_dump and pg_restore run as (e.g. `postgres`, for peer
    /// authentication), from the step's own user: run the step as root.
    #[serde(default)]
    pub db_user: Option<Tmpl>,
    /// Who owns the backup and its directory (the app user, so pruning
    /// can remove it).
    #[serde(default)]
    pub owner: Option<Tmpl>,
}

/// `fetch:` copy a file from the host to a local directory over SFTP,
/// checked against the host's SHA-256, never overwriting a local file. A
/// migration file is also read: registers `{local, revision, parent,
/// tables, expect}` and warns about what its review finds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    /// The file on the host.
    pub src: Tmpl,
    /// The local directory.
    pub dest: Tmpl,
}

/// `columns:` the seed's step 8: the columns of `tables` (comma-separated)
/// from `information_schema`, through `psql` (a shell template such as
/// `sudo -n -u postgres psql`), with table names passed as data. Fails when
/// `expect` (comma-separated `table.column[:type]` or `!table.column`) does
/// not hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsArgs {
    /// The psql command.
    pub psql: Tmpl,
    /// The database.
    pub database: Tmpl,
    /// Tables, comma-separated.
    pub tables: Tmpl,
    /// Expectations, comma-separated.
    #[serde(default)]
    pub expect: Option<Tmpl>,
}

/// `upload:` copy a local file (read when the step runs, so after any
/// earlier local edit) to the host, atomically, like `template:` but
/// verbatim. A migration file is also read: registers `{local, path, file,
/// revision, parent, tables, expect, unexpect}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadArgs {
    /// The local file.
    pub src: Tmpl,
    /// Destination path on the host.
    pub dest: Tmpl,
    /// Octal file mode (default `0644`).
    #[serde(default)]
    pub mode: Option<Tmpl>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// `run:` a shell command (values auto-quoted).
    Run(Tmpl),
    /// `lock:`
    Lock(LockArgs),
    /// `checkout:`
    Checkout(CheckoutArgs),
    /// `pip:`
    Pip(PipArgs),
    /// `template:` (with the template text loaded)
    Template(TemplateArgs, TemplateBody),
    /// `switch:`
    Switch(SwitchArgs),
    /// `prune:`
    Prune(PruneArgs),
    /// `own:`
    Own(OwnArgs),
    /// `restart:` a command that restarts the app; rerun after a switch-back.
    Restart(Tmpl),
    /// `healthcheck:`
    Healthcheck(HealthcheckArgs),
    /// `migrations:`
    Migrations(MigrationsArgs),
    /// `columns:`
    Columns(ColumnsArgs),
    /// `fetch:`
    Fetch(FetchArgs),
    /// `backup:`
    Backup(BackupArgs),
    /// `upload:`
    Upload(UploadArgs),
    /// `local:` a shell command run on this machine with the terminal
    /// attached (an editor, git), values auto-quoted.
    Local(Tmpl),
    /// `say:` text shown to the person; nothing runs.
    Say(Tmpl),
    /// `- import: other.yml`: that playbook's steps, in place (replaced when
    /// the playbook is loaded, so the engine never sees it).
    Import(String),
}

/// The text of a `template:` step and where it came from.
#[derive(Debug, Clone, Default)]
pub struct TemplateBody {
    /// For messages: the file, or `inline`.
    pub origin: String,
    /// The template source.
    pub text: String,
}

/// One validated step.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct Step {
    /// Shown while it runs (a template).
    pub name: Tmpl,
    /// Run only when this expression is true.
    pub when: Option<String>,
    /// Run as this user (sudo), unless it is the login user.
    pub become_user: Option<Tmpl>,
    /// Working directory.
    pub cwd: Option<Tmpl>,
    /// Environment variables.
    pub env: BTreeMap<String, Tmpl>,
    /// Killed after this long.
    pub timeout: Option<Duration>,
    /// Store the result under this name for later steps.
    pub register: Option<String>,
    /// `background: true` (or a log file): start a `run:` or `restart:`
    /// detached and go on; its output is appended to the log file
    /// ([`DEFAULT_BACKGROUND_LOG`] for `true`).
    pub background: Option<Tmpl>,
    /// `false` for a `run:` that only looks (it then also runs in `--check`).
    pub changes: bool,
    /// What it does.
    pub action: Action,
    /// Line of the step in its playbook (0 when unknown).
    pub line: usize,
    /// The playbook file it comes from (playbooks can import others).
    pub origin: String,
}

/// The step as written, before its kind is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    #[serde(default)]
    name: Option<Tmpl>,
    #[serde(default)]
    import: Option<String>,
    #[serde(default)]
    when: Option<Tmpl>,
    #[serde(default, rename = "become")]
    become_user: Option<Tmpl>,
    #[serde(default)]
    cwd: Option<Tmpl>,
    #[serde(default)]
    env: BTreeMap<String, Tmpl>,
    #[serde(default)]
    timeout: Option<Tmpl>,
    #[serde(default)]
    register: Option<String>,
    #[serde(default)]
    background: Option<Tmpl>,
    #[serde(default)]
    changes: Option<bool>,
    #[serde(default)]
    run: Option<Tmpl>,
    #[serde(default)]
    lock: Option<LockArgs>,
    #[serde(default)]
    checkout: Option<CheckoutArgs>,
    #[serde(default)]
    pip: Option<PipArgs>,
    #[serde(default)]
    template: Option<TemplateArgs>,
    #[serde(default)]
    switch: Option<SwitchArgs>,
    #[serde(default)]
    prune: Option<PruneArgs>,
    #[serde(default)]
    own: Option<OwnArgs>,
    #[serde(default)]
    restart: Option<Tmpl>,
    #[serde(default)]
    healthcheck: Option<HealthcheckArgs>,
    #[serde(default)]
    migrations: Option<MigrationsArgs>,
    #[serde(default)]
    columns: Option<ColumnsArgs>,
    #[serde(default)]
    fetch: Option<FetchArgs>,
    #[serde(default)]
    backup: Option<BackupArgs>,
    #[serde(default)]
    upload: Option<UploadArgs>,
    #[serde(default)]
    local: Option<Tmpl>,
    #[serde(default)]
    say: Option<Tmpl>,
}

/// The step kinds, as their keys.
pub const KINDS: [&str; 17] = [
    "run",
    "lock",
    "checkout",
    "pip",
    "template",
    "switch",
    "prune",
    "own",
    "restart",
    "healthcheck",
    "migrations",
    "columns",
    "fetch",
    "backup",
    "upload",
    "local",
    "say",
];

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, String> {
        if let Some(file) = raw.import {
            let alone = raw.name.is_none()
                && raw.when.is_none()
                && raw.become_user.is_none()
                && raw.register.is_none();
            if !alone {
                return Err(format!(
                    "`import: {file}` stands alone: no name, when, become or register beside it"
                ));
            }
            return Ok(Step {
                name: Tmpl(format!("import {file}")),
                when: None,
                become_user: None,
                cwd: None,
                env: BTreeMap::new(),
                timeout: None,
                register: None,
                background: None,
                changes: true,
                action: Action::Import(file),
                line: 0,
                origin: String::new(),
            });
        }
        let name = raw
            .name
            .as_ref()
            .map(|n| n.0.clone())
            .ok_or("a step needs a `name`")?;
        let mut actions = Vec::new();
        if let Some(c) = raw.run {
            actions.push(("run", Action::Run(c)));
        }
        if let Some(a) = raw.lock {
            actions.push(("lock", Action::Lock(a)));
        }
        if let Some(a) = raw.checkout {
            actions.push(("checkout", Action::Checkout(a)));
        }
        if let Some(a) = raw.pip {
            actions.push(("pip", Action::Pip(a)));
        }
        if let Some(a) = raw.template {
            actions.push(("template", Action::Template(a, TemplateBody::default())));
        }
        if let Some(a) = raw.switch {
            actions.push(("switch", Action::Switch(a)));
        }
        if let Some(a) = raw.prune {
            actions.push(("prune", Action::Prune(a)));
        }
        if let Some(a) = raw.own {
            actions.push(("own", Action::Own(a)));
        }
        if let Some(c) = raw.restart {
            actions.push(("restart", Action::Restart(c)));
        }
        if let Some(a) = raw.healthcheck {
            actions.push(("healthcheck", Action::Healthcheck(a)));
        }
        if let Some(a) = raw.migrations {
            actions.push(("migrations", Action::Migrations(a)));
        }
        if let Some(a) = raw.columns {
            actions.push(("columns", Action::Columns(a)));
        }
        if let Some(a) = raw.fetch {
            actions.push(("fetch", Action::Fetch(a)));
        }
        if let Some(a) = raw.backup {
            actions.push(("backup", Action::Backup(a)));
        }
        if let Some(a) = raw.upload {
            actions.push(("upload", Action::Upload(a)));
        }
        if let Some(c) = raw.local {
            actions.push(("local", Action::Local(c)));
        }
        if let Some(t) = raw.say {
            actions.push(("say", Action::Say(t)));
        }
        if actions.len() != 1 {
            let found: Vec<&str> = actions.iter().map(|(k, _)| *k).collect();
            return Err(if found.is_empty() {
                format!(
                    "step `{name}` has no kind; add one of: {}",
                    KINDS.join(", ")
                )
            } else {
                format!(
                    "step `{name}` has more than one kind ({})",
                    found.join(", ")
                )
            });
        }
        let (kind, action) = actions.pop().expect("one action");
        if raw.background.is_some() && !matches!(kind, "run" | "restart") {
            return Err(format!(
                "step `{name}`: `background` applies only to `run` and `restart` steps"
            ));
        }
        if raw.changes.is_some() && kind != "run" {
            return Err(format!(
                "step `{name}`: `changes` applies only to `run` steps"
            ));
        }
        if matches!(kind, "local" | "say") && raw.become_user.is_some() {
            return Err(format!(
                "step `{name}`: `become` does not apply to a `{kind}` step, which runs on this machine"
            ));
        }
        if let Action::Healthcheck(h) = &action
            && h.command.is_some() == h.url.is_some()
        {
            return Err(format!(
                "step `{name}`: healthcheck needs exactly one of `command` or `url`"
            ));
        }
        if let Action::Template(t, _) = &action
            && t.src.is_some() == t.content.is_some()
        {
            return Err(format!(
                "step `{name}`: template needs exactly one of `src` or `content`"
            ));
        }
        if let Some(bad) = raw
            .env
            .keys()
            .find(|k| !crate::transport::command::is_env_name(k))
        {
            return Err(format!(
                "step `{name}`: `{bad}` is not a valid environment variable name"
            ));
        }
        if let Some(reg) = &raw.register
            && !(reg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && reg
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_'))
        {
            return Err(format!(
                "step `{name}`: `{reg}` is not a valid variable name for `register`"
            ));
        }
        let timeout = raw
            .timeout
            .map(|t| parse_duration(&t.0))
            .transpose()
            .map_err(|e| format!("step `{name}`: timeout: {e}"))?;
        Ok(Step {
            name: raw.name.expect("checked above"),
            when: raw.when.map(|w| w.0),
            become_user: raw.become_user,
            cwd: raw.cwd,
            env: raw.env,
            timeout,
            register: raw.register,
            background: raw.background.filter(|b| b.0 != "false"),
            changes: raw.changes.unwrap_or(true),
            action,
            line: 0,
            origin: String::new(),
        })
    }
}

/// Where `background: true` sends a step's output, on the host.
pub const DEFAULT_BACKGROUND_LOG: &str = "~/.wptdeploy/background.log";

/// `90` (seconds), `30s`, `10m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration ({e})"))
}

impl Step {
    /// Every template in the step, for a syntax check before anything runs.
    pub fn templates(&self) -> Vec<&str> {
        let mut all: Vec<&Tmpl> = vec![&self.name];
        all.extend(self.become_user.iter());
        all.extend(self.cwd.iter());
        all.extend(self.env.values());
        match &self.action {
            Action::Run(c) | Action::Restart(c) | Action::Local(c) | Action::Say(c) => all.push(c),
            Action::Lock(a) => all.push(&a.path),
            Action::Checkout(a) => {
                all.extend([&a.repo, &a.reference, &a.releases, &a.clone_path]);
                all.extend(a.force.iter());
                all.extend(a.live.iter());
            }
            Action::Pip(a) => {
                all.extend([&a.venv, &a.requirements]);
                all.extend(a.python.iter());
                all.extend(a.project.iter());
                all.extend(a.site_packages.iter());
            }
            Action::Template(a, _) => {
                all.push(&a.dest);
                all.extend(a.mode.iter());
                all.extend(a.current.iter());
            }
            Action::Switch(a) => all.extend([&a.link, &a.target]),
            Action::Prune(a) => {
                all.extend([&a.releases, &a.keep, &a.link]);
                all.extend(a.protect.iter());
                all.extend(a.backups.iter());
            }
            Action::Own(a) => {
                all.extend([&a.path, &a.user, &a.action]);
                all.extend(a.inside.iter());
            }
            Action::Healthcheck(a) => {
                all.extend(a.command.iter());
                all.extend(a.url.iter());
                all.extend(a.retries.iter());
                all.extend(a.delay.iter());
            }
            Action::Migrations(a) => {
                all.extend([&a.path, &a.action]);
                all.extend(a.command.iter());
                all.extend(a.psql.iter());
                all.extend(a.database.iter());
                all.extend(a.head.iter());
                all.extend(a.from.iter());
                all.extend(a.message.iter());
                all.extend(a.to.iter());
                all.extend(a.revisions.iter());
                all.extend(a.versions.iter());
                all.extend(a.rev_id.iter());
            }
            Action::Fetch(a) => all.extend([&a.src, &a.dest]),
            Action::Backup(a) => {
                all.extend([&a.dump, &a.restore, &a.database, &a.dir, &a.release]);
                all.extend(a.db_user.iter());
                all.extend(a.owner.iter());
            }
            Action::Upload(a) => {
                all.extend([&a.src, &a.dest]);
                all.extend(a.mode.iter());
            }
            Action::Import(_) => {}
            Action::Columns(a) => {
                all.extend([&a.psql, &a.database, &a.tables]);
                all.extend(a.expect.iter());
            }
        }
        let mut texts: Vec<&str> = all.into_iter().map(|t| t.0.as_str()).collect();
        if let Action::Template(_, body) = &self.action {
            texts.push(&body.text);
        }
        texts
    }
}
