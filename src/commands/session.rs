//! One run of a playbook on an environment, from plan to exit status: the
//! checks every command shares (one host, a terminal to ask on, the
//! production confirmation), the reporter and the gate, the engine, and
//! the error that names each failed host.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Context;
use super::error::CommandError;
use crate::cancel::Cancel;
use crate::engine::events::{Event, Gate, HostResult, HostSummary};
use crate::engine::{self, Audit, RunOptions};
use crate::error::Error;
use crate::gitref::{self, Lookup};
use crate::inventory::{self, Sourced};
use crate::plan::{self, Plan};
use crate::playbook::{Playbook, PlaybookDirs, Step};
use crate::report::{ConfirmGate, Redactor, TerminalGate, Verbosity, tell};
use crate::rollout::BatchSize;
use crate::steps::LockOwner;
use crate::template::Templates;
use crate::transport::quote;

/// Which command a session runs: what its messages call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `wptdeploy ENV`.
    Deploy,
    /// `wptdeploy verify`.
    Verify,
    /// `wptdeploy migration status`.
    MigrationStatus,
    /// `wptdeploy migration new`.
    MigrationNew,
    /// `wptdeploy migration test`.
    MigrationTest,
    /// `wptdeploy migration lint`.
    MigrationLint,
    /// `wptdeploy checklist`.
    Checklist,
    /// `wptdeploy unlock`.
    Unlock,
    /// `wptdeploy exec`.
    Exec,
    /// `wptdeploy lock ENV -m WHY`.
    Hold,
    /// `wptdeploy lock status ENV`.
    LockStatus,
    /// `wptdeploy status`.
    Status,
    /// `wptdeploy releases`.
    Releases,
    /// `wptdeploy history`.
    History,
    /// `wptdeploy rollback`.
    Rollback,
    /// `wptdeploy logs`.
    Logs,
    /// `wptdeploy shell`.
    Shell,
}

impl Command {
    /// How its failure starts: "`deploy to` staging failed on ...".
    fn failed_phrase(self) -> &'static str {
        match self {
            Command::Deploy => "deploy to",
            Command::Verify => "verify of",
            Command::MigrationStatus => "migration status of",
            Command::MigrationNew => "migration new on",
            Command::MigrationTest => "migration test on",
            Command::MigrationLint => "migration lint of",
            Command::Checklist => "checklist on",
            Command::Unlock => "unlock of",
            Command::Exec => "exec on",
            Command::Hold => "lock of",
            Command::LockStatus => "lock status of",
            Command::Status => "status of",
            Command::Releases => "releases of",
            Command::History => "history of",
            Command::Rollback => "rollback of",
            Command::Logs => "logs of",
            Command::Shell => "shell on",
        }
    }

    /// Its name as typed.
    fn name(self) -> &'static str {
        match self {
            Command::Deploy => "deploy",
            Command::Verify => "verify",
            Command::MigrationStatus => "migration status",
            Command::MigrationNew => "migration new",
            Command::MigrationTest => "migration test",
            Command::MigrationLint => "migration lint",
            Command::Checklist => "checklist",
            Command::Unlock => "unlock",
            Command::Exec => "exec",
            Command::Hold => "lock",
            Command::LockStatus => "lock status",
            Command::Status => "status",
            Command::Releases => "releases",
            Command::History => "history",
            Command::Rollback => "rollback",
            Command::Logs => "logs",
            Command::Shell => "shell",
        }
    }

    /// Whether it deploys a release: its hosts then end `deployed`.
    fn deploys(self) -> bool {
        matches!(
            self,
            Command::Deploy | Command::MigrationNew | Command::Checklist | Command::Rollback
        )
    }
}

/// Who decides before each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asking {
    /// Nobody: every step runs.
    Never,
    /// `--step`: run, skip, details or abort, before each step.
    EachStep,
    /// The checklist: `--step`'s questions, as the checklist's own.
    Checklist,
    /// Yes or no before each step that changes a host (`unlock`).
    Confirm,
}

