//! One host's run: connect once, run every step over that connection,
//! switch back on a failure after the switch, and always release the lock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Value;
use tokio::sync::watch;

use super::Shared;
use super::events::{AfterFailure, Decision, Event, HostResult, HostSummary, StepStatus, StepView};
use crate::plan::HostPlan;
use crate::steps::lock::{self, Holder};
use crate::steps::{self, Effect, LockSpec, Outcome, Prepared, Ran, StepFailure, Symlink};
use crate::template::Unknown;
use crate::transport::{Connection, Output, RemoteCommand, TransportError};

/// Why a host's run stopped.
enum Stop {
    Transport(TransportError),
    /// The connection was lost while a step ran.
    Unreachable {
        step: String,
        error: TransportError,
    },
    Step {
        step: String,
        failure: StepFailure,
    },
    LockHeld(Holder),
    Interrupted,
    /// The person chose "abort" (`--step`).
    Aborted {
        step: String,
    },
}

impl Stop {
    fn message(&self, host: &str, env: &str) -> (String, Vec<String>) {
        match self {
            Stop::Transport(e) => (e.to_string(), e.hints()),
            Stop::Unreachable { step, error } => (
                format!("unreachable during step `{step}`: {error}"),
                vec![format!(
                    "the step may have finished on {host} or not: check it there, then deploy again (`--limit {host}`)"
                )],
            ),
            Stop::Step { step, failure } => (
                format!("step `{step}` {}", failure.message),
                failure.hints.clone(),
            ),
            Stop::LockHeld(holder) => (
                format!("the deploy lock on {host} is held by {}", holder.describe()),
                vec![
                    "wait for that deploy to finish, or pass `--lock-wait 10m` to wait for it"
                        .into(),
                    format!(
                        "if that deploy is dead: `wptdeploy unlock {}`",
                        crate::transport::quote(env)
                    ),
                ],
            ),
            Stop::Interrupted => ("interrupted".into(), Vec::new()),
            Stop::Aborted { step } => (format!("aborted by you at step `{step}`"), Vec::new()),
        }
    }
}

/// The switch a failure must undo.
struct Switched {
    symlink: Symlink,
    previous: String,
    become_user: Option<String>,
}

struct HostRun {
    shared: Arc<Shared>,
    index: usize,
    conn: Connection,
    interrupt: watch::Receiver<bool>,
    registered: BTreeMap<String, Value>,
    held_lock: Option<LockSpec>,
    switched: Option<Switched>,
    restarts: Vec<RemoteCommand>,
    summary: HostSummary,
    /// `--check`: a step that changes things was shown, not run, so later
    /// read-only steps may find the host not yet as they need it.
    planned_changes: bool,
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
    let connected = tokio::select! {
        c = Connection::open(&host.connect) => c,
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
                // The plan still answers: every step, with what the host
                // would have told left unknown.
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
        switched: None,
        restarts: Vec::new(),
        summary,
        planned_changes: false,
    };
    let result = run.steps().await;
    run.finish(result, started).await
}

