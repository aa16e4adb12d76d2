//! The errors a command can end with, each with `hint:` lines saying what
//! to do: each layer's own, collected in [`Error`].

mod command;

use crate::inventory::InventoryError;
use crate::plan::PlanError;
use crate::playbook::PlaybookError;
pub use command::CommandError;

/// Why a wptdeploy command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The inventory could not be used.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A playbook could not be used.
    #[error(transparent)]
    Playbook(#[from] PlaybookError),
    /// A command's arguments or situation do not allow it.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A host's variables do not make a plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Bad input, its message already masked ([`Error::masked`]).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do.
        hints: Vec<String>,
    },
    /// One or more hosts failed.
    #[error("{message}")]
    Failed {
        /// Which hosts, and why.
        message: String,
        /// What to do.
        hints: Vec<String>,
        /// The exit status to end with (a one-host `exec`: its command's);
        /// none: 1.
        exit_code: Option<i32>,
    },
    /// Stopped by a signal, a closed output, or a person at a prompt.
    #[error("interrupted{detail}")]
    Interrupted {
        /// What was cleaned up.
        detail: String,
        /// 128 + the signal's number (130 for Ctrl-C or an abort).
        exit_code: i32,
    },
    /// Local I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Lines telling the user what to do.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Error::Inventory(e) => e.hints(),
            Error::Command(e) => e.hints(),
            Error::Plan(e) => e.hints(),
            Error::Usage { hints, .. } | Error::Failed { hints, .. } => hints.clone(),
            Error::Playbook(_) | Error::Interrupted { .. } | Error::Io(_) => Vec::new(),
        }
    }

    /// The process exit code: 1 for a failed deploy, 2 for bad input,
    /// 128 + the signal's number for a run a signal stopped (130 for Ctrl-C,
    /// 143 for SIGTERM, 129 for SIGHUP; 130 for an abort at a prompt).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Failed { exit_code, .. } => exit_code.unwrap_or(1),
            Error::Interrupted { exit_code, .. } => *exit_code,
            _ => 2,
        }
    }

    /// The error with every secret `redactor` knows masked in its message
    /// and hints (an error found while the variables were being read may
    /// quote a value). Its exit code stays the same.
    pub fn masked(self, redactor: &crate::redact::Redactor) -> Error {
        let apply = |hints: &[String]| hints.iter().map(|h| redactor.apply(h)).collect();
        match self {
            Error::Interrupted { detail, exit_code } => Error::Interrupted {
                detail: redactor.apply(&detail),
                exit_code,
            },
            Error::Failed {
                message,
                hints,
                exit_code,
            } => Error::Failed {
                message: redactor.apply(&message),
                hints: apply(&hints),
                exit_code,
            },
            other => {
                let message = other.to_string();
                let hints = other.hints();
                if redactor.apply(&message) == message && apply(&hints) == hints {
                    return other;
                }
                Error::Usage {
                    message: redactor.apply(&message),
                    hints: apply(&hints),
                }
            }
        }
    }
}
