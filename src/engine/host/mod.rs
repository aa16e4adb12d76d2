//! One host's run: connect once, run every step over that connection, do
//! what each step's effect asks around its command (take the lock, switch,
//! remember restarts, copy files), switch back on a failure after the
//! switch, and always release the lock. `--check` is in `check.rs`, the
//! ending in `cleanup.rs`, running a command in `exec.rs`.

mod check;
mod cleanup;
mod exec;
mod stop;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Value;
use tokio::sync::watch;

use super::Shared;
use super::events::{AfterFailure, Decision, Event, HostResult, HostSummary, StepStatus, StepView};
use crate::plan::HostPlan;
use crate::steps::effect::history::{HistoryLog, NEVER_FINISHED, UNFINISHED};
use crate::steps::effect::lock;
use crate::steps::{
    self, Diagnosis, Effect, LockSpec, Outcome, Prepared, Ran, StepFailure, Symlink,
};
use crate::template::Unknown;
use crate::transport::{Connection, Output, RemoteCommand, TransportError};
use check::plan_unreachable;
use exec::Stdout;
use stop::Stop;

/// At most this many steps are sent ahead with one.
const MAX_SENT_AHEAD: usize = 16;

/// The switch a failure must undo.
struct Switched {
    symlink: Symlink,
    previous: String,
    become_user: Option<String>,
}

/// A host's run in progress.
struct HostRun {
    shared: Arc<Shared>,
    index: usize,
    conn: Connection,
    interrupt: watch::Receiver<bool>,
    registered: BTreeMap<String, Value>,
    held_lock: Option<LockSpec>,
    /// Taking the lock was cut off by a lost shell or connection: the
    /// command may still finish on the host after the release has run.
    lock_unsettled: bool,
    switched: Option<Switched>,
    restarts: Vec<RemoteCommand>,
    summary: HostSummary,
    /// A step saw the app work (a health check passed, or the new release
    /// answered): without one, a deploy that put a release live ends
    /// `deployed (unchecked)`.
    app_checked: bool,
    /// A `switch:` step ran: the run put a release live.
    went_live: bool,
    /// `--check`: a step that changes things was shown, not run, so later
    /// read-only steps may find the host not yet as they need it.
    planned_changes: bool,
    /// The log a `history:` step asked to keep, written when the run ends.
    history: Option<HistoryLog>,
    /// A step that changes the host was run (attempted): the run is recorded.
    changed_host: bool,
    /// Steps before this index were sent ahead (or ran).
    sent_ahead_until: usize,
}

/// Runs the playbook on host `index` of the plan and says how it went.
pub(super) async fn run(
    shared: Arc<Shared>,
    index: usize,
    mut interrupt: watch::Receiver<bool>,
) -> HostSummary {
    let started = Instant::now();
    let host = &shared.plan.hosts[index];
    let mut summary = HostSummary::new(&host.name, host.commit.clone());
    shared.reporter.report(&Event::Connecting {
        host: host.name.clone(),
        target: host.connect.target(),
    });
    // A connection the command's play before left open, else a new one.
    let kept = shared.options.connections.take(host).await;
    let open = async {
        match kept {
            Some(conn) => Ok(conn),
            None => Connection::open(&host.connect).await,
        }
    };
    let connected = tokio::select! {
        c = open => c,
        _ = interrupt.wait_for(|stop| *stop) => {
            summary.result = HostResult::Interrupted;
            summary.error = Some("interrupted while connecting".into());
            return summary;
        }
    };
    let conn = match connected {
        Ok(conn) => conn,
        Err(e) => {
            summary.error = Some(e.to_string());
            summary.hints = e.hints();
            if shared.options.check {
                // The reason first, then the plan, which still answers:
                // every step, with what the host would have told unknown.
                shared.reporter.report(&Event::Warning {
                    host: Some(host.name.clone()),
                    message: format!(
                        "{e}: what follows is the plan without the host; no step ran, and what the host would report is unknown"
                    ),
                });
                plan_unreachable(&shared, index);
                summary.result = HostResult::Unreachable;
                summary.error = Some(format!("the plan is incomplete: {e}"));
            }
            summary.ms = started.elapsed().as_millis() as u64;
            return summary;
        }
    };
    shared.reporter.report(&Event::Connected {
        host: host.name.clone(),
        ms: started.elapsed().as_millis() as u64,
    });
    let mut run = HostRun {
        shared: shared.clone(),
        index,
        conn,
        interrupt,
        registered: BTreeMap::new(),
        held_lock: None,
        lock_unsettled: false,
        switched: None,
        restarts: Vec::new(),
        summary,
        app_checked: false,
        went_live: false,
        planned_changes: false,
        history: None,
        changed_host: false,
        sent_ahead_until: 0,
    };
    let result = run.steps().await;
    run.finish(result, started).await
}