/// A `git_repo` that names no repository yet (empty, or still a template).
fn repo_is_unset(repo: &str) -> bool {
    repo.trim().is_empty() || repo.contains("{{")
}

/// Makes a command's own steps from a playbook's (`unlock` from the lock step).
pub type Reshape = fn(&Playbook) -> Result<Vec<Step>, Error>;

/// A run of a playbook, built by a command and then executed.
pub struct Session<'a> {
    /// The command.
    pub command: Command,
    /// The environment.
    pub env: &'a str,
    /// The playbook file.
    pub playbook: &'a str,
    /// `-e` and the command's own variables.
    pub extra: Sourced,
    /// `--check`.
    pub check: bool,
    /// `--lock-wait`.
    pub lock_wait: Option<Duration>,
    /// `--forks`.
    pub forks: usize,
    /// `--serial`, over the playbook's (empty: the playbook's).
    pub serial: Vec<BatchSize>,
    /// It changes hosts: production asks for its name to be typed.
    pub changes: bool,
    /// Who decides before each step.
    pub asking: Asking,
    /// `--start-at`.
    pub start_at: Option<String>,
    /// `--list-steps`.
    pub list_steps: bool,
    /// The command works on exactly one host.
    pub one_host: bool,
    /// What the lock records as the command holding it [default: the deploy's].
    pub lock_command: Option<String>,
    /// Remote output is what the command is for: shown unless `-q` (`exec`).
    pub shows_output: bool,
    /// The command's own steps in place of the playbook's, made from them (`unlock`).
    pub reshape: Option<Reshape>,
    /// The steps are how the command reads: shown only with `-v` (`status`).
    pub quiet_steps: bool,
    /// Hosts to run on, over `--limit` (`history --host`).
    pub limit: Option<String>,
}

impl<'a> Session<'a> {
    /// A run of `playbook` by `command` that changes nothing but what its
    /// steps say: no `--check`, no lock wait, ten hosts at a time.
    pub fn new(command: Command, env: &'a str, playbook: &'a str, extra: Sourced) -> Self {
        Session {
            command,
            env,
            playbook,
            extra,
            check: false,
            lock_wait: None,
            forks: 10,
            serial: Vec::new(),
            changes: false,
            asking: Asking::Never,
            start_at: None,
            list_steps: false,
            one_host: false,
            lock_command: None,
            shows_output: false,
            reshape: None,
            quiet_steps: false,
            limit: None,
        }
    }

