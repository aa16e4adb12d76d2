//! Runs a plan: the hosts in batches (`serial`, one batch by default), the
//! hosts of a batch concurrently (bounded by `--forks`), each over its own
//! single connection, reporting events as it goes. A batch whose failures
//! exceed `max_fail_percentage` (0 unless set) stops the batches after it.

mod connections;
pub mod events;
mod host;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use crate::plan::Plan;
use crate::steps::LockOwner;
use crate::template::Templates;
use crate::transport::SudoAuth;
pub use connections::Connections;
use events::{Event, Gate, HostSummary, Reporter};

/// How to run a plan.
pub struct RunOptions {
    /// What the run does, in words (`deploying main to staging`).
    pub title: String,
    /// Whether it deploys a release.
    pub deploys: bool,
    /// `--check`: run only read-only probes; show the rest.
    pub check: bool,
    /// `--lock-wait`: how long to wait for someone else's deploy lock.
    pub lock_wait: Option<Duration>,
    /// `--forks`: hosts at once.
    pub forks: usize,
    /// The sudo password (`-K`), fed to sudo on standard input.
    pub become_password: Option<String>,
    /// What this run writes into the locks it takes.
    pub lock_owner: LockOwner,
    /// Who answers a `confirm:` step: a person at a terminal (none: such a
    /// step fails, saying what it would have asked).
    pub asker: Option<Arc<dyn events::Asker>>,
    /// `--step`: who decides before each step and after a failure.
    pub gate: Option<Arc<dyn Gate>>,
    /// `--start-at`: steps before this index (0-based) only run their
    /// read-only probes, so later steps still see what they register.
    pub start_at: usize,
    /// Who runs what, for the history the hosts keep (`history:`).
    pub audit: Audit,
    /// Where hosts' connections are kept between the command's plays.
    pub connections: Arc<Connections>,
}

/// Who runs what, for the record a `history:` step appends.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// `user@machine`.
    pub by: String,
    /// The local git identity, `Name <email>` (empty when git has none).
    pub git: String,
    /// The whole command line, secrets masked.
    pub command: String,
}

impl RunOptions {
    /// How sudo authenticates: with the password if one was given, else `-n`.
    pub fn sudo_auth(&self) -> SudoAuth<'_> {
        self.become_password
            .as_deref()
            .map_or(SudoAuth::NonInteractive, SudoAuth::Password)
    }
}

struct Shared {
    plan: Plan,
    templates: Templates,
    options: RunOptions,
    reporter: Arc<dyn Reporter>,
    /// The deploy's timestamp, the same on every host.
    now: String,
    /// The steps' warnings said so far: one said by every host (no entry
    /// point found, a setting to fix) is said once a run.
    warned: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// Runs `plan` and returns one summary per host, in plan order. Setting
/// `interrupt` to true (Ctrl-C) stops every host, which then rolls back a
/// switch it made and releases its lock.
pub async fn run(
    plan: Plan,
    templates: Templates,
    options: RunOptions,
    reporter: Arc<dyn Reporter>,
    interrupt: watch::Receiver<bool>,
) -> Vec<HostSummary> {
    let started = Instant::now();
    reporter.report(&Event::PlayStarted {
        env: plan.env.clone(),
        hosts: plan.hosts.iter().map(|h| h.name.clone()).collect(),
        commit: plan.commit.clone(),
        playbook: plan
            .playbook
            .origin
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        title: options.title.clone(),
        deploys: options.deploys,
        check: options.check,
    });
    let forks = Arc::new(Semaphore::new(options.forks.max(1)));
    let rollout = plan.playbook.rollout.clone();
    let shared = Arc::new(Shared {
        plan,
        templates,
        options,
        reporter: reporter.clone(),
        now: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        warned: std::sync::Mutex::default(),
    });
    let batches = rollout.batches(shared.plan.hosts.len());
    let mut summaries = Vec::new();
    let mut stopped_by: Option<String> = None;
    for (number, batch) in batches.iter().enumerate() {
        if let Some(reason) = &stopped_by {
            for index in batch.clone() {
                let summary = HostSummary::not_started(&shared.plan.hosts[index], reason);
                reporter.report(&Event::HostFinished {
                    host: summary.host.clone(),
                    summary: summary.clone(),
                });
                summaries.push(summary);
            }
            continue;
        }
        if batches.len() > 1 {
            reporter.report(&Event::BatchStarted {
                batch: number + 1,
                batches: batches.len(),
                hosts: shared.plan.hosts[batch.clone()]
                    .iter()
                    .map(|h| h.name.clone())
                    .collect(),
            });
        }
        let done = run_batch(&shared, batch.clone(), &forks, &interrupt).await;
        let failed: Vec<&str> = done
            .iter()
            .filter(|s| !s.succeeded())
            .map(|s| s.host.as_str())
            .collect();
        if *interrupt.borrow() {
            stopped_by = Some("the run was interrupted".into());
        } else if rollout.stops_after(failed.len(), done.len()) {
            stopped_by = Some(format!(
                "batch {} of {} failed on {} (max_fail_percentage {}%)",
                number + 1,
                batches.len(),
                failed.join(", "),
                rollout.max_fail_percentage.unwrap_or(0)
            ));
        }
        summaries.extend(done);
    }
    reporter.report(&Event::PlayFinished {
        ok: summaries.iter().all(HostSummary::succeeded),
        ms: started.elapsed().as_millis() as u64,
    });
    summaries
}

/// Runs the hosts of one batch concurrently (bounded by `forks`) and
/// returns their summaries in host order.
async fn run_batch(
    shared: &Arc<Shared>,
    batch: std::ops::Range<usize>,
    forks: &Arc<Semaphore>,
    interrupt: &watch::Receiver<bool>,
) -> Vec<HostSummary> {
    let tasks: Vec<_> = batch
        .map(|index| {
            let shared = shared.clone();
            let forks = forks.clone();
            let interrupt = interrupt.clone();
            tokio::spawn(async move {
                let _permit = forks.acquire_owned().await.expect("semaphore open");
                let summary = host::run(shared.clone(), index, interrupt).await;
                shared.reporter.report(&Event::HostFinished {
                    host: summary.host.clone(),
                    summary: summary.clone(),
                });
                summary
            })
        })
        .collect();
    let mut summaries = Vec::new();
    for task in tasks {
        summaries.push(task.await.expect("host task panicked"));
    }
    summaries
}
