//! `--step`: a person decides before each step, and after a failure. The
//! engine only asks a [`Gate`]; the terminal prompts live in `report`.

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
    /// The exact command, for "details" (secrets are masked by the caller).
    pub command: &'a str,
}

/// Asks a person. Implementations block until they answer.
pub trait Gate: Send + Sync {
    /// Before a step runs.
    fn before(&self, step: &StepView<'_>) -> Decision;
    /// After it failed, with what went wrong (including its last lines of output).
    fn after_failure(&self, step: &StepView<'_>, failure: &str) -> AfterFailure;
}