    /// Loads, checks and runs the plan; the hosts' summaries if all succeeded.
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<Vec<HostSummary>, Error> {
        let templates = Templates::new();
        let (mut plan, warnings) = self.load_plan(cx, &templates)?;
        if self.list_steps {
            crate::printer::data(plan.playbook.steps.iter().enumerate().map(|(i, step)| {
                format!(
                    "{:>3}  {}    ({}:{})",
                    i + 1,
                    step.name.0,
                    step.origin,
                    step.line
                )
            }));
            return Ok(Vec::new());
        }
        if !self.serial.is_empty() {
            plan.playbook.rollout.serial.clone_from(&self.serial);
        }
        self.check_hosts(&plan)?;
        let start_at = match &self.start_at {
            Some(wanted) => find_step(&plan, wanted)?,
            None => 0,
        };
        check_cutover(&plan, &templates)?;
        let resolved = self.check_refs(&plan, &templates).await?;
        self.check_attended(&plan, cx, &templates, &resolved)?;
        let password = cx.become_password()?;
        let mut secrets = plan.secrets.clone();
        secrets.extend(password.clone());
        secrets.extend(cx.settings.vault.secrets().map(str::to_owned));
        cx.redactor = Redactor::new(secrets);
        let asks_each_step = matches!(self.asking, Asking::EachStep | Asking::Checklist);
        // Asking before each step, output streams (under the spinner) unless -q.
        let shown = match cx.settings.verbosity {
            Verbosity::Normal if asks_each_step || self.shows_output => Verbosity::Verbose,
            Verbosity::Normal if self.quiet_steps => Verbosity::Quiet,
            asked => asked,
        };
        let cancel = Cancel::default();
        let (reporter, spinners) =
            crate::printer::reporter(cx.settings, shown, cx.redactor.clone(), &cancel);
        let gate: Option<Arc<dyn Gate>> = match self.asking {
            Asking::EachStep | Asking::Checklist => {
                Some(Arc::new(TerminalGate::new(cx.redactor.clone(), spinners)))
            }
            Asking::Confirm if cx.settings.attended && !cx.settings.yes => {
                Some(Arc::new(ConfirmGate::new(cx.redactor.clone(), spinners)))
            }
            Asking::Never | Asking::Confirm => None,
        };
        let audit = Audit {
            by: this_machine(),
            git: git_identity(),
            command: cx.redactor.apply(&command_line()),
        };
        let mut warnings = warnings;
        if self.changes && !self.check && cx.notifier.is_none() {
            cx.notifier = Self::notifier(&plan, &templates, &resolved, &audit);
            if let Some(notifier) = &cx.notifier {
                warnings.extend(notifier.started().await);
            }
        }
        for message in warnings {
            reporter.report(&Event::Warning {
                host: None,
                message: cx.redactor.apply(&message),
            });
        }
        let command = self.lock_command.clone().unwrap_or_else(|| {
            let force = if self.extra.values.get("force") == Some(&true.into()) {
                " --force"
            } else {
                ""
            };
            format!("wptdeploy {} --commit {}{force}", plan.env, plan.commit)
        });
        let options = RunOptions {
            title: self.title(&plan),
            // A command's read (the rollback's first play) deploys nothing.
            deploys: self.command.deploys() && !self.quiet_steps,
            gate,
            start_at,
            check: self.check,
            lock_wait: self.lock_wait,
            forks: if asks_each_step { 1 } else { self.forks },
            become_password: password,
            lock_owner: LockOwner {
                token: crate::transport::random_token(),
                who: this_machine(),
                commit: plan.commit.clone(),
                command,
            },
            audit,
            connections: cx.connections.clone(),
        };
        let env_name = plan.env.clone();
        cancel.on_signals(abandoned_message(&plan, &templates));
        let interrupt = cancel.receiver();
        if asks_each_step && !self.check {
            // The whole plan first: what --check shows, then each step asks.
            let preview = RunOptions {
                gate: None,
                start_at: 0,
                check: true,
                lock_wait: None,
                forks: 1,
                title: options.title.clone(),
                deploys: options.deploys,
                become_password: options.become_password.clone(),
                lock_owner: options.lock_owner.clone(),
                audit: options.audit.clone(),
                connections: options.connections.clone(),
            };
            // In words, one line a step; JSON keeps every command.
            let outline: Arc<dyn crate::engine::events::Reporter> = if cx.settings.json {
                reporter.clone()
            } else {
                Arc::new(crate::report::Outline(reporter.clone()))
            };
            let summaries = engine::run(
                plan.clone(),
                Templates::new(),
                preview,
                outline,
                interrupt.clone(),
            )
            .await;
            self.conclude(&summaries, &env_name, cx.settings.json)?;
            tell(
                "\nThat is the plan. Now each step asks before it runs (`d` shows a step's exact command).\n",
            );
        }
        let summaries = engine::run(plan, templates, options, reporter, interrupt).await;
        let masked: Vec<HostSummary> = summaries.iter().map(|s| cx.redactor.summary(s)).collect();
        crate::report::run::record(&masked);
        self.conclude(&summaries, &env_name, cx.settings.json)?;
        Ok(summaries)
    }

