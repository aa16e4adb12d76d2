//! One run of a playbook on an environment, from plan to exit status, as
//! a command describes it with one [`Session`] value. The jobs are parts
//! of their own: the checks before any host is contacted
//! ([`preflight`]), the engine's run (here), the error naming each failed
//! host ([`conclude`]), and what the run records of itself and leaves to
//! the person ([`audit`]).

mod audit;
mod conclude;
mod ctrl_c;
mod preflight;

use std::sync::Arc;
use std::time::Duration;

use super::Context;
use crate::cancel::Cancel;
use crate::engine::events::{Event, Gate, HostSummary};
use crate::engine::{self, Audit, RunOptions};
use crate::error::Error;
use crate::inventory::Sourced;
use crate::plan::Plan;
use crate::playbook::{Playbook, Step};
use crate::redact::Redactor;
use crate::report::{ConfirmGate, TerminalAsker, TerminalGate, Verbosity, tell};
use crate::rollout::BatchSize;
use crate::steps::LockOwner;
use crate::template::Templates;

/// Who decides before each step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Asking {
    /// Nobody: every step runs.
    #[default]
    Never,
    /// `--step`: run, skip, details or abort, before each step.
    EachStep,
    /// The checklist: `--step`'s questions, as the checklist's own.
    Checklist,
    /// Yes or no before each step that changes a host (`unlock`).
    Confirm,
}

/// Makes a command's own steps from a playbook's (`unlock` from the lock step).
pub type Reshape = fn(&Playbook) -> Result<Vec<Step>, Error>;

/// A run of a playbook, described by a command and then executed. A
/// command sets what is its own and leaves the rest to
/// [`Session::default`] (no `--check`, ten hosts at a time, nobody asked):
///
/// ```text
/// Session {
///     name: "status",
///     title: "{name} of {env}",
///     env,
///     playbook: "releases.yml".into(),
///     quiet_steps: true,
///     ..Session::default()
/// }
/// ```
pub struct Session {
    /// The command's name as typed (`deploy`, `migration new`).
    pub name: &'static str,
    /// How its failure starts [default: `NAME of`]: "`deploy to` staging failed on ...".
    pub failed: &'static str,
    /// Its first line, `{env}`, `{commit}`, `{name}` and `{playbook}` put
    /// in [default: `deploying {commit} to {env}` when it deploys, else
    /// `{playbook} on {env}`].
    pub title: &'static str,
    /// It deploys a release: its hosts end `deployed`.
    pub deploys: bool,
    /// Its ref (a branch or tag) is asked of the repository before any host.
    pub checks_ref: bool,
    /// It puts an earlier release back (production is told what the
    /// database gets from the rollback's own variables).
    pub rolls_back: bool,
    /// The environment.
    pub env: String,
    /// The playbook file.
    pub playbook: String,
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
    /// Ctrl-C is how a person ends it (`logs -f`): a run it stops ends
    /// well, quietly.
    pub ends_at_ctrl_c: bool,
    /// How the hosts' output is shown (`exec`, `logs`).
    pub output: OutputMode,
}

/// How a command whose output is the point shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// Prefixed by its host (`[web1]   | line`), on stderr.
    #[default]
    Prefixed,
    /// As `ssh host cmd` gives it: stdout to stdout, stderr to stderr,
    /// unprefixed, and (`exec`) the command's exit status as wptdeploy's.
    Raw,
    /// Raw with one host, prefixed with several.
    Auto,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            name: "deploy",
            failed: "",
            title: "",
            deploys: false,
            checks_ref: false,
            rolls_back: false,
            env: String::new(),
            playbook: "deploy.yml".into(),
            extra: Sourced::default(),
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
            ends_at_ctrl_c: false,
            output: OutputMode::Prefixed,
        }
    }
}

