//! `--check` and `--start-at`: read-only probes run, everything else is
//! shown with its exact command (and, for a file, its diff), never run;
//! a host that cannot be reached is still planned, what it would report
//! left unknown.

use std::time::Instant;

use super::super::Shared;
use super::super::events::{Event, StepStatus};
use super::HostRun;
use super::exec::Stdout;
use super::stop::Stop;
use crate::steps::{self, Effect, LockOwner, Outcome, Prepared};

/// What `--check` shows a step runs (for the lock, the command that takes it).
pub(super) fn planned_command(prepared: &Prepared, owner: &LockOwner) -> String {
    match &prepared.effect {
        Effect::TakesLock(spec) => spec.acquire(owner).plan_text(),
        _ => prepared.shown(),
    }
}

/// `--check` for a host that cannot be reached: each step that may run is
/// shown with its command, rendered with what the host would register
/// (and the login user) unknown.
pub(super) fn plan_unreachable(shared: &Shared, host_index: usize) {
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
        let name = templates.render_name(&step.name.0, ctx);
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
                Ok(prepared) => (planned_command(&prepared, &shared.options.lock_owner), None),
                Err(e) => (
                    String::new(),
                    Some(format!("cannot be shown without the host: {e}")),
                ),
            };
        report_planned(shared, host_index, index, name, command, note, None);
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
    /// Before `--start-at`: a step's read-only probe runs (so what it
    /// registers is there); nothing else does.
    pub(super) async fn probe_only(
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
        let output = self.exec(probe, Stdout::of(prepared)).await?;
        let mut probed = prepared.outcome(&output).map_err(|failure| Stop::Step {
            step: prepared.name.clone(),
            failure,
        })?;
        probed.changed = false;
        Ok(Some(probed))
    }

    /// `--check`: runs read-only probes, shows everything else.
    pub(super) async fn plan_step(
        &mut self,
        index: usize,
        prepared: &Prepared,
    ) -> Result<Option<Outcome>, Stop> {
        let outcome = match self.probe(prepared).await {
            Err(Stop::Step { failure, .. })
                if (prepared.read_only || prepared.probe_waits) && self.planned_changes =>
            {
                // A read-only step (or a probe that says it may wait) that
                // fails now, after steps that were only shown, is shown
                // too: it may pass once they have run.
                let why = failure.message.lines().next().unwrap_or_default();
                let why = why.trim_end_matches(':');
                self.register_unknown(index);
                self.planned(
                    index,
                    prepared,
                    prepared.shown(),
                    Some(format!(
                        "cannot run yet: the steps shown before it may change what it finds; run now, it says: {why}"
                    )),
                    None,
                );
                return Ok(None);
            }
            outcome => outcome?,
        };
        if prepared.read_only || outcome.as_ref().is_some_and(|o| o.in_place) {
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
            Effect::WritesFiles(writes) => {
                let (mut notes, mut diffs) = (Vec::new(), String::new());
                for write in writes {
                    let read = write.read_current(prepared.command.become_user.clone());
                    let output = self.exec_quiet(&read).await?;
                    let (note, diff) = write.plan_note(&output);
                    notes.push(note);
                    diffs.push_str(&diff.unwrap_or_default());
                }
                (
                    Some(notes.join("; ")),
                    Some(diffs).filter(|d| !d.is_empty()),
                )
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
}