    /// The inventory and playbook, every host's variables resolved.
    fn load_plan(
        &self,
        cx: &Context<'_>,
        templates: &Templates,
    ) -> Result<(Plan, Vec<String>), Error> {
        let settings = cx.settings;
        let mut inventory =
            inventory::load(self.env, settings.inventory.as_deref(), &settings.vault)?;
        if let Some(pattern) = self.limit.as_ref().or(settings.limit.as_ref()) {
            inventory = inventory.limit(pattern)?;
        }
        let mut playbook = Playbook::load(
            &PlaybookDirs::new(settings.playbooks.as_deref())
                .with_ansible_tree(inventory.ansible_dir.as_deref()),
            self.playbook,
            templates,
        )?;
        if let Some(reshape) = self.reshape {
            playbook.steps = reshape(&playbook)?;
        }
        let typos = crate::typos::check(&inventory, &self.extra, &playbook, templates)
            .map_err(CommandError::UnknownConnectionVariable)?;
        let plan = plan::build(
            &inventory,
            playbook,
            &self.extra,
            &settings.connect,
            templates,
        )?;
        let mut warnings = inventory.warnings;
        warnings.extend(typos);
        Ok((plan, warnings))
    }

    /// A one-host command refuses an environment of several.
    fn check_hosts(&self, plan: &Plan) -> Result<(), Error> {
        if !self.one_host || plan.hosts.len() == 1 {
            return Ok(());
        }
        Err(CommandError::NotOneHost {
            command: self.command.name(),
            env: plan.env.clone(),
            hosts: plan.hosts.iter().map(|h| h.name.clone()).collect(),
        }
        .into())
    }

    /// A deploy's ref, if it is a branch or tag name, is asked of its
    /// repository from here (`git ls-remote`) before any host is touched:
    /// one the repository lacks is an input error naming the close ones. A
    /// repository this machine cannot read is left to the hosts. Returns
    /// the commit each ref names now, where the repository said.
    async fn check_refs(
        &self,
        plan: &Plan,
        templates: &Templates,
    ) -> Result<BTreeMap<String, String>, Error> {
        let mut resolved = BTreeMap::new();
        if !matches!(
            self.command,
            Command::Deploy | Command::MigrationNew | Command::Checklist
        ) {
            return Ok(resolved);
        }
        let mut asked: Vec<(String, String)> = Vec::new();
        for host in &plan.hosts {
            let scope = host.scope(templates, std::collections::BTreeMap::new());
            let Ok(repo) = templates.render("{{ git_repo }}", &scope) else {
                continue;
            };
            let pair = (repo, host.commit.clone());
            if repo_is_unset(&pair.0) || asked.contains(&pair) {
                continue;
            }
            match gitref::lookup(&pair.0, &pair.1, Duration::from_secs(10)).await {
                Lookup::Missing { close } => {
                    return Err(CommandError::UnknownRef {
                        reference: pair.1,
                        repo: pair.0,
                        close,
                    }
                    .into());
                }
                Lookup::Found(Some(sha)) => {
                    resolved.insert(pair.1.clone(), sha);
                }
                Lookup::Found(None) | Lookup::Unknown => {}
            }
            asked.push(pair);
        }
        Ok(resolved)
    }

    /// Asking needs a terminal; production needs its name typed (or
    /// `--yes`), after it is told what will change.
    fn check_attended(
        &self,
        plan: &Plan,
        cx: &Context<'_>,
        templates: &Templates,
        resolved: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let attended = cx.settings.attended;
        let asker = match self.asking {
            Asking::EachStep => Some("`--step`"),
            Asking::Checklist => Some("the checklist"),
            Asking::Never | Asking::Confirm => None,
        };
        if let Some(asker) = asker.filter(|_| !attended) {
            let hint = if self.asking == Asking::Checklist {
                format!(
                    "`wptdeploy migration new {} --commit BRANCH -m MESSAGE` runs its steps without asking",
                    quote(self.env)
                )
            } else {
                "drop `--step` to run without asking".into()
            };
            return Err(CommandError::NoTerminalToAsk {
                asker,
                instead: hint,
            }
            .into());
        }
        if self.changes && !self.check && plan.env == "production" && !cx.settings.yes {
            if !attended {
                return Err(CommandError::ProductionUnconfirmed.into());
            }
            let said = self.what_changes(plan, templates, resolved);
            if !crate::report::confirm_environment(&plan.env, &said) {
                return Err(CommandError::NotConfirmed(plan.env.clone()).into());
            }
        }
        Ok(())
    }

