//! What the engine tells the rest of the program: the [`Event`]s of a run
//! (to a [`Reporter`]), each host's [`HostSummary`], and the [`Gate`] it
//! asks before a step under `--step`. The engine only produces these; the
//! renderers in `report/` draw them.

use serde::{Deserialize, Serialize};

use crate::transport::Stream;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Ran and changed nothing.
    Ok,
    /// Ran and changed the host.
    Changed,
    /// Its `when:` was false.
    Skipped,
    /// Ran and failed.
    Failed,
    /// Shown, not run (`--check`).
    Planned,
}

/// How a host's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostResult {
    /// Every step succeeded, and a release went live.
    Deployed,
    /// Every step succeeded; the run deploys nothing (a read, `setup`,
    /// `unlock`): said `ok`.
    #[serde(rename = "ok")]
    Done,
    /// Every step succeeded, but nothing saw the app work: no health
    /// check, and no answer from the new release.
    DeployedUnchecked,
    /// `--check`: the plan was shown.
    Planned,
    /// A step failed; the live release was not touched.
    Failed,
    /// A step failed after the switch, and the previous release is live again.
    RolledBack,
    /// Stopped by Ctrl-C.
    Interrupted,
    /// The host could not be reached, or stopped answering.
    Unreachable,
    /// Not started: an earlier batch failed (or the run was interrupted).
    NotStarted,
}

/// The end of one host's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSummary {
    /// Inventory name.
    pub host: String,
    /// How it ended.
    pub result: HostResult,
    /// The commit asked for.
    pub commit: String,
    /// The release (full SHA) deployed or planned, when known.
    pub release: Option<String>,
    /// Steps that ran and changed nothing.
    pub ok: usize,
    /// Steps that changed the host.
    pub changed: usize,
    /// Steps skipped by `when:`.
    pub skipped: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps shown, not run (`--check`).
    #[serde(default)]
    pub planned: usize,
    /// Wall time, milliseconds.
    pub ms: u64,
    /// The failure, if any.
    pub error: Option<String>,
    /// What to do about it.
    pub hints: Vec<String>,
    /// What the host's read steps found (`history`, `releases`, `status`),
    /// for the command to show; in `host_finished` under `--output json`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<serde_json::Value>,
}

impl HostSummary {
    /// A host about to run, nothing done yet.
    pub fn new(host: &str, commit: String) -> Self {
        HostSummary {
            host: host.to_owned(),
            result: HostResult::Failed,
            commit,
            release: None,
            ok: 0,
            changed: 0,
            skipped: 0,
            failed: 0,
            planned: 0,
            ms: 0,
            error: None,
            hints: Vec::new(),
            data: Vec::new(),
        }
    }

    /// A host that was never started, and why.
    pub fn not_started(host: &crate::plan::HostPlan, reason: &str) -> Self {
        HostSummary {
            result: HostResult::NotStarted,
            error: Some(format!("not started: {reason}")),
            ..HostSummary::new(&host.name, host.commit.clone())
        }
    }