impl Session {
    /// Loads, checks and runs the plan; the hosts' summaries if all succeeded.
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<Vec<HostSummary>, Error> {
        // Who runs this (`git config`, a process) is asked while the plan
        // loads: it is only needed once the hosts are about to be reached.
        let identity = std::thread::spawn(audit::git_identity);
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
            Some(wanted) => preflight::find_step(&plan, wanted)?,
            None => 0,
        };
        preflight::check_cutover(&plan, &templates)?;
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
        let raw = match self.output {
            OutputMode::Raw => true,
            OutputMode::Auto => plan.hosts.len() == 1,
            OutputMode::Prefixed => false,
        };
        let (reporter, spinners) =
            crate::printer::reporter(cx.settings, shown, cx.redactor.clone(), &cancel, raw);
        let reporter: Arc<dyn crate::engine::events::Reporter> = if self.ends_at_ctrl_c {
            Arc::new(ctrl_c::EndedByCtrlC::new(reporter, &cancel))
        } else {
            reporter
        };
        let asker: Option<Arc<dyn crate::engine::events::Asker>> = (cx.settings.attended
            && !cx.settings.json)
            .then(|| Arc::new(TerminalAsker::new(cx.redactor.clone(), spinners.clone())) as _);
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
            by: audit::this_machine(),
            git: identity.join().unwrap_or_default(),
            command: cx.redactor.apply(&audit::command_line()),
        };
        let mut warnings = warnings;
        if self.changes && !self.check && cx.notifier.is_none() {
            cx.notifier = audit::notifier(&plan, &templates, &resolved, &audit);
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
            deploys: self.deploys && !self.quiet_steps,
            gate,
            asker,
            start_at,
            check: self.check,
            lock_wait: self.lock_wait,
            forks: if asks_each_step { 1 } else { self.forks },
            become_password: password,
            lock_owner: LockOwner {
                token: crate::transport::random_token(),
                who: audit::this_machine(),
                commit: plan.commit.clone(),
                command,
                process: crate::steps::effect::process::ProcessId::this(),
            },
            audit,
            connections: cx.connections.clone(),
        };
        let env_name = plan.env.clone();
        cancel.on_signals(tell, audit::abandoned_message(&plan, &templates));
        let interrupt = cancel.receiver();
        if asks_each_step && !self.check {
            // The whole plan first: what --check shows, then each step asks.
            let preview = RunOptions {
                gate: None,
                asker: None,
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
            conclude::conclude(&self, &summaries, &env_name, cx.settings.json, &cancel)?;
            tell(
                "\nThat is the plan. Now each step asks before it runs (`d` shows a step's exact command).\n",
            );
        }
        let summaries = engine::run(plan, templates, options, reporter, interrupt).await;
        let masked: Vec<HostSummary> = summaries.iter().map(|s| cx.redactor.masked(s)).collect();
        cx.record_finished(&masked);
        conclude::conclude(&self, &summaries, &env_name, cx.settings.json, &cancel).map_err(
            |e| match e {
                // The command's own exit status, as `ssh host cmd` gives it.
                Error::Failed { message, hints, .. } if raw && summaries.len() == 1 => {
                    let exit_code = summaries[0]
                        .error
                        .as_deref()
                        .and_then(crate::steps::exit_status);
                    Error::Failed {
                        message,
                        hints,
                        exit_code,
                    }
                }
                other => other,
            },
        )?;
        Ok(summaries)
    }

    /// What the run does, in words, for its first line: [`Session::title`]
    /// with the environment, the commit, the command's name and the
    /// playbook's file put in.
    fn title(&self, plan: &Plan) -> String {
        let template = match self.title {
            "" if self.deploys => "deploying {commit} to {env}",
            "" => "{playbook} on {env}",
            given => given,
        };
        let playbook = plan
            .playbook
            .origin
            .rsplit('/')
            .next()
            .unwrap_or(&self.playbook);
        template
            .replace("{env}", &plan.env)
            .replace("{commit}", &plan.commit)
            .replace("{name}", self.name)
            .replace("{playbook}", playbook)
    }

    /// How its failure starts: "`deploy to` staging failed on ...".
    fn failed_phrase(&self) -> String {
        if self.failed.is_empty() {
            format!("{} of", self.name)
        } else {
            self.failed.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::PlaybookDirs;

    fn plan(env: &str, commit: &str) -> Plan {
        Plan {
            env: env.into(),
            commit: commit.into(),
            hosts: Vec::new(),
            playbook: Playbook::load(&PlaybookDirs::built_in(), "verify.yml", &Templates::new())
                .unwrap(),
            secrets: Vec::new(),
        }
    }

    #[test]
    fn the_title_and_the_failure_say_what_the_command_does() {
        let plan = plan("staging", "main");
        let deploy = Session {
            deploys: true,
            failed: "deploy to",
            ..Session::default()
        };
        assert_eq!(deploy.title(&plan), "deploying main to staging");
        assert_eq!(deploy.failed_phrase(), "deploy to");
        let status = Session {
            name: "status",
            title: "{name} of {env}",
            ..Session::default()
        };
        assert_eq!(status.title(&plan), "status of staging");
        assert_eq!(status.failed_phrase(), "status of");
        let verify = Session {
            name: "verify",
            ..Session::default()
        };
        assert_eq!(verify.title(&plan), "verify.yml on staging");
    }
}
