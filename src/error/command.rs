//! What a command refuses before it contacts any host: bad arguments, a
//! missing terminal, an unconfirmed change. Each says what is wrong, with
//! literals in backticks, and [`CommandError::hints`] what to do.

use std::path::PathBuf;

/// A command's arguments or situation do not allow it to run.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// `rollback` cannot, or will not without being told how.
    #[error("{message}")]
    Rollback {
        /// What it found.
        message: String,
        /// What to do.
        hints: Vec<String>,
    },
    /// `releases --packages SHA` and `diff`: the release asked for is not
    /// there, is not one, or has no recorded set.
    #[error("{message}")]
    Release {
        /// What was found.
        message: String,
        /// What to do.
        hints: Vec<String>,
    },
    /// `shell` without a terminal.
    #[error("`shell` hands this terminal to a shell on the host, and there is no terminal")]
    NoTerminalForShell,
    /// `--rev-id` is not letters, digits and `_`.
    #[error("`{0}` is not a revision id (letters, digits and `_`)")]
    NotARevisionId(String),
    /// `--into` (or `./migrations/versions`) is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// `migration test FILE` is not a migration.
    #[error("{} is not a migration file (no `revision = '...'`)", .0.display())]
    NotAMigration(PathBuf),
    /// `verify --from-migration FILE` changes no table.
    #[error("{} has no schema operations in `upgrade()`", .0.display())]
    NoSchemaOperations(PathBuf),
    /// `verify --expect COLUMN` with several tables.
    #[error("`--expect {item}`: say which table, as `table.{column}`")]
    ExpectWithoutTable {
        /// As given.
        item: String,
        /// Without its `!`.
        column: String,
    },
    /// `verify` without a table.
    #[error("which table? pass `--table NAME` or `--from-migration FILE`")]
    NoTable,
    /// A table or expectation with a comma (the list separator).
    #[error("`{0}` contains a comma")]
    Comma(String),
    /// The deploy playbook takes no lock (`unlock`).
    #[error("{0} has no `lock` step, so there is no lock to remove")]
    NoLockStep(String),
    /// `unlock` found a lock, and there is nobody to confirm its removal.
    #[error("removing a lock needs confirmation, and there is no terminal to ask on")]
    UnlockUnconfirmed,
    /// A one-host command on an environment of several.
    #[error("{command} works on one host, and {env} has {}: {}", hosts.len(), hosts.join(", "))]
    NotOneHost {
        /// The command.
        command: &'static str,
        /// The environment.
        env: String,
        /// Its hosts.
        hosts: Vec<String>,
    },
    /// `--step` or the checklist without a terminal.
    #[error("{asker} asks before each step, and there is no terminal to ask on")]
    NoTerminalToAsk {
        /// `` `--step` `` or `the checklist`.
        asker: &'static str,
        /// How to run it unattended.
        instead: String,
    },
    /// A change to production with nobody to confirm it.
    #[error("a change to production must be confirmed, and there is no terminal to ask on")]
    ProductionUnconfirmed,
    /// The person did not type the environment's name.
    #[error("you did not type `{0}`: nothing was changed")]
    NotConfirmed(String),
    /// `--start-at` names no step.
    #[error("no step `{wanted}` in {playbook}{suggestion}")]
    NoSuchStep {
        /// As given.
        wanted: String,
        /// The playbook.
        playbook: String,
        /// ` (did you mean ...?)`, or nothing.
        suggestion: String,
    },
    /// `-K` without a terminal.
    #[error("`-K` needs a terminal to ask for the password")]
    NoTerminalForPassword,
    /// A password prompt failed.
    #[error("could not read the {what}: {error}")]
    Unreadable {
        /// `password`, `vault password`.
        what: &'static str,
        /// Why.
        error: String,
    },
    /// The environment named is no environment, but close to a command.
    #[error(
        "`{typed}` is neither an environment nor a command (did you mean `wptdeploy {command}`?)"
    )]
    CommandTypo {
        /// As given.
        typed: String,
        /// The command it is close to.
        command: String,
        /// The environments there are.
        known: Vec<String>,
    },
    /// An `ansible_*` variable Ansible does not know.
    #[error("{}: `{}` is not a variable Ansible knows{}", .0.place, .0.name, .0.close.as_ref().map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default())]
    UnknownConnectionVariable(crate::typos::UnknownConnectionVariable),
    /// The repository has no such branch or tag (`git ls-remote` from here).
    #[error("`{reference}` is not a branch or tag of {repo}")]
    UnknownRef {
        /// As given.
        reference: String,
        /// The repository asked.
        repo: String,
        /// Its branches and tags close to it.
        close: Vec<String>,
    },
    /// The cut-over's settings are wrong for a host (`app_server`).
    #[error("{host}: {message}")]
    CutoverSetting {
        /// The host whose variables they are.
        host: String,
        /// What is wrong, and what to set.
        message: String,
    },
    /// `migration lint FILE.py` without an environment to render it on.
    #[error(
        "{} is a migration file: alembic renders its SQL on a host, so name the environment too (`wptdeploy migration lint staging {}`)",
        .0.display(), .0.display()
    )]
    LintNeedsHost(PathBuf),
    /// `migration lint` with two environments.
    #[error("`{0}` is a second environment: `migration lint` reads one (SQL files end in `.sql`)")]
    LintTargets(String),
    /// The vault passwords could not be read.
    #[error("{0}")]
    VaultPassword(String),
    /// `wptdeploy vault` could not do what it was asked.
    #[error("{message}")]
    VaultFile {
        /// What went wrong, naming the file.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// `init` without a terminal, and no flag gives a value it needs.
    #[error("`init` needs {what}, and there is no terminal to ask on")]
    InitNeeds {
        /// What it needs, in words.
        what: &'static str,
        /// The flag that gives it.
        flag: &'static str,
    },
    /// `init --dir DIR` is not a directory.
    #[error("`--dir {}`: not a directory", .0.display())]
    InitNoProject(PathBuf),
    /// `init` would overwrite files.
    #[error("{} already exist{}: nothing was written", .0.join(", "), if .0.len() == 1 { "s" } else { "" })]
    InitWouldOverwrite(Vec<String>),
    /// `init` was given a value it cannot write into an inventory.
    #[error("{what} `{value}`: {why}")]
    InitBadValue {
        /// Which value.
        what: &'static str,
        /// As given.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl CommandError {
    /// Lines telling the user what to do.
    pub fn hints(&self) -> Vec<String> {
        let hint = |text: &str| vec![text.to_owned()];
        match self {
            CommandError::Rollback { hints, .. } | CommandError::Release { hints, .. } => {
                hints.clone()
            }
            CommandError::NoTerminalForShell => {
                hint("`wptdeploy exec ENV -- CMD` runs one command without a terminal")
            }
            CommandError::NotADirectory(_) => {
                hint("run this in your app's checkout, or pass `--into DIR` for the pulled file")
            }
            CommandError::NoTable => hint("e.g. `wptdeploy verify staging --table pull_request`"),
            CommandError::UnlockUnconfirmed => hint("pass `--yes` to remove it without asking"),
            CommandError::NotOneHost { .. } => {
                hint("use an environment (inventory file or group) with just the staging host")
            }
            CommandError::NoTerminalToAsk { instead, .. } => vec![instead.clone()],
            CommandError::ProductionUnconfirmed => {
                hint("pass `--yes` to confirm on the command line")
            }
            CommandError::NoSuchStep { .. } => {
                hint("`--list-steps` shows the steps, by number and name")
            }
            CommandError::CommandTypo { known, .. } => {
                vec![format!("known environments: {}", known.join(", "))]
            }
            CommandError::NoTerminalForPassword => {
                hint("use `--become-password-file FILE` when there is no terminal")
            }
            CommandError::NotARevisionId(_)
            | CommandError::NotAMigration(_)
            | CommandError::NoSchemaOperations(_)
            | CommandError::ExpectWithoutTable { .. }
            | CommandError::Comma(_)
            | CommandError::NoLockStep(_)
            | CommandError::NotConfirmed(_)
            | CommandError::Unreadable { .. }
            | CommandError::VaultPassword(_)
            | CommandError::VaultFile { hint: None, .. }
            | CommandError::LintTargets(_)
            | CommandError::LintNeedsHost(_)
            | CommandError::InitBadValue { .. } => Vec::new(),
            CommandError::CutoverSetting { .. } => {
                hint("nothing was changed: no host was contacted")
            }
            CommandError::InitNeeds { flag, .. } => vec![format!("pass `{flag}`")],
            CommandError::VaultFile {
                hint: Some(hint), ..
            } => vec![hint.clone()],
            CommandError::InitNoProject(_) => {
                hint("run `wptdeploy init` in your app's checkout, or pass `--dir` its path")
            }
            CommandError::InitWouldOverwrite(_) => hint(
                "`wptdeploy init --force` overwrites them; or edit them: docs/variables.md lists every variable",
            ),
            CommandError::UnknownConnectionVariable(_) => hint(
                "an `ansible_*` variable is read by Ansible and wptdeploy only under its own name: a misspelt one would be ignored (a wrong port, user or key)",
            ),
            CommandError::UnknownRef { close, .. } => {
                let mut hints: Vec<String> = match close.as_slice() {
                    [] => Vec::new(),
                    [one] => vec![format!("did you mean `{one}`?")],
                    many => vec![format!(
                        "did you mean {}?",
                        crate::suggest::one_of(
                            &many.iter().map(String::as_str).collect::<Vec<_>>()
                        )
                    )],
                };
                hints.push("nothing was changed: no host was contacted (push the branch first, or pass a commit SHA)".into());
                hints
            }
        }
    }
}
