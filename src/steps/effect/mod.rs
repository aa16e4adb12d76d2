//! What the engine does around a step's command ([`Effect`]), and what
//! each effect carries: the lock to take, the link to switch, the file to
//! send or write, the history log to append to. Kinds return effects; the
//! engine obeys them; nothing here knows a kind.

pub mod history;
pub mod lock;
pub mod process;

use std::path::PathBuf;

/// What the engine does around a step's command. The engine matches on
/// this, never on a kind.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Runs the command; nothing more.
    Runs,
    /// Takes the deploy lock (waiting if asked), released when the run ends.
    TakesLock(lock::LockSpec),
    /// Points the live symlink elsewhere: a later failure switches back.
    Switches(Symlink),
    /// Restarts the app: run again after a switch back.
    Restarts,
    /// The new release is live and healthy: from the moment this step
    /// starts, nothing (this step's own failure included) switches back.
    EndsRollbackWindow,
    /// Sends a local file, read when the step runs, on standard input.
    SendsLocalFile(LocalFile),
    /// Writes a file: `--check` shows the diff against the current one.
    WritesFile(FileWrite),
    /// Writes these files (`template: items:`), each shown as its diff.
    WritesFiles(Vec<FileWrite>),
    /// Runs on this machine with the terminal handed over.
    RunsHere,
    /// Hands this terminal to the command, run on a pty on the host,
    /// until it ends (`shell:`).
    Interactive,
    /// Keeps a log of the run on the host: one record appended when the
    /// run ends, if it changed the host.
    Records(history::HistoryLog),
    /// Shows text; nothing runs and nobody is asked.
    Says {
        /// The text.
        text: String,
    },
    /// Asks the person a yes-or-no question, `details` shown first; no
    /// (or nobody to ask) fails the step, so nothing after it runs.
    Asks {
        /// The question.
        question: String,
        /// What the person must read before answering.
        details: String,
    },
}

/// The live symlink a `switch:` moves.
#[derive(Debug, Clone)]
pub struct Symlink {
    /// Its path.
    pub link: String,
}

/// A local file a step sends.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Its path.
    pub src: PathBuf,
}

/// A file a step writes, for `--check`'s diff.
#[derive(Debug, Clone)]
pub struct FileWrite {
    /// The new content.
    pub content: String,
    /// Where it comes from (a template file, or `inline`).
    pub source: String,
    /// The file it replaces.
    pub current: String,
    /// The lines of `content` that a secret filled (`--check` masks them
    /// on both sides of its diff).
    pub secret_lines: Vec<SecretLine>,
}

/// A line of a rendered file that holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretLine {
    /// Its index, from 0.
    pub index: usize,
    /// Its key (`KEY` of `KEY = value`, `KEY: value`), if it has one: the
    /// host's line with the same key holds the old value.
    pub key: Option<String>,
}