/// How a step is run this time.
enum Mode {
    /// Before `--start-at`: only its read-only probe.
    ProbeOnly,
    /// `--check`: probes run, the rest is shown.
    Plan,
    /// For real (asking first under `--step`).
    Run,
}

impl HostRun {
    fn host(&self) -> &HostPlan {
        &self.shared.plan.hosts[self.index]
    }

    fn context(&self) -> Value {
        let mut over = self.registered.clone();
        over.insert("now".into(), Value::from(self.shared.now.clone()));
        self.host().scope(&self.shared.templates, over)
    }

    fn report_step(
        &self,
        index: usize,
        name: &str,
        status: StepStatus,
        started: Instant,
        note: Option<String>,
    ) {
        self.shared.reporter.report(&Event::StepFinished {
            host: self.host().name.clone(),
            index: index + 1,
            total: self.shared.plan.playbook.steps.len(),
            name: name.to_owned(),
            status,
            ms: started.elapsed().as_millis() as u64,
            note,
        });
    }

    async fn steps(&mut self) -> Result<(), Stop> {
        let shared = self.shared.clone();
        let templates = &shared.templates;
        let total = shared.plan.playbook.steps.len();
        for (index, step) in shared.plan.playbook.steps.iter().enumerate() {
            if *self.interrupt.borrow() {
                return Err(Stop::Interrupted);
            }
            let mut started = Instant::now();
            let ctx = self.context();
            let located = |message: String| Stop::Step {
                step: step.name.0.clone(),
                failure: StepFailure {
                    message: format!("({}:{}): {message}", step.origin, step.line),
                    hints: Vec::new(),
                },
            };
            if let Some(when) = &step.when {
                let scoped =
                    steps::step_scope(step, templates, &ctx).map_err(|e| located(e.message))?;
                let go = templates
                    .condition(when, &scoped)
                    .map_err(|e| located(e.message))?;
                if !go {
                    let name = templates.render_name(&step.name.0, &ctx);
                    self.summary.skipped += 1;
                    self.report_step(index, &name, StepStatus::Skipped, started, None);
                    continue;
                }
            }
            let prepared = steps::prepare(
                step,
                templates,
                &ctx,
                self.conn.login_user(),
                &shared.plan.secrets,
            )
            .map_err(|e| located(e.message))?;
            self.shared.reporter.report(&Event::StepStarted {
                host: self.host().name.clone(),
                index: index + 1,
                total,
                name: prepared.name.clone(),
            });
            let outcome = match self.mode(index, &prepared) {
                Mode::ProbeOnly => self.probe_only(index, &prepared, started).await?,
                Mode::Plan => self.plan_step(index, &prepared).await?,
                Mode::Run => {
                    self.send_ahead(index, &prepared).await;
                    self.gated_step(index, &prepared, &mut started).await?
                }
            };
            let Some(outcome) = outcome else { continue };
            self.app_checked |= outcome.checked_app;
            for message in &outcome.warnings {
                self.warn_once(Some(self.host().name.clone()), message);
            }
            if let Some(data) = &outcome.data {
                self.summary.data.push(data.clone());
            }
            if let Some(name) = &step.register {
                let value = outcome.register.clone().unwrap_or(Value::from(()));
                self.registered.insert(name.clone(), value);
            }
            let status = if outcome.changed {
                self.summary.changed += 1;
                StepStatus::Changed
            } else {
                self.summary.ok += 1;
                StepStatus::Ok
            };
            self.report_step(index, &prepared.name, status, started, outcome.note);
        }
        Ok(())
    }