    /// Who is told of this change (`notify_webhook`, `notify_command`, as
    /// the first host's variables say), if anyone.
    fn notifier(
        plan: &Plan,
        templates: &Templates,
        resolved: &BTreeMap<String, String>,
        audit: &Audit,
    ) -> Option<crate::notify::Notifier> {
        let scope = plan.hosts.first()?.scope(templates, BTreeMap::new());
        let value = |expression: &str| templates.render(expression, &scope).unwrap_or_default();
        let run = crate::notify::Run {
            env: &plan.env,
            command: &audit.command,
            commit: &plan.commit,
            sha: resolved.get(&plan.commit).map(String::as_str),
            hosts: plan.hosts.iter().map(|h| h.name.as_str()).collect(),
            by: &audit.by,
            git: &audit.git,
        };
        crate::notify::Notifier::new(
            value("{{ notify_webhook }}"),
            value("{{ notify_command }}"),
            &run,
        )
    }

    /// What a run that changes production will do, said before its name
    /// is asked for: the commit, the hosts, and what happens to the database.
    fn what_changes(
        &self,
        plan: &Plan,
        templates: &Templates,
        resolved: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let hosts: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
        let title = match resolved.get(&plan.commit) {
            Some(sha) if !sha.starts_with(&plan.commit) => self.title(plan).replacen(
                &plan.commit,
                &format!("{} ({})", plan.commit, &sha[..12.min(sha.len())]),
                1,
            ),
            _ => self.title(plan),
        };
        let mut said = vec![format!(
            "{title}: {} host{} ({})",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            hosts.join(", ")
        )];
        let Some(host) = plan.hosts.first() else {
            return said;
        };
        let scope = host.scope(templates, BTreeMap::new());
        let value = |expression: &str| templates.render(expression, &scope).unwrap_or_default();
        let yes = |expression: &str| templates.condition(expression, &scope).unwrap_or(false);
        if self.command == Command::Rollback {
            let restore = value("{{ rollback_restore }}");
            let downgrade = value("{{ rollback_downgrade_to }}");
            said.push(if !restore.is_empty() {
                format!("database: {restore} restored into it before the switch (what was written since is lost)")
            } else if !downgrade.is_empty() {
                format!("database: downgraded to {downgrade} with the live release's migrations before the switch")
            } else {
                "database: unchanged".to_owned()
            });
            return said;
        }
        said.push(if yes("migrate | bool") {
            let backup = if yes("backup_before_migrate | bool") {
                format!("after a backup of {} to {}", value("{{ db_name }}"), value("{{ backup_dir }}"))
            } else {
                "with no backup first (`backup_before_migrate` is false)".to_owned()
            };
            format!("database: its pending migrations run before the switch, {backup}")
        } else if yes("check_pending_migrations | bool") {
            "database: not migrated; a release whose migrations are pending stops before the switch".to_owned()
        } else {
            "database: not migrated, and the release goes live even if its migrations are pending (`--no-migrate`, or `check_pending_migrations: false`)".to_owned()
        });
        said
    }