    /// Whether the host ended as asked (deployed, or planned under `--check`).
    pub fn succeeded(&self) -> bool {
        matches!(
            self.result,
            HostResult::Deployed
                | HostResult::DeployedUnchecked
                | HostResult::Done
                | HostResult::Planned
        )
    }
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A playbook's run over the hosts begins (a command may run more than
    /// one: `rollback` reads, then changes).
    PlayStarted {
        /// Environment.
        env: String,
        /// Hosts, in order.
        hosts: Vec<String>,
        /// Commit asked for.
        commit: String,
        /// The playbook run.
        playbook: String,
        /// What the run does, in words (`deploying main to staging`).
        title: String,
        /// Whether it deploys a release: its hosts end `deployed`, not `ok`.
        deploys: bool,
        /// `--check`.
        check: bool,
    },
    /// A connection is being opened.
    Connecting {
        /// Inventory name.
        host: String,
        /// `user@address:port`.
        target: String,
    },
    /// Connected and logged in.
    Connected {
        /// Inventory name.
        host: String,
        /// Handshake and login time.
        ms: u64,
    },
    /// A step begins.
    StepStarted {
        /// Inventory name.
        host: String,
        /// 1-based.
        index: usize,
        /// Steps in the playbook.
        total: usize,
        /// Rendered name.
        name: String,
    },
    /// A `local:` step's command has the terminal (`true`) or gave it back:
    /// nothing else may draw on the terminal meanwhile.
    TerminalHandedOver {
        /// Inventory name.
        host: String,
        /// Whether the command is running now.
        running: bool,
    },
    /// A line of remote output.
    StepOutput {
        /// Inventory name.
        host: String,
        /// stdout or stderr.
        stream: Stream,
        /// The line.
        line: String,
    },
    /// `--check`: what a step would run.
    StepPlanned {
        /// Inventory name.
        host: String,
        /// 1-based.
        index: usize,
        /// Steps in the playbook.
        total: usize,
        /// Rendered name.
        name: String,
        /// The exact command.
        command: String,
        /// What a read-only probe found out (e.g. the resolved release).
        note: Option<String>,
        /// For a file it would write: a unified diff against the host's file.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        diff: Option<String>,
    },
    /// A step ended.
    StepFinished {
        /// Inventory name.
        host: String,
        /// 1-based.
        index: usize,
        /// Steps in the playbook.
        total: usize,
        /// Rendered name.
        name: String,
        /// How it ended.
        status: StepStatus,
        /// Duration.
        ms: u64,
        /// A short note or the failure.
        note: Option<String>,
    },
    /// Steps that only look were sent to the host together with step
    /// `with`, in one write: their results come back without a round trip
    /// each.
    SentAhead {
        /// Inventory name.
        host: String,
        /// The step they were sent with (1-based).
        with: usize,
        /// The steps sent ahead (1-based).
        steps: Vec<usize>,
    },
    /// The deploy lock is held by someone else; waiting.
    LockWaiting {
        /// Inventory name.
        host: String,
        /// Who holds it.
        holder: String,
    },
    /// The previous release was switched back after a failure.
    RolledBack {
        /// Inventory name.
        host: String,
        /// The release live again.
        to: String,
        /// Whether the restart steps ran again for it.
        restarted: bool,
    },
    /// Columns read from the database (`verify`, `columns:` steps).
    Columns {
        /// Inventory name.
        host: String,
        /// The tables asked about.
        tables: Vec<String>,
        /// Their columns.
        columns: Vec<crate::migrations::columns::Column>,
        /// Differences from what was expected.
        problems: Vec<String>,
    },
    /// Something the user should know.
    Warning {
        /// The host concerned, if one.
        host: Option<String>,
        /// The warning.
        message: String,
    },
    /// A batch of a rolling deploy (`serial`) begins.
    BatchStarted {
        /// 1-based.
        batch: usize,
        /// How many batches.
        batches: usize,
        /// Its hosts.
        hosts: Vec<String>,
    },
    /// A host is done.
    HostFinished {
        /// The host (also in `summary`).
        host: String,
        /// How it went.
        summary: HostSummary,
    },
    /// Every host of the play is done.
    PlayFinished {
        /// All hosts succeeded.
        ok: bool,
        /// Wall time.
        ms: u64,
    },
}

/// Receives events. Implementations must not block the engine for long.
pub trait Reporter: Send + Sync {
    /// Handles one event.
    fn report(&self, event: &Event);
}

/// What to do with the next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run it.
    Run,
    /// Skip it and go on.
    Skip,
    /// Stop here (switching back if the release was switched, releasing the lock).
    Abort,
}

/// What to do after a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Run it again.
    Retry,
    /// Leave it failed and go on with the next step.
    Skip,
    /// Stop here.
    Abort,
}

/// One step, as the person sees it before deciding.
#[derive(Debug, Clone)]
pub struct StepView<'a> {
    /// Inventory name of the host.
    pub host: &'a str,
    /// 1-based.
    pub index: usize,
    /// Steps in the playbook.
    pub total: usize,
    /// Rendered name.
    pub name: &'a str,
    /// It only looks: it changes nothing on the host.
    pub read_only: bool,
    /// The exact command, for "details" (secrets are masked by the caller).
    pub command: &'a str,
}

/// Asks a person a question a step needs answered (`confirm:`);
/// implementations block until they answer.
pub trait Asker: Send + Sync {
    /// Shows `details`, then asks `question` on `host`: true for yes.
    fn confirm(&self, host: &str, question: &str, details: &str) -> bool;
}

/// Asks a person. Implementations block until they answer.
pub trait Gate: Send + Sync {
    /// Before a step runs.
    fn before(&self, step: &StepView<'_>) -> Decision;
    /// After it failed, with what went wrong (including its last lines of output).
    fn after_failure(&self, step: &StepView<'_>, failure: &str) -> AfterFailure;
}
