//! Why a host's run stopped, and what the person is told of it.

use crate::steps::{Holder, StepFailure};
use crate::transport::TransportError;

/// Why a host's run stopped.
pub(super) enum Stop {
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
    pub(super) fn message(&self, host: &str, env: &str) -> (String, Vec<String>) {
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