    /// What the run does, in words, for its first line.
    fn title(&self, plan: &Plan) -> String {
        match self.command {
            Command::Checklist => {
                format!(
                    "the migration checklist for {} on {}",
                    plan.commit, plan.env
                )
            }
            Command::Unlock | Command::Hold | Command::LockStatus => {
                format!("the deploy lock on {}", plan.env)
            }
            Command::Exec => format!("exec on {}", plan.env),
            Command::Rollback if self.quiet_steps => {
                format!("reading {} before the rollback", plan.env)
            }
            Command::Rollback => format!("rolling {} back to {}", plan.env, plan.commit),
            Command::Status
            | Command::Releases
            | Command::History
            | Command::Logs
            | Command::Shell
            | Command::MigrationStatus
            | Command::MigrationLint => {
                format!("{} of {}", self.command.name(), plan.env)
            }
            command if command.deploys() => format!("deploying {} to {}", plan.commit, plan.env),
            _ => format!(
                "{} on {}",
                plan.playbook
                    .origin
                    .rsplit('/')
                    .next()
                    .unwrap_or(self.playbook),
                plan.env
            ),
        }
    }

    /// Ok if every host succeeded, else the error naming each failure.
    fn conclude(&self, summaries: &[HostSummary], env_name: &str, json: bool) -> Result<(), Error> {
        let failed: Vec<_> = summaries.iter().filter(|s| !s.succeeded()).collect();
        if failed.is_empty() && crate::cancel::output_closed() {
            // Done, but what the command was for (its events, the columns)
            // did not all reach the reader: as a pipeline would, say so.
            return Err(Error::Interrupted {
                detail: ": the output was closed (the program reading it exited) after every host had finished".into(),
            });
        }
        if failed.is_empty() {
            return Ok(());
        }
        let stopped: Vec<String> = failed
            .iter()
            .filter(|s| s.result == HostResult::Interrupted)
            .map(|s| format!("{}: {}", s.host, s.error.as_deref().unwrap_or("stopped")))
            .collect();
        if !stopped.is_empty() {
            let why = if crate::cancel::output_closed() {
                ": the output was closed (the program reading it exited)"
            } else {
                ""
            };
            return Err(Error::Interrupted {
                detail: format!(
                    "{why} ({}); locks were released and any switched release was switched back",
                    stopped.join("; ")
                ),
            });
        }
        let (not_started, failed): (Vec<_>, Vec<_>) = failed
            .into_iter()
            .partition(|s| s.result == HostResult::NotStarted);
        let mut reasons: Vec<String> = failed
            .iter()
            .map(|s| {
                let rolled = if s.result == HostResult::RolledBack {
                    " (rolled back to the previous release)"
                } else {
                    ""
                };
                let reason = s.error.as_deref().unwrap_or("failed");
                let first_line = reason
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(':');
                format!("{}: {first_line}{rolled}", s.host)
            })
            .collect();
        let mut hints: Vec<String> = failed.iter().flat_map(|s| s.hints.clone()).collect();
        if failed
            .iter()
            .any(|s| s.error.as_deref().is_some_and(|e| e.contains('\n')))
        {
            // Where they are: above, or (JSON) in the host's own event.
            hints.push(if json {
                "the failed step's last lines of output are in its host's `host_finished` event (`summary.error`); `-v` adds all of it as `step_output` events".into()
            } else {
                "the failed step's last lines of output are shown above; `-v` shows all of it".into()
            });
        }
        if let Some(first) = not_started.first() {
            let names: Vec<&str> = not_started.iter().map(|s| s.host.as_str()).collect();
            let why = first.error.as_deref().unwrap_or("not started");
            reasons.push(format!(
                "{} host(s) {why}: {}",
                names.len(),
                names.join(", ")
            ));
            let rest: Vec<&str> = failed
                .iter()
                .map(|s| s.host.as_str())
                .chain(names)
                .collect();
            hints.push(format!(
                "once the failure is fixed, finish the rollout with `--limit {}`",
                rest.join(",")
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        hints.retain(|h| seen.insert(h.clone()));
        Err(Error::Failed {
            message: format!(
                "{} {env_name} failed on {} of {} host(s): {}",
                self.command.failed_phrase(),
                failed.len(),
                summaries.len(),
                reasons.join("; ")
            ),
            hints,
        })
    }
}

/// This run's command line, each word quoted as a shell would need.
fn command_line() -> String {
    let words: Vec<String> = std::env::args()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                "wptdeploy".to_owned()
            } else {
                crate::transport::quote(&w)
            }
        })
        .collect();
    words.join(" ")
}

