//! How a host's run ends, however it ends: a failure after the switch
//! switches back (and restarts the previous release), the lock is released,
//! and the summary says what is live and what to do.

use std::time::Instant;

use super::super::events::{Event, HostResult, HostSummary};
use super::HostRun;
use super::stop::Stop;
use crate::steps::effect::history::{HistoryLog, NEVER_FINISHED, RunFacts};

impl HostRun {
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

    /// The run's record, one JSON line, with `result` and `error`.
    pub(super) fn history_line(
        &self,
        log: &HistoryLog,
        result: &str,
        error: Option<&str>,
        ms: u64,
    ) -> String {
        let host = self.host().name.clone();
        let ctx = self.context();
        let shared = &self.shared;
        let audit = &shared.options.audit;
        let facts = RunFacts {
            time: &shared.now,
            host: &host,
            env: &shared.plan.env,
            by: &audit.by,
            git: &audit.git,
            command: &audit.command,
            result,
            error,
            ms,
            process: (result == NEVER_FINISHED).then_some(&shared.options.lock_owner.process),
        };
        log.line(&shared.templates, &ctx, &facts, &shared.plan.secrets)
    }

    /// Appends the run's record to the host's history (under the lock,
    /// which is still held), or only ends the record begun when the run
    /// started if it changed nothing; a failure to write it is a warning.
    async fn record(&mut self, log: &HistoryLog, started: Instant) {
        let command = if self.changed_host {
            let result = serde_json::to_value(self.summary.result)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let line = self.history_line(
                log,
                &result,
                self.summary.error.as_deref(),
                started.elapsed().as_millis() as u64,
            );
            log.append(&line)
        } else {
            log.end()
        };
        let problem = match self.exec_cleanup(&command).await {
            Ok(output) if output.exit_code == 0 => return,
            Ok(output) => output.stderr.trim().to_owned(),
            Err(error) => error.to_string(),
        };
        self.shared.reporter.report(&Event::Warning {
            host: Some(self.host().name.clone()),
            message: format!(
                "could not add this run to the history {}: {problem}",
                log.path
            ),
        });
    }

    /// The release this run checked out, once it is known.
    fn release_sha(&self) -> Option<String> {
        self.registered
            .get("release")
            .and_then(|r| r.get_attr("sha").ok())
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| v.to_string())
    }

    pub(super) async fn finish(
        mut self,
        result: Result<(), Stop>,
        started: Instant,
    ) -> HostSummary {
        let name = self.host().name.clone();
        let env = self.shared.plan.env.clone();
        self.summary.result = if self.shared.options.check {
            HostResult::Planned
        } else if !self.shared.options.deploys {
            HostResult::Done
        } else if self.went_live && !self.app_checked {
            HostResult::DeployedUnchecked
        } else {
            HostResult::Deployed
        };
        // Said once for the run: the summary names each host it applies to.
        if result.is_ok() && self.summary.result == HostResult::DeployedUnchecked {
            self.warn_once(None, UNCHECKED);
        }
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
        if !self.shared.options.check
            && let Some(log) = self.history.take()
        {
            self.record(&log, started).await;
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
            } else if self.lock_unsettled {
                // Unconfirmed, such a lock is taken over by the next deploy
                // after a few seconds; said so, with the way to remove it.
                self.summary.hints.push(format!(
                    "the deploy lock {} on {name} may have been taken just as the shell ended, and never confirmed: the next deploy takes it over after {}s; `wptdeploy unlock {}` removes it now",
                    spec.path,
                    crate::steps::effect::lock::UNCONFIRMED_GRACE_SECS,
                    crate::transport::quote(&env)
                ));
            }
        }
        self.summary.release = self.release_sha();
        self.summary.ms = started.elapsed().as_millis() as u64;
        // A host that ended well keeps its connection for the command's
        // next play; any other closes it.
        if self.summary.succeeded() && !*self.interrupt.borrow() {
            let host = &self.shared.plan.hosts[self.index];
            self.shared.options.connections.keep(host, self.conn).await;
        } else {
            self.conn.close().await;
        }
        self.summary
    }
}

/// What a deploy that nothing checked says, once per host.
const UNCHECKED: &str = "nothing saw the new release work: no health check ran and no answer from it was seen, so it is `deployed (unchecked)`; set `healthcheck_url` (or `healthcheck_command`), or `release_url` (a URL whose answer names the release), or let the app serve its build file under its static folder (`build_info_path`, as wptdash's `static/build.txt`): docs/cutover.md";