/// What `--check` shows a step runs (for the lock, the command that takes it).
fn planned_command(prepared: &Prepared, owner: &lock::LockOwner) -> String {
    match &prepared.effect {
        Effect::TakesLock(spec) => spec.acquire(owner).plan_text(),
        _ => prepared.shown(),
    }
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

/// `--check` for a host that cannot be reached: each step that may run is
/// shown with its command, rendered with what the host would register
/// (and the login user) unknown.
fn plan_unreachable(shared: &Shared, host_index: usize) {
    let host = &shared.plan.hosts[host_index];
    let playbook = &shared.plan.playbook;
    let templates = &shared.templates;
    let offline = host.offline(templates, playbook, Some(&shared.now));
    let ctx = &offline.ctx;
    let login = host
        .connect
        .user
        .clone()
        .unwrap_or_else(crate::transport::local_user);
    let total = playbook.steps.len();
    for (index, step) in playbook.steps.iter().enumerate() {
        let name = templates.render_lenient(&step.name.0, ctx);
        if !offline.may_run(step, templates) {
            shared.reporter.report(&Event::StepFinished {
                host: host.name.clone(),
                index: index + 1,
                total,
                name,
                status: StepStatus::Skipped,
                ms: 0,
                note: None,
            });
            continue;
        }
        let (command, note) =
            match steps::prepare(step, templates, ctx, &login, &shared.plan.secrets) {
                Ok(prepared) => (
                    planned_command(&prepared, &shared.options.lock_owner),
                    "not run: the host is unreachable, so what it would report is unknown"
                        .to_owned(),
                ),
                Err(e) => (
                    String::new(),
                    format!("cannot be shown without the host: {e}"),
                ),
            };
        report_planned(shared, host_index, index, name, command, Some(note), None);
    }
}

/// Reports a step of host `index` shown, not run (`--check`).
fn report_planned(
    shared: &Shared,
    host: usize,
    step: usize,
    name: String,
    command: String,
    note: Option<String>,
    diff: Option<String>,
) {
    shared.reporter.report(&Event::StepPlanned {
        host: shared.plan.hosts[host].name.clone(),
        index: step + 1,
        total: shared.plan.playbook.steps.len(),
        name,
        command,
        note,
        diff,
    });
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
                let go = templates
                    .condition(when, &ctx)
                    .map_err(|e| located(e.message))?;
                if !go {
                    let name = templates.render_lenient(&step.name.0, &ctx);
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
                Mode::Run => self.gated_step(index, &prepared, &mut started).await?,
            };
            let Some(outcome) = outcome else { continue };
            for message in &outcome.warnings {
                self.shared.reporter.report(&Event::Warning {
                    host: Some(self.host().name.clone()),
                    message: message.clone(),
                });
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
        let asks = !matches!(prepared.effect, Effect::Says { .. });
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

    /// Before `--start-at`: a step's read-only probe runs (so what it
    /// registers is there); nothing else does.
    async fn probe_only(
        &mut self,
        index: usize,
        prepared: &Prepared,
        started: Instant,
    ) -> Result<Option<Outcome>, Stop> {
        let register = self.shared.plan.playbook.steps[index].register.clone();
        if let Some(probed) = self.probe(prepared).await?
            && let (Some(name), Some(value)) = (register, probed.register)
        {
            self.registered.insert(name, value);
        }
        self.summary.skipped += 1;
        self.report_step(
            index,
            &prepared.name,
            StepStatus::Skipped,
            started,
            Some("before --start-at".into()),
        );
        Ok(None)
    }

    /// Runs the step's read-only probe, if it has one; what it found
    /// changed nothing, whatever the step itself would do.
    async fn probe(&mut self, prepared: &Prepared) -> Result<Option<Outcome>, Stop> {
        let Some(probe) = &prepared.probe else {
            return Ok(None);
        };
        let output = self.exec(probe).await?;
        let mut probed = prepared.outcome(&output).map_err(|failure| Stop::Step {
            step: prepared.name.clone(),
            failure,
        })?;
        probed.changed = false;
        Ok(Some(probed))
    }

    /// `--check`: runs read-only probes, shows everything else.
    async fn plan_step(
        &mut self,
        index: usize,
        prepared: &Prepared,
    ) -> Result<Option<Outcome>, Stop> {
        let outcome = match self.probe(prepared).await {
            Err(Stop::Step { failure, .. }) if prepared.read_only && self.planned_changes => {
                // A read-only step that fails now, after steps that were
                // only shown, is shown too: it may pass once they have run.
                let why = failure.message.lines().next().unwrap_or_default();
                let why = why.trim_end_matches(':');
                self.register_unknown(index);
                self.planned(
                    index,
                    prepared,
                    prepared.shown(),
                    Some(format!(
                        "cannot run yet, it {why}; the steps shown before it may change that"
                    )),
                    None,
                );
                return Ok(None);
            }
            outcome => outcome?,
        };
        if prepared.read_only {
            return Ok(outcome);
        }
        self.planned_changes = true;
        let command = planned_command(prepared, &self.shared.options.lock_owner);
        let (note, diff) = match &prepared.effect {
            Effect::Says { text } => (Some(text.clone()), None),
            Effect::WritesFile(write) => {
                let read = write.read_current(prepared.command.become_user.clone());
                let output = self.exec_quiet(&read).await?;
                let (note, diff) = write.plan_note(&output);
                (Some(note), diff)
            }
            _ => (outcome.as_ref().and_then(|o| o.note.clone()), None),
        };
        self.planned(index, prepared, command, note, diff);
        match (
            outcome.and_then(|o| o.register),
            &self.shared.plan.playbook.steps[index].register,
        ) {
            (Some(value), Some(name)) => {
                self.registered.insert(name.clone(), value);
            }
            _ => self.register_unknown(index),
        }
        Ok(None)
    }

    /// Reports a step shown, not run.
    fn planned(
        &mut self,
        index: usize,
        prepared: &Prepared,
        command: String,
        note: Option<String>,
        diff: Option<String>,
    ) {
        self.summary.planned += 1;
        report_planned(
            &self.shared,
            self.index,
            index,
            prepared.name.clone(),
            command,
            note,
            diff,
        );
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
        let outcome = match &prepared.effect {
            Effect::TakesLock(spec) => {
                self.take_lock(spec).await?;
                Ok(Outcome {
                    changed: true,
                    ..Outcome::default()
                })
            }
            Effect::Says { .. } => prepared.outcome(&Output::default()),
            Effect::RunsHere => prepared.outcome(&self.exec_local(&prepared.command).await?),
            Effect::SendsLocalFile(file) => match file.read() {
                Ok((bytes, stdin)) => {
                    let command = RemoteCommand {
                        stdin: Some(stdin),
                        ..prepared.command.clone()
                    };
                    let output = self.exec(&command).await?;
                    read(&output, &command, Some(&bytes))
                }
                Err(failure) => Err(failure),
            },
            Effect::Downloads { src } => {
                let output = self.exec(&prepared.command).await?;
                let bytes = if output.exit_code == 0 {
                    Some(self.conn.download(src).await.map_err(Stop::Transport)?)
                } else {
                    None
                };
                read(&output, &prepared.command, bytes.as_deref())
            }
            // The switch is one atomic rename: a signal waits for it, so
            // that what it did is known. What it replaces is read first and
            // kept, so that it is switched back to even if the switch's own
            // answer is lost (a killed shell, a dead network).
            Effect::Switches(symlink) => {
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
            | Effect::WritesFile(_) => prepared.outcome(&self.exec(&prepared.command).await?),
        }
        .map_err(|failure| Stop::Step {
            step: prepared.name.clone(),
            failure,
        });
        if matches!(prepared.effect, Effect::Restarts) && self.switched.is_some() {
            self.restarts.push(prepared.command.clone());
        }
        let outcome = outcome?;
        match &prepared.effect {
            // The new release is live and healthy: the deploy is done, and
            // what follows (a migration generated in it) no longer
            // switches back when it fails or is aborted.
            Effect::EndsRollbackWindow => {
                self.switched = None;
                self.restarts.clear();
            }
            Effect::Switches(_) if !outcome.changed => self.switched = None,
            _ => {}
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

    async fn take_lock(&mut self, spec: &LockSpec) -> Result<(), Stop> {
        let deadline = self
            .shared
            .options
            .lock_wait
            .map(|wait| Instant::now() + wait);
        let mut announced = false;
        // Released at the end however the run ends, even if a signal
        // abandons the command that takes it (the release removes the lock
        // only if it holds this run's token).
        self.held_lock = Some(spec.clone());
        loop {
            let acquire = spec.acquire(&self.shared.options.lock_owner);
            let output = self.exec(&acquire).await?;
            if output.exit_code != 0 {
                return Err(Stop::Step {
                    step: "take the deploy lock".into(),
                    failure: spec.failure(&acquire, &output),
                });
            }
            let Some(holder) = lock::holder(&output) else {
                return Ok(());
            };
            if deadline.is_none_or(|d| Instant::now() >= d) {
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

    /// Runs a command, streaming its output as events; Ctrl-C abandons it.
    async fn exec(&mut self, command: &RemoteCommand) -> Result<Output, Stop> {
        let reporter = self.shared.reporter.clone();
        let host = self.host().name.clone();
        let shared = self.shared.clone();
        let auth = shared.options.sudo_auth();
        let mut on_line = |stream, line: &str| {
            reporter.report(&Event::StepOutput {
                host: host.clone(),
                stream,
                line: line.to_owned(),
            });
        };
        let mut interrupt = self.interrupt.clone();
        tokio::select! {
            result = self.conn.run(command, auth, &mut on_line) => result.map_err(Stop::Transport),
            _ = interrupt.wait_for(|stop| *stop) => Err(Stop::Interrupted),
        }
    }

    /// Runs a command without streaming its output (what it prints may be
    /// a secret file's content); Ctrl-C abandons it.
    async fn exec_quiet(&mut self, command: &RemoteCommand) -> Result<Output, Stop> {
        let shared = self.shared.clone();
        let auth = shared.options.sudo_auth();
        let mut interrupt = self.interrupt.clone();
        let mut silent = |_, _: &str| {};
        tokio::select! {
            result = self.conn.run(command, auth, &mut silent) => result.map_err(Stop::Transport),
            _ = interrupt.wait_for(|stop| *stop) => Err(Stop::Interrupted),
        }
    }

    /// Runs a `local:` command on this machine, the terminal handed over to
    /// it meanwhile; Ctrl-C abandons it.
    async fn exec_local(&mut self, command: &RemoteCommand) -> Result<Output, Stop> {
        let handed_over = |running| Event::TerminalHandedOver {
            host: self.host().name.clone(),
            running,
        };
        self.shared.reporter.report(&handed_over(true));
        let mut interrupt = self.interrupt.clone();
        let output = tokio::select! {
            output = crate::transport::local::run(command) => Ok(output),
            _ = interrupt.wait_for(|stop| *stop) => Err(Stop::Interrupted),
        };
        self.shared.reporter.report(&handed_over(false));
        output
    }

    /// Runs a clean-up command even after Ctrl-C (which it must outlive).
    async fn exec_cleanup(&mut self, command: &RemoteCommand) -> Result<Output, TransportError> {
        let shared = self.shared.clone();
        self.conn
            .run(command, shared.options.sudo_auth(), &mut |_, _| {})
            .await
    }

    /// Switches back to the previous release and restarts it again;
    /// returns the release live again and whether it was restarted.
    async fn roll_back(&mut self) -> Result<Option<(String, bool)>, String> {
        let Some(switched) = self.switched.take() else {
            return Ok(None);
        };
        if switched.previous.is_empty() {
            return Err("this was the first release, so there is nothing to switch back to".into());
        }
        let command = switched
            .symlink
            .point_at(&switched.previous, switched.become_user);
        let output = self
            .exec_cleanup(&command)
            .await
            .map_err(|e| e.to_string())?;
        if output.exit_code != 0 {
            return Err(format!("switching back failed: {}", output.stderr.trim()));
        }
        for restart in self.restarts.clone() {
            let output = self
                .exec_cleanup(&restart)
                .await
                .map_err(|e| e.to_string())?;
            if output.exit_code != 0 {
                return Err(format!(
                    "switched back, but the restart failed: {}",
                    output.stderr.trim()
                ));
            }
        }
        Ok(Some((switched.previous, !self.restarts.is_empty())))
    }

    /// The release this run checked out, once it is known.
    fn release_sha(&self) -> Option<String> {
        self.registered
            .get("release")
            .and_then(|r| r.get_attr("sha").ok())
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| v.to_string())
    }

    async fn finish(mut self, result: Result<(), Stop>, started: Instant) -> HostSummary {
        let name = self.host().name.clone();
        let env = self.shared.plan.env.clone();
        self.summary.result = if self.shared.options.check {
            HostResult::Planned
        } else {
            HostResult::Deployed
        };
        if let Err(stop) = &result {
            let (message, hints) = stop.message(&name, &env);
            self.summary.error = Some(message);
            self.summary.hints = hints;
            self.summary.result = match stop {
                Stop::Interrupted | Stop::Aborted { .. } => HostResult::Interrupted,
                Stop::Transport(_) | Stop::Unreachable { .. } => HostResult::Unreachable,
                _ => HostResult::Failed,
            };
            let switched = self
                .switched
                .as_ref()
                .map(|s| (s.symlink.link.clone(), s.previous.clone()));
            match self.roll_back().await {
                Ok(Some((to, restarted))) => {
                    if !matches!(stop, Stop::Interrupted | Stop::Aborted { .. }) {
                        self.summary.result = HostResult::RolledBack;
                    }
                    self.shared.reporter.report(&Event::RolledBack {
                        host: name.clone(),
                        to,
                        restarted,
                    });
                }
                Ok(None) => {}
                Err(problem) => {
                    self.shared.reporter.report(&Event::Warning {
                        host: Some(name.clone()),
                        message: format!("could not roll back: {problem}"),
                    });
                    // The final error must say what is live, and how to undo it.
                    let (link, previous) = switched.unwrap_or_default();
                    let new = self
                        .release_sha()
                        .unwrap_or_else(|| "the new release".into());
                    let message = self.summary.error.take().unwrap_or_default();
                    let (first, rest) = message.split_once('\n').unwrap_or((&message, ""));
                    let rest = if rest.is_empty() {
                        String::new()
                    } else {
                        format!("\n{rest}")
                    };
                    self.summary.error = Some(format!(
                        "{first}; {link} may still point at {new}, which did not pass its checks (could not switch back: {problem}){rest}"
                    ));
                    if !previous.is_empty() {
                        let sha = previous.rsplit('/').next().unwrap_or(&previous);
                        self.summary.hints.insert(
                            0,
                            format!(
                                "once {name} answers, `wptdeploy {} --commit {sha} --limit {}` switches it back",
                                crate::transport::quote(&env),
                                crate::transport::quote(&name)
                            ),
                        );
                    }
                }
            }
        }
        if let Some(spec) = self.held_lock.take() {
            let released = self
                .exec_cleanup(&spec.release(&self.shared.options.lock_owner.token))
                .await;
            if !released.is_ok_and(|o| o.exit_code == 0) {
                self.summary.hints.push(format!(
                    "the deploy lock {} on {name} is still held: `wptdeploy unlock {}` removes it",
                    spec.path,
                    crate::transport::quote(&env)
                ));
                self.shared.reporter.report(&Event::Warning {
                    host: Some(name.clone()),
                    message: format!(
                        "could not release the deploy lock {}; `wptdeploy unlock {}` removes it",
                        spec.path,
                        crate::transport::quote(&env)
                    ),
                });
            }
        }
        self.summary.release = self.release_sha();
        self.summary.ms = started.elapsed().as_millis() as u64;
        self.conn.close().await;
        self.summary
    }
}