    /// Reports `message` unless a host of this run already did: a fleet
    /// that meets the same thing hears it once.
    fn warn_once(&self, host: Option<String>, message: &str) {
        let first = self
            .shared
            .warned
            .lock()
            .expect("warnings lock")
            .insert(message.to_owned());
        if first {
            self.shared.reporter.report(&Event::Warning {
                host,
                message: message.to_owned(),
            });
        }
    }

    /// Before running step `index`, when it only looks: sends it together
    /// with the steps after it that also only look and would run now (as
    /// far as can be told before it runs), in one write. Each is prepared
    /// again in its turn; a result whose command came out the same is read
    /// rather than sent, and one that did not is run again, so sending
    /// ahead can cost a wasted look, never a wrong result.
    async fn send_ahead(&mut self, index: usize, first: &Prepared) {
        if index < self.sent_ahead_until
            || self.shared.options.gate.is_some()
            || !first.sendable_ahead()
        {
            return;
        }
        let shared = self.shared.clone();
        let templates = &shared.templates;
        let ctx = self.context();
        let mut ahead = Vec::new();
        for (later, step) in shared
            .plan
            .playbook
            .steps
            .iter()
            .enumerate()
            .skip(index + 1)
        {
            if ahead.len() == MAX_SENT_AHEAD {
                break;
            }
            if let Some(when) = &step.when {
                let scoped = steps::step_scope(step, templates, &ctx);
                let go = scoped.and_then(|scoped| templates.condition(when, &scoped));
                if !matches!(go, Ok(true)) {
                    break;
                }
            }
            let login = self.conn.login_user();
            let Ok(next) = steps::prepare(step, templates, &ctx, login, &shared.plan.secrets)
            else {
                break;
            };
            if !matches!(self.mode(later, &next), Mode::Run) || !next.sendable_ahead() {
                break;
            }
            ahead.push((later, next.command));
        }
        let Some(&(last, _)) = ahead.last() else {
            return;
        };
        let commands: Vec<&RemoteCommand> = std::iter::once(&first.command)
            .chain(ahead.iter().map(|(_, command)| command))
            .collect();
        let mut interrupt = self.interrupt.clone();
        tokio::select! {
            () = self.conn.send_ahead(&commands, shared.options.sudo_auth()) => {}
            _ = interrupt.wait_for(|stop| *stop) => return,
        }
        self.sent_ahead_until = last + 1;
        self.shared.reporter.report(&Event::SentAhead {
            host: self.host().name.clone(),
            with: index + 1,
            steps: ahead.iter().map(|(later, _)| later + 1).collect(),
        });
    }

    /// How step `index` runs this time. The lock is taken even before
    /// `--start-at`: a resumed run changes the host too.
    fn mode(&self, index: usize, prepared: &Prepared) -> Mode {
        let options = &self.shared.options;
        if options.check {
            Mode::Plan
        } else if index < options.start_at && !matches!(prepared.effect, Effect::TakesLock(_)) {
            Mode::ProbeOnly
        } else {
            Mode::Run
        }
    }

    /// Records that a step whose value is unknown until it runs registers
    /// it (`--check`, a step not run yet).
    fn register_unknown(&mut self, index: usize) {
        if let Some(name) = &self.shared.plan.playbook.steps[index].register {
            self.registered.insert(name.clone(), Unknown::value(name));
        }
    }