/// `Name <email>` from the local git configuration, or empty.
fn git_identity() -> String {
    let get = |key: &str| {
        crate::project::git(std::path::Path::new("."), &["config", "--get", key])
            .unwrap_or_default()
    };
    match (get("user.name"), get("user.email")) {
        (name, email) if name.is_empty() && email.is_empty() => String::new(),
        (name, email) if email.is_empty() => name,
        (name, email) => format!("{name} <{email}>").trim().to_owned(),
    }
}

/// `user@machine`: who holds a lock this run takes.
fn this_machine() -> String {
    let host = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "localhost".into(), |h| h.trim().to_owned());
    format!("{}@{host}", crate::transport::local_user())
}

/// What a run abandoned in the middle of its cleanup may have left, host by
/// host, and how to fix it.
fn abandoned_message(plan: &Plan, templates: &Templates) -> String {
    let mut lines = vec!["abandoned before the cleanup ended; what may be left:".to_owned()];
    for host in &plan.hosts {
        let scope = host.scope(templates, std::collections::BTreeMap::new());
        let get = |name: &str| {
            crate::template::Scope::lookup(&scope, name)
                .map_or_else(|_| format!("<{name}>"), |v| v.to_string())
        };
        lines.push(format!(
            "  {}: the deploy lock {} (`wptdeploy unlock {}` removes it); `readlink {}` shows the release live now",
            host.name,
            get("lock_path"),
            quote(&plan.env),
            quote(&get("site_path"))
        ));
    }
    lines.push(format!(
        "  `wptdeploy {} --commit SHA` with the previous release's SHA switches back",
        quote(&plan.env)
    ));
    lines.join("\n")
}

/// The 0-based index of `--start-at`'s step: a number, or the start of a name.
fn find_step(plan: &Plan, wanted: &str) -> Result<usize, Error> {
    let steps = &plan.playbook.steps;
    let found = match wanted.parse::<usize>() {
        Ok(number) if (1..=steps.len()).contains(&number) => Some(number - 1),
        _ => {
            let wanted = wanted.to_lowercase();
            steps
                .iter()
                .position(|s| s.name.0.to_lowercase().starts_with(&wanted))
        }
    };
    found.ok_or_else(|| {
        let names = steps.iter().map(|s| s.name.0.as_str());
        CommandError::NoSuchStep {
            wanted: wanted.to_owned(),
            playbook: plan.playbook.origin.clone(),
            suggestion: crate::suggest::did_you_mean(wanted, names),
        }
        .into()
    })
}

/// The cut-over's settings, checked for every host before any is
/// contacted: an `app_server` there is no such server as, or one without
/// the variable it needs, would otherwise be found only after the switch.
fn check_cutover(plan: &Plan, templates: &Templates) -> Result<(), Error> {
    use crate::steps::kind::Typed;
    use crate::steps::reload::Reload;
    let reloads: Vec<&crate::steps::reload::ReloadArgs> = plan
        .playbook
        .steps
        .iter()
        .filter_map(|step| step.action.as_any().downcast_ref::<Typed<Reload>>())
        .map(|typed| &typed.args)
        .collect();
    for host in &plan.hosts {
        let scope = host.scope(templates, BTreeMap::new());
        for args in &reloads {
            args.check_settings(|t| templates.render(&t.0, &scope))
                .map_err(|message| CommandError::CutoverSetting {
                    host: host.name.clone(),
                    message,
                })?;
        }
    }
    Ok(())
}
