//! One file per command: each turns its validated arguments into a
//! [`session::Session`] (a plan) that the one engine runs. This file
//! dispatches and holds what every command shares: the vault, the sudo
//! password, the redactor that masks secrets in the final error.

mod promotion;
mod reading;
mod session;
mod state;
pub mod vars;

use crate::cli::{
    ChecklistArgs, CompletionsArgs, DeployArgs, DiffArgs, EnvArgs, ExecArgs, HistoryArgs, HoldArgs,
    InitArgs, LogsArgs, ManArgs, MigrationArgs, ReleasesArgs, RollbackArgs, SetupArgs, ShellArgs,
    UnlockArgs, VaultArgs, VerifyArgs,
};
use crate::error::{CommandError, Error};
use crate::inventory::Sourced;
use crate::redact::Redactor;
use crate::settings::{BecomePassword, Settings};

/// The commands besides deploying: each entry's doc comment is its
/// `--help`, its variant its name, and what follows the arrow runs it, an
/// `async fn(Args, &mut Context) -> Result<(), Error>`. `=> mod NAME` is a
/// command of its own file, `commands/NAME.rs`, whose `run` runs it; a
/// path names a function of a file several commands share. Adding a
/// command is its file, its entry here, its playbook and its docs
/// (docs/architecture.md).
macro_rules! registry {
    (@read [$($done:tt)*] $(#[$doc:meta])* $variant:ident($args:ty) => mod $module:ident, $($rest:tt)*) => {
        mod $module;
        registry!(@read [$($done)* $(#[$doc])* $variant($args) => $module::run,] $($rest)*);
    };
    (@read [$($done:tt)*] $(#[$doc:meta])* $variant:ident($args:ty) => $handler:path, $($rest:tt)*) => {
        registry!(@read [$($done)* $(#[$doc])* $variant($args) => $handler,] $($rest)*);
    };
    (@read [$( $(#[$doc:meta])* $variant:ident($args:ty) => $handler:path, )*]) => {
        /// Commands besides deploying.
        #[derive(Debug, clap::Subcommand)]
        pub enum Command {
            $( $(#[$doc])* $variant($args), )*
        }

        impl Command {
            /// Runs the command.
            async fn run(self, cx: &mut Context<'_>) -> Result<(), Error> {
                match self {
                    $( Command::$variant(args) => $handler(args, cx).await, )*
                }
            }
        }
    };
    ($($entries:tt)*) => {
        registry!(@read [] $($entries)*);
    };
}

registry! {
    /// Deploy a ref to ENV: the explicit form of `wptdeploy ENV`.
    Deploy(DeployArgs) => mod deploy,
    /// Bring each host of ENV to what a deploy needs, as root: packages, the app user, base_path and the shared paths, PostgreSQL's role and database, the app server's unit or vassal, nginx's site; safe to run again (`--check` shows what is missing).
    Setup(SetupArgs) => mod setup,
    /// Show who holds the deploy lock of ENV, and remove it.
    Unlock(UnlockArgs) => lock::unlock,
    /// Hold the deploy lock of ENV for maintenance (`lock ENV -m WHY`), or show who holds it (`lock status ENV`).
    Lock(HoldArgs) => mod lock,
    /// Run a command on each host, as the app user, in the live release with its virtualenv active: `wptdeploy exec ENV -- CMD ARGS...`.
    Exec(ExecArgs) => mod exec,
    /// Each host of ENV at a glance: live and previous release, lock holder, database against the live release, free disk.
    Status(EnvArgs) => releases::status,
    /// The releases on the hosts of ENV, newest first: ref, deployed at and by, the schema each expects, the set of packages, live/previous/bad, size (`--packages SHA` lists a release's set).
    Releases(ReleasesArgs) => mod releases,
    /// What differs between two environments' live releases (`diff staging prod`) or two releases of one (`diff ENV SHA1 SHA2`): commits, packages, schema and migrations, config keys.
    Diff(DiffArgs) => mod diff,
    /// The runs that changed the hosts of ENV, newest first (each host keeps its own record).
    History(HistoryArgs) => releases::history,
    /// An interactive shell on one host of ENV, as the app user, in the live release, with its virtualenv active.
    Shell(ShellArgs) => exec::shell,
    /// The app's logs from every host of ENV, each line prefixed by its host (`-f` follows them until Ctrl-C).
    Logs(LogsArgs) => exec::logs,
    /// Put the previous good release of ENV back (or `--to` one), saying what the database needs; refused when its changes would break that release's code, unless `--downgrade` or `--restore`.
    Rollback(RollbackArgs) => mod rollback,
    /// Show the columns of tables as the database has them (the checklist's step 8).
    Verify(VerifyArgs) => mod verify,
    /// Show the config file a deploy writes into each host's release (`config_path`), rendered from its template, secrets masked; nothing changes.
    Config(EnvArgs) => mod config,
    /// The migration checklist, step by step: deploy a branch, generate its migration, edit, test, verify, commit, PR, production.
    Checklist(ChecklistArgs) => mod checklist,
    /// Database migrations.
    Migration(MigrationArgs) => mod migration,
    /// Set up a project for wptdeploy: detect the app, ask for (or take) the servers, write inventory/staging, inventory/production and inventory/group_vars/all.yml.
    Init(Box<InitArgs>) => mod init,
    /// Print a completion script for SHELL (`wptdeploy completions bash > /etc/bash_completion.d/wptdeploy`).
    Completions(CompletionsArgs) => mod completions,
    /// Print the man page (roff: `wptdeploy man | man -l -`).
    Man(ManArgs) => mod man,
    /// ansible-vault files without Ansible: create, edit, view, encrypt, decrypt, encrypt-string, rekey (formats 1.1 and 1.2).
    Vault(VaultArgs) => mod vault,
}

/// The command line: the options, and the commands of [`registry!`].
pub type Cli = crate::cli::Cli<Command>;

/// The command line as clap knows it (for completions, the man page and
/// the names of the commands).
pub fn clap_command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// What every command works with.
pub struct Context<'a> {
    /// The validated options.
    pub settings: &'a Settings,
    /// Masks the secrets known so far (all of them once a plan is loaded).
    pub redactor: Redactor,
    /// Each host's connection, kept between the command's plays.
    pub connections: std::sync::Arc<crate::engine::Connections>,
    /// Who was told this run started changing an environment, to be told how it ended.
    pub notifier: Option<crate::notify::Notifier>,
    /// Each host's last summary across the command's plays, secrets masked.
    pub finished: Vec<crate::report::HostSummary>,
    /// The sudo password once asked (`-K`), for the command's later plays.
    pub asked_password: Option<String>,
}

/// Runs the command and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let started = std::time::Instant::now();
    let json = cli.common.output == crate::cli::OutputFormat::Json;
    let palette = crate::report::style::Palette::choose(cli.common.color);
    let command = cli.name.clone();
    if json {
        crate::printer::json(&crate::report::run::run_started(&command));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut redactor = Redactor::default();
    let mut notifier = None;
    let mut finished = Vec::new();
    let result = runtime.block_on(async {
        let settings = Settings::from_args(&cli.common, palette)?;
        let mut cx = Context {
            settings: &settings,
            redactor: Redactor::default(),
            connections: std::sync::Arc::default(),
            notifier: None,
            finished: Vec::new(),
            asked_password: None,
        };
        let result = match cli.command {
            Some(command) => command.run(&mut cx).await,
            None => deploy::run(cli.deploy, &mut cx).await,
        };
        redactor = cx.redactor;
        notifier = cx.notifier;
        finished = cx.finished;
        cx.connections.close_all().await;
        result
    });
    let (code, error, hints) = match &result {
        Ok(()) => (0, None, Vec::new()),
        Err(error) => {
            let message = redactor.apply(&error.to_string());
            let hints: Vec<String> = error.hints().iter().map(|h| redactor.apply(h)).collect();
            crate::printer::error(palette, &message, &hints);
            (error.exit_code(), Some(message), hints)
        }
    };
    let ending = crate::report::run::Ending {
        exit_code: code,
        ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
        hints,
        hosts: finished,
    };
    if let Some(notifier) = notifier {
        for warning in runtime.block_on(notifier.finished(&ending, &ending.hosts)) {
            crate::printer::warning(palette, json, &redactor.apply(&warning));
        }
    }
    // Everything the run does is awaited above; what may still be blocked
    // is a read of this terminal (`shell`'s), which must not keep the
    // process alive until a key is pressed.
    runtime.shutdown_background();
    if json {
        crate::printer::json(&crate::report::run::run_finished(&ending));
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        crate::printer::github_actions(&command, &ending);
    }
    code
}

impl Context<'_> {
    /// Keeps each of `summaries` (masked) as its host's last.
    fn record_finished(&mut self, summaries: &[crate::report::HostSummary]) {
        for summary in summaries {
            self.finished.retain(|s| s.host != summary.host);
            self.finished.push(crate::report::HostSummary {
                data: Vec::new(),
                ..summary.clone()
            });
        }
    }

    /// `-e`: the variables a command starts from, its own set over them.
    fn extra_vars(&self) -> Sourced {
        self.settings.extra.clone()
    }

    /// The sudo password for `become`: given, or asked once on the terminal (`-K`).
    fn become_password(&mut self) -> Result<Option<String>, Error> {
        match &self.settings.become_password {
            BecomePassword::None => Ok(None),
            BecomePassword::Given(password) => Ok(Some(password.clone())),
            BecomePassword::Ask if self.asked_password.is_some() => Ok(self.asked_password.clone()),
            BecomePassword::Ask => {
                let password = dialoguer::Password::new()
                    .with_prompt("sudo password for become")
                    .interact()
                    .map_err(|e| CommandError::Unreadable {
                        what: "password",
                        error: e.to_string(),
                    })?;
                self.asked_password = Some(password.clone());
                Ok(Some(password))
            }
        }
    }
}