    /// Runs a step, asking the gate (`--step`) first and after a failure.
    /// `None`: the person skipped it. `started` becomes when the step's
    /// last attempt started, so its time leaves out the person's thinking.
    async fn gated_step(
        &mut self,
        index: usize,
        prepared: &Prepared,
        started: &mut Instant,
    ) -> Result<Option<Outcome>, Stop> {
        let gate = self.shared.options.gate.clone();
        let host = self.host().name.clone();
        let command = prepared.shown();
        let view = StepView {
            host: &host,
            index: index + 1,
            total: self.shared.plan.playbook.steps.len(),
            name: &prepared.name,
            read_only: prepared.read_only,
            command: &command,
        };
        // Text to read needs no decision.
        let asks = !matches!(prepared.effect, Effect::Says { .. } | Effect::Asks { .. });
        if let Some(gate) = gate.as_ref().filter(|_| asks) {
            match tokio::task::block_in_place(|| gate.before(&view)) {
                Decision::Run => {}
                Decision::Skip => {
                    self.summary.skipped += 1;
                    self.report_step(
                        index,
                        &prepared.name,
                        StepStatus::Skipped,
                        *started,
                        Some("skipped by you".into()),
                    );
                    return Ok(None);
                }
                Decision::Abort => {
                    return Err(Stop::Aborted {
                        step: prepared.name.clone(),
                    });
                }
            }
        }
        loop {
            *started = Instant::now();
            let attempt = *started;
            // A shell killed on a host that still answers is the step's
            // failure: the connection can switch back and unlock.
            let result = self.run_step(prepared).await.map_err(|stop| match stop {
                Stop::Transport(error @ TransportError::ShellKilled { .. }) => Stop::Step {
                    step: prepared.name.clone(),
                    failure: StepFailure {
                        message: format!("did not finish: {error}"),
                        hints: error.hints(),
                    },
                },
                other => other,
            });
            match result {
                Ok(outcome) => return Ok(outcome),
                Err(Stop::Step { step, failure }) => {
                    self.step_failed(index, &prepared.name, attempt, failure.message.clone());
                    let Some(gate) = &gate else {
                        return Err(Stop::Step { step, failure });
                    };
                    match tokio::task::block_in_place(|| {
                        gate.after_failure(&view, &failure.message)
                    }) {
                        AfterFailure::Retry => self.summary.failed -= 1,
                        AfterFailure::Skip => return Ok(None),
                        AfterFailure::Abort => return Err(Stop::Aborted { step }),
                    }
                }
                Err(Stop::Transport(error)) => {
                    self.step_failed(index, &prepared.name, attempt, error.to_string());
                    return Err(Stop::Unreachable {
                        step: prepared.name.clone(),
                        error,
                    });
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Counts and reports a failed attempt at a step.
    fn step_failed(&mut self, index: usize, name: &str, attempt: Instant, message: String) {
        self.summary.failed += 1;
        self.report_step(index, name, StepStatus::Failed, attempt, Some(message));
    }

    /// Runs a step for real and does what its effect asks around it.
    async fn run_step(&mut self, prepared: &Prepared) -> Result<Option<Outcome>, Stop> {
        let read = |output: &Output, command: &RemoteCommand, copied: Option<&[u8]>| {
            prepared.read(&Ran {
                output,
                command,
                copied,
            })
        };
        if !prepared.read_only
            && !matches!(
                prepared.effect,
                Effect::TakesLock(_)
                    | Effect::Records(_)
                    | Effect::Says { .. }
                    | Effect::Asks { .. }
            )
        {
            self.changed_host = true;
        }
        // The new release is live and healthy once this step starts: what
        // it does (a prune) can fail or be cut short without switching back.
        if matches!(prepared.effect, Effect::EndsRollbackWindow) {
            self.switched = None;
            self.restarts.clear();
        }
        let outcome = match &prepared.effect {
            // The record is begun with the step, as it reads if the run never ends.
            Effect::Records(log) => {
                let unfinished = self.history_line(log, NEVER_FINISHED, Some(UNFINISHED), 0);
                let command = log.begin(&prepared.command, &unfinished);
                let outcome = prepared.outcome(&self.exec(&command, Stdout::of(prepared)).await?);
                if outcome.is_ok() {
                    self.history = Some(log.clone());
                }
                outcome
            }
            Effect::TakesLock(spec) => {
                let note = self.take_lock(spec, &prepared.name).await?;
                Ok(Outcome {
                    changed: true,
                    note,
                    ..Outcome::default()
                })
            }
            Effect::Says { .. } => prepared.outcome(&Output::default()),
            // The answer, as the step's exit status: 0 yes, 1 no, 2 nobody
            // to ask (the kind says what each means).
            Effect::Asks { question, details } => {
                let host = self.host().name.clone();
                let answer = self.shared.options.asker.as_ref().map(|asker| {
                    tokio::task::block_in_place(|| asker.confirm(&host, question, details))
                });
                prepared.outcome(&Output {
                    exit_code: match answer {
                        Some(true) => 0,
                        Some(false) => 1,
                        None => 2,
                    },
                    ..Output::default()
                })
            }
            Effect::RunsHere => prepared.outcome(&self.exec_local(&prepared.command).await?),
            Effect::Interactive => {
                // A sudo password wptdeploy was given is handed to the
                // pty's sudo through a one-time askpass helper, made
                // first over the shell (the password on its stdin).
                let askpass = match self.shared.options.become_password.clone() {
                    Some(password) => Some(self.stage_askpass(&password).await?),
                    None => None,
                };
                let script = match &askpass {
                    Some(helper) => format!(
                        "export SUDO_ASKPASS={}; {}",
                        crate::transport::quote(helper),
                        prepared.command.script
                    ),
                    None => prepared.command.script.clone(),
                };
                let exit_code = self.exec_interactive(&script).await;
                if let Some(helper) = &askpass {
                    let dir = helper.trim_end_matches("/askpass");
                    let _ = self
                        .exec_quiet(&RemoteCommand::new(format!(
                            "rm -rf -- {}",
                            crate::transport::quote(dir)
                        )))
                        .await;
                }
                prepared.outcome(&Output {
                    exit_code: exit_code?,
                    ..Output::default()
                })
            }
            Effect::SendsLocalFile(file) => match file.read() {
                Ok((bytes, stdin)) => {
                    let command = RemoteCommand {
                        stdin: Some(stdin),
                        ..prepared.command.clone()
                    };
                    let output = self.exec(&command, Stdout::of(prepared)).await?;
                    read(&output, &command, Some(&bytes))
                }
                Err(failure) => Err(failure),
            },
            // The switch is one atomic rename: a signal waits for it, so
            // that what it did is known. What it replaces is read first and
            // kept, so that it is switched back to even if the switch's own
            // answer is lost (a killed shell, a dead network).
            Effect::Switches(symlink) => {
                self.went_live = true;
                let become_user = prepared.command.become_user.clone();
                let before = self
                    .exec_cleanup(&symlink.read(become_user.clone()))
                    .await
                    .map_err(Stop::Transport)?;
                self.switched = Some(Switched {
                    symlink: symlink.clone(),
                    previous: before.stdout.trim().to_owned(),
                    become_user,
                });
                let output = self
                    .exec_cleanup(&prepared.command)
                    .await
                    .map_err(Stop::Transport)?;
                prepared.outcome(&output)
            }
            Effect::Runs
            | Effect::Restarts
            | Effect::EndsRollbackWindow
            | Effect::WritesFile(_)
            | Effect::WritesFiles(_) => {
                prepared.outcome(&self.exec(&prepared.command, Stdout::of(prepared)).await?)
            }
        };
        let outcome = match (outcome, &prepared.diagnosis) {
            (Err(failure), Some(diagnosis)) if failure.message.contains(&diagnosis.when) => {
                Err(self.diagnosed(failure, diagnosis).await)
            }
            (outcome, _) => outcome,
        }
        .map_err(|failure| Stop::Step {
            step: prepared.name.clone(),
            failure,
        });
        if matches!(prepared.effect, Effect::Restarts) && self.switched.is_some() {
            self.restarts.push(prepared.command.clone());
        }
        let outcome = outcome?;
        if matches!(prepared.effect, Effect::Switches(_)) && !outcome.changed {
            self.switched = None;
        }
        if let Some(report) = &outcome.columns {
            self.shared.reporter.report(&Event::Columns {
                host: self.host().name.clone(),
                tables: report.tables.clone(),
                columns: report.columns.clone(),
                problems: report.problems.clone(),
            });
            if !report.problems.is_empty() {
                return Err(Stop::Step {
                    step: prepared.name.clone(),
                    failure: StepFailure {
                        message: format!(
                            "found the database different: {}",
                            report.problems.join("; ")
                        ),
                        hints: vec!["the columns above are what the database has now".into()],
                    },
                });
            }
        }
        Ok(Some(outcome))
    }

    /// `failure`, with what `diagnosis` finds (nothing added when it finds
    /// nothing or cannot run).
    async fn diagnosed(&mut self, mut failure: StepFailure, diagnosis: &Diagnosis) -> StepFailure {
        let Ok(output) = self.exec_quiet(&diagnosis.command).await else {
            return failure;
        };
        let found: Vec<&str> = output
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if output.exit_code == 0 && !found.is_empty() {
            failure.message = format!(
                "{}\n{}:\n  {}",
                failure.message.trim_end(),
                diagnosis.title,
                found.join("\n  ")
            );
            failure.hints.insert(0, diagnosis.hint.clone());
        }
        failure
    }

    /// Runs a command that takes or confirms the lock, noting when the
    /// shell or the connection was lost under it: the command then runs on
    /// by itself on the host, and may take the lock after the release.
    async fn exec_lock(&mut self, command: &RemoteCommand) -> Result<Output, Stop> {
        self.exec_cleanup(command).await.map_err(|lost| {
            self.lock_unsettled = true;
            Stop::Transport(lost)
        })
    }

    /// Takes and confirms the lock; returns what it took over, if it was
    /// an abandoned one.
    async fn take_lock(&mut self, spec: &LockSpec, step: &str) -> Result<Option<String>, Stop> {
        let started = Instant::now();
        let deadline = self.shared.options.lock_wait.map(|wait| started + wait);
        // A lock mid-way (not yet confirmed) settles within the grace: it is
        // waited for even without --lock-wait, then confirmed or taken over.
        let settle_by = started + Duration::from_secs(lock::UNCONFIRMED_GRACE_SECS + 3);
        let mut announced = false;
        // Released at the end however the run ends, even if a signal
        // abandons the command that takes it (the release removes the lock
        // only if it holds this run's token).
        self.held_lock = Some(spec.clone());
        loop {
            let shared = Arc::clone(&self.shared);
            let owner = &shared.options.lock_owner;
            // Taking and confirming are quick and change the host: like
            // the switch, a signal waits for them, so that the release at
            // the end runs after them and finds the lock they made (run
            // beside an abandoned take, it could look before the note is
            // written and leave the lock behind).
            let acquire = spec.acquire(owner);
            let output = self.exec_lock(&acquire).await?;
            if output.exit_code != 0 {
                return Err(Stop::Step {
                    step: step.to_owned(),
                    failure: spec.failure(&acquire, &output),
                });
            }
            let Some(holder) = lock::holder(&output) else {
                let confirm = spec.confirm(&owner.token);
                let confirmed = self.exec_lock(&confirm).await?;
                if !lock::confirmed(&confirmed) {
                    return Err(Stop::Step {
                        step: step.to_owned(),
                        failure: StepFailure {
                            message: format!(
                                "the deploy lock was taken over before this deploy could confirm it: its confirmation took over {}s, and another deploy counted the lock abandoned",
                                lock::UNCONFIRMED_GRACE_SECS
                            ),
                            hints: vec![
                                "nothing was changed on the host; deploy again once the other deploy ends".into(),
                            ],
                        },
                    });
                }
                if spec.kept {
                    // Held for maintenance: the run ends, the lock stays.
                    self.held_lock = None;
                }
                return Ok(lock::abandoned(&output).map(|old| {
                    format!(
                        "took over a lock that was never confirmed, held by {} (its deploy had given up)",
                        old.describe()
                    )
                }));
            };
            let settling = holder.settling() && Instant::now() < settle_by;
            if !settling && deadline.is_none_or(|d| Instant::now() >= d) {
                return Err(Stop::LockHeld(holder));
            }
            if !announced {
                announced = true;
                self.shared.reporter.report(&Event::LockWaiting {
                    host: self.host().name.clone(),
                    holder: holder.describe(),
                });
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.interrupt.wait_for(|stop| *stop) => return Err(Stop::Interrupted),
            }
        }
    }
}
